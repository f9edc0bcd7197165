# SSR stage GC2, after `bedtools intersect -loj` of the SSR table (-a) with the 4-column gene BED (-b):
#   a row with a gene gets ssr_position appended and goes to stdout (the `-wa -wb` rows, in their order):
#   intersect_start: the SSR starts before the gene; intersect_stop: it ends after the gene; IN otherwise.
#   a row without one (bedtools' null gene ". -1 -1 .") goes, without those 4 fields, to the file named by
#   -v non_gene (the `-v` rows, in their order).
# -v ncol=<number of SSR-table columns>: the gene's start and end follow them (genomeID2, start2, end2, gene).
BEGIN { FS = OFS = "\t" }
$(NF - 2) == "-1" && $(NF - 1) == "-1" {
    line = $0
    sub(/\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*$/, "", line)
    print line > non_gene
    next
}
{
    if ($2 + 0 < $(ncol + 2) + 0) position = "intersect_start"
    else if ($3 + 0 > $(ncol + 3) + 0) position = "intersect_stop"
    else position = "IN"
    print $0, position
}
