# Validate a gene BED for the SSR gene stage and keep its first 4 columns (genomeID start end gene).
# Fails with the line number and reason on: fewer than 4 columns, non-integer or negative coordinates,
# end before start. Blank, "#", "track" and "browser" lines are skipped as bedtools does.
BEGIN { FS = OFS = "\t" }
/^[[:space:]]*$/ || /^#/ || /^track([ \t]|$)/ || /^browser([ \t]|$)/ { next }
{
    if (NF < 4) { printf "gene BED line %d: %d column(s); genomeID, start, end and gene are needed\n", NR, NF > "/dev/stderr"; exit 3 }
    if ($2 !~ /^[0-9]+$/ || $3 !~ /^[0-9]+$/) { printf "gene BED line %d: start and end must be non-negative integers\n", NR > "/dev/stderr"; exit 3 }
    if ($3 + 0 < $2 + 0) { printf "gene BED line %d: end %s is before start %s\n", NR, $3, $2 > "/dev/stderr"; exit 3 }
    print $1, $2, $3, $4
}
