"""Long-contig test inputs: one source per kind (SAM, VCF, BED, GFF3) with records past 2^29 bp, the limit of BAI
and TBI, written from a list of positions so that what a region holds is known from the input itself. Shared by
tests/test_csi.py (htslib readers) and tests/test_gmod_readers.py (the @gmod JavaScript readers)."""
from __future__ import annotations

from pathlib import Path

from conftest import Source

BAI_LIMIT = 2**29 - 1  # the largest position BAI and TBI can address (their 14-level binning scheme)
FAR = 600_000_000  # past the limit
LONG = 700_000_000  # a chromosome length past it (barley's 1H is about 560 Mbp, wheat's 3B about 830 Mbp)
READ = "ACGTACGTAC" * 5


def write_sam(path: Path, length: int, positions: list[int]) -> Path:
    """A coordinate-free SAM (unsorted on purpose) with one 50 bp read at each 1-based position."""
    lines = ["@HD\tVN:1.6\tSO:unsorted", f"@SQ\tSN:chrL\tLN:{length}"]
    for number, pos in enumerate(reversed(positions)):
        lines.append(f"r{number}\t0\tchrL\t{pos}\t60\t50M\t*\t0\t0\t{READ}\t{'I' * 50}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_vcf(path: Path, length: int, positions: list[int]) -> Path:
    """A VCF declaring chrL of `length` bp, with one A>G SNP (ID v<pos>) at each 1-based position."""
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID=chrL,length={length}>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"chrL\t{pos}\tv{pos}\tA\tG\t50\tPASS\t." for pos in positions]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_bed(path: Path, starts: list[int]) -> Path:
    """A BED with one 100 bp feature (name f<start>) at each 0-based start."""
    path.write_text("".join(f"chrL\t{start}\t{start + 100}\tf{start}\n" for start in starts))
    return path


def write_gff3(path: Path, starts: list[int]) -> Path:
    """A GFF3 with one 100 bp gene (ID g<start>) at each 1-based start."""
    lines = ["##gff-version 3"]
    lines += [f"chrL\ttest\tgene\t{start}\t{start + 99}\t.\t+\t.\tID=g{start};Name=G{start}" for start in starts]
    path.write_text("\n".join(lines) + "\n")
    return path


def long_inputs(folder: Path) -> dict[str, tuple[Source, list[int]]]:
    """One source per kind with records past 2^29, and a VCF whose records are small but whose declared
    contig is long (the `##contig` length alone must choose CSI): id -> (source, record positions)."""
    folder.mkdir(exist_ok=True)
    near, far = [1_000, 2_000], [FAR, FAR + 5_000]
    made = {
        "long.sam": (write_sam(folder / "long.sam", LONG, near + far), near + far),
        "long.vcf": (write_vcf(folder / "long.vcf", LONG, near + far), near + far),
        "declared.vcf": (write_vcf(folder / "declared.vcf", LONG, near), near),
        "long.bed": (write_bed(folder / "long.bed", near + far), near + far),
        "long.gff3": (write_gff3(folder / "long.gff3", near + far), near + far),
    }
    return {name: (Source.local(path), positions) for name, (path, positions) in made.items()}


def kind_of(name: str) -> str:
    """The artifact kind of a long_inputs name: SAM builds a BAM."""
    return "bam" if name.endswith(".sam") else name.rsplit(".", 1)[1]
