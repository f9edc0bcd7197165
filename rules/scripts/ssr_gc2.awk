# SSR stage GC2, after `bedtools intersect -wa -wb`: append ssr_position to each SSR-gene row.
#   intersect_start: the SSR starts before the gene; intersect_stop: it ends after the gene; IN otherwise.
# -v ncol=<number of SSR-table columns>: the gene's start and end follow them (genomeID2, start2, end2, gene).
BEGIN { FS = OFS = "\t" }
{
    if ($2 + 0 < $(ncol + 2) + 0) position = "intersect_start"
    else if ($3 + 0 > $(ncol + 3) + 0) position = "intersect_stop"
    else position = "IN"
    print $0, position
}
