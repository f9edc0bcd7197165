#!/usr/bin/env bash
# Print the index a coordinate-sorted BAM gets: "bai", or "csi" when a reference is longer than BAI can
# address (2^29; barley, wheat, axolotl, ...):   bam_index_type.sh DATA.bam MAX_BAI_POSITION
set -euo pipefail
longest=$(samtools view -H "$1" | awk -F '\t' '
  /^@SQ/ { for (i = 2; i <= NF; i++) if ($i ~ /^LN:/ && substr($i, 4) + 0 > m) m = substr($i, 4) + 0 }
  END { printf "%.0f", m + 0 }')
if [ "$longest" -gt "$2" ]; then echo csi; else echo bai; fi
