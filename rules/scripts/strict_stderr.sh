#!/usr/bin/env bash
# Run a tool that may warn about lost data and still exit 0, and make such warnings fatal:
#   strict_stderr.sh "STAGE: what it means" TOOL ARGS...
# The tool's stderr is copied to ours (the rule's log). The stage fails when the tool exits non-zero, or when
# it printed an htslib error ([E::...]), a missing BGZF EOF marker, a truncation or a parse error: samtools
# sort warns "EOF marker is absent" on a truncated BAM and exits 0 with part of the reads; tabix prints
# "[E::get_intv] Failed to parse" and exits 0 with the line left out of its index.
set -uo pipefail
meaning=$1
shift
err=$(mktemp "${TMPDIR:-/tmp}/trackprep-stderr.XXXXXX")
trap 'rm -f "$err"' EXIT
"$@" 2> "$err"
status=$?
cat "$err" >&2
lost=$(grep -E -i -m 1 '\[E::|EOF marker is absent|truncated|parse error' "$err")
if [ -n "$lost" ]; then
    echo "$meaning: $lost" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "$meaning: $1 exited with status $status" >&2
fi
exit "$status"
