# Validates genomic text records while they stream, splitting header from records.
#   awk -v fmt=vcf|gff3|gtf|bed|narrowpeak|broadpeak -v header=FILE [-v span=FILE] -f validate_records.awk
# With span=FILE, the largest record end and the largest declared sequence length (VCF ##contig length,
# GFF ##sequence-region end) are written there at the end: past 2^29 - 1 the artifact needs a CSI index.
# Header and comment lines go to FILE (BED track/browser lines kept as comments, so tabix never sees them as
# records); records go to stdout. The first bad record stops the stream with its line number on stderr and exit 1:
# tabix alone only warns and then builds an index that answers wrong.
BEGIN {
    FS = "\t"
    printf "" > header
    bad = 0
    fasta = 0
    if (fmt !~ /^(vcf|gff3|gtf|bed|narrowpeak|broadpeak)$/) { fail("unknown format " fmt) }
    is_gff = (fmt == "gff3" || fmt == "gtf")
    is_bed = (fmt == "bed" || fmt == "narrowpeak" || fmt == "broadpeak")
    if (fmt == "gff3") wrote_version = 0
}

function fail(msg) {
    printf "%s line %d: %s\n", fmt, NR, msg > "/dev/stderr"
    bad = 1
    exit 1
}

function is_int(s) { return s ~ /^-?[0-9]+$/ }

function reach(n) { if (n + 0 > max_end) max_end = n + 0 }

function declared(n) { if (n + 0 > max_length) max_length = n + 0 }

{ sub(/\r$/, "") }

fasta { next }                      # GFF3 ##FASTA section: sequences, not features
/^[ \t]*$/ { next }                 # blank lines carry nothing

/^#/ {
    if (is_gff && $0 ~ /^##FASTA/) { fasta = 1; next }
    if (is_gff && $0 ~ /^###[ \t]*$/) next      # GFF3 "forward references resolved": meaningless once sorted
    if (fmt == "gff3" && !wrote_version) {
        if ($0 !~ /^##gff-version/) print "##gff-version 3" > header
        wrote_version = 1
    }
    if (fmt == "vcf" && $0 ~ /^#CHROM\t/) { chrom_line = 1; header_columns = NF }
    if (fmt == "vcf" && $0 ~ /^##contig=<.*[<,]length=[0-9]+/) {
        match($0, /[<,]length=[0-9]+/)
        declared(substr($0, RSTART + 8, RLENGTH - 8))
    }
    if (is_gff && $0 ~ /^##sequence-region[ \t]/) {
        n = split($0, region, /[ \t]+/)
        if (n >= 4 && is_int(region[4])) declared(region[4])
    }
    print > header
    next
}

is_bed && /^(track|browser)([ \t]|$)/ { print "#" $0 > header; next }

fmt == "vcf" {
    if (!chrom_line) fail("record before the #CHROM header line: not a VCF, or its header is missing")
    if (NF < 8) fail("expected at least 8 tab-separated columns, found " NF)
    # htslib (bcftools, pysam, igv.js' readers alike) refuses a record whose genotype columns do not match the
    # samples of the #CHROM line: the artifact would open but its records could not be read
    reach($2 + length($4) - 1)
    if (match($8, /(^|;)END=[0-9]+/)) reach(substr($8, RSTART + (substr($8, RSTART, 1) == ";") + 4))
    if (NF != header_columns && !(header_columns == 9 && NF == 8))
        fail(NF " tab-separated columns, but the #CHROM line names " header_columns " (" \
             (header_columns > 9 ? header_columns - 9 : 0) " samples)")
    if ($2 !~ /^[0-9]+$/) fail("POS '" $2 "' is not a non-negative integer")
    print
    next
}

is_gff {
    if (NF != 9) fail("expected 9 tab-separated columns, found " NF)
    if (!is_int($4) || !is_int($5)) fail("start '" $4 "' or end '" $5 "' is not an integer")
    if ($4 + 0 < 1) fail("start " $4 " < 1 (GFF coordinates are 1-based)")
    if ($5 + 0 < $4 + 0) fail("end " $5 " < start " $4)
    reach($5)
    if (fmt == "gff3" && !wrote_version) { print "##gff-version 3" > header; wrote_version = 1 }
    print
    next
}

is_bed {
    if (fmt == "bed" && (NF < 3 || NF > 12)) fail("expected 3 to 12 tab-separated columns, found " NF)
    if (fmt == "narrowpeak" && NF != 10) fail("expected 10 tab-separated columns (narrowPeak), found " NF)
    if (fmt == "broadpeak" && NF != 9) fail("expected 9 tab-separated columns (broadPeak), found " NF)
    if (!is_int($2) || !is_int($3)) fail("start '" $2 "' or end '" $3 "' is not an integer")
    if ($2 + 0 < 0) fail("start " $2 " < 0 (BED coordinates are 0-based)")
    if ($3 + 0 < $2 + 0) fail("end " $3 " < start " $2)
    reach($3)
    print
    next
}

END {
    if (bad) exit 1
    if (span != "") printf "%.0f\t%.0f\n", max_end, max_length > span
    if (fmt == "vcf" && !chrom_line) {
        # htslib, bcftools and pysam refuse a VCF without it ("sample line not found", "unknown file type")
        printf "vcf: no #CHROM header line in %d line(s): %s\n", NR,
            "the file is empty, or its header lacks the column line" > "/dev/stderr"
        exit 1
    }
}
