#!/usr/bin/env bash
# Copies the pinned front-end libraries' built files, with their licences, into webapp/static/vendor/.
# The versions are fixed by package.json + package-lock.json (npm ci); the copies are committed, so a fresh clone
# and `pip install` give a working UI offline. Run after changing package.json: bash webapp/ui_src/vendor.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vendor="$here/../static/vendor"
cd "$here"
npm ci --ignore-scripts --no-audit --no-fund

# vendor <package> <dir> <file in the package>[:<name to copy it as>]... -- <licence files>...
vendor() {
  local package=$1 dir=$2; shift 2
  local files=() licences=()
  while (($#)) && [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  licences=("$@")
  rm -rf "${vendor:?}/$dir"
  mkdir -p "$vendor/$dir"
  local listed=()
  for spec in "${files[@]}"; do
    local from=${spec%%:*} to=${spec#*:}
    [ "$spec" = "$from" ] && to=$(basename "$from")
    cp "node_modules/$package/$from" "$vendor/$dir/$to"
    listed+=("$from")
  done
  for licence in "${licences[@]}"; do cp "node_modules/$package/$licence" "$vendor/$dir/"; done
  local version
  version=$(node -p "require('./node_modules/$package/package.json').version")
  echo "$package $version from the npm registry (package-lock.json); file(s): ${listed[*]}" > "$vendor/$dir/VERSION"
  echo "vendored $package $version into $vendor/$dir" >&2
}

vendor igv igv dist/igv.esm.min.js -- LICENSE
# Arrow JS: the self-contained UMD build (a classic <script> defines window.Arrow)
vendor apache-arrow arrow Arrow.es2015.min.js -- LICENSE.txt NOTICE.txt
# ECharts: the ES module build, named .js so every server sends it as JavaScript
vendor echarts echarts dist/echarts.esm.min.mjs:echarts.esm.min.js -- LICENSE NOTICE
