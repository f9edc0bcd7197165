#!/usr/bin/env bash
# Copies the pinned front-end libraries' built files, with their licences, into webapp/static/vendor/.
# The versions are fixed by package.json + package-lock.json (npm ci); the copies are committed, so a fresh clone
# and `pip install` give a working UI offline. Run after changing package.json: bash webapp/ui_src/vendor.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vendor="$here/../static/vendor"
cd "$here"
npm ci --ignore-scripts --no-audit --no-fund
rm -rf "$vendor/igv"
mkdir -p "$vendor/igv"
cp node_modules/igv/dist/igv.esm.min.js node_modules/igv/LICENSE "$vendor/igv/"
version=$(node -p 'require("./node_modules/igv/package.json").version')
echo "igv $version from the npm registry (package-lock.json); file: dist/igv.esm.min.js" > "$vendor/igv/VERSION"
echo "vendored igv $version into $vendor/igv" >&2
