"""Every format name and extension the README lists builds, declared or inferred, through plain `snakemake`
and through the service; and the one format list (webapp/core/source.py) is what the README, the record schema
the engine and the service validate with, and /openapi.json say.

Each artifact is opened in its format's standard reader (pysam, tabix, pyBigWig) and holds every record of its
source (counted independently from the source file)."""
from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pysam
import pytest

from conftest import REPO, SHARED_DATA, TRACKS, Source, md5sum

from webapp import layout


def readme_format_table() -> dict[str, list[str]]:
    """format -> extensions, from the README's table."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("| format | extensions |"):]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|$", section.split("\n\n")[0], flags=re.M)
    return {fmt: re.findall(r"`(\.[A-Za-z0-9]+)`", exts) for fmt, exts in rows}


def test_readme_schema_and_openapi_list_exactly_the_formats_of_the_layout(service):
    table = readme_format_table()
    assert list(table) == list(layout.FORMATS)
    for fmt, extensions in table.items():
        assert sorted(ext.lower() for ext in extensions) == \
            sorted(suffix for suffix, named in layout.FORMAT_SUFFIXES if named == fmt), fmt
    document = service.get("/openapi.json").json()
    fields = document["components"]["schemas"]["SourceFields"]["properties"]
    assert fields["format"]["enum"] == list(layout.FORMATS)
    assert fields["id"]["pattern"] == layout.SOURCE_ID_PATTERN


@dataclass
class Sample:
    """A real file of one format, under a name with the extension to test."""

    fmt: str
    path: Path

    def expected_records(self) -> int | None:
        """The records the source holds, counted with the format's own tool (None: not record-based)."""
        if self.fmt in ("bam", "sam", "cram"):
            return int(subprocess.run(["samtools", "view", "-c", str(self.path)], capture_output=True,
                                      text=True, check=True).stdout)
        if self.fmt == "bigbed":
            import pyBigWig

            handle = pyBigWig.open(str(self.path))
            try:
                chroms = handle.chroms().items()
                return sum(len(handle.entries(chrom, 0, size) or []) for chrom, size in chroms)
            finally:
                handle.close()
        if self.fmt in ("vcf", "gff", "gff3", "bed", "narrowpeak", "broadpeak"):
            opener = gzip.open if self.path.name.lower().endswith((".gz", ".bgz")) else open
            with opener(self.path, "rt", errors="replace") as handle:
                lines = [line for line in handle if line.strip()]
            if self.fmt in ("gff", "gff3") and any(line.startswith("##FASTA") for line in lines):
                lines = lines[:next(i for i, line in enumerate(lines) if line.startswith("##FASTA"))]
            return sum(1 for line in lines if not line.startswith(("#", "track", "browser")))
        if self.fmt in ("bedgraph", "wig"):  # bedGraph records, or WIG data lines (one interval each)
            opener = gzip.open if self.path.read_bytes()[:2] == b"\x1f\x8b" else open
            with opener(self.path, "rt") as handle:
                return sum(1 for line in handle if line.strip() and not line.startswith(
                    ("#", "track", "browser", "fixedStep", "variableStep")))
        if self.fmt == "fasta":
            return len(self.sequences())
        return None  # gtf: converted, csv/tsv/bigwig: compared byte for byte

    def sequences(self) -> dict[str, str]:
        """A FASTA source's sequences by name, parsed here (plain, gzip or BGZF)."""
        opener = gzip.open if self.path.read_bytes()[:2] == b"\x1f\x8b" else open
        found: dict[str, list[str]] = {}
        with opener(self.path, "rt") as handle:
            for line in handle:
                if line.startswith(">"):
                    name = line[1:].split()[0]
                    found[name] = []
                elif line.strip():
                    found[name].append(line.strip())
        return {name: "".join(parts) for name, parts in found.items()}


def make_samples(folder: Path) -> list[Sample]:
    """One file for every (format, extension) pair of the layout, plus compressed text variants."""
    folder.mkdir(parents=True, exist_ok=True)
    vcf_bgz = folder / "calls.vcf.bgz.tmp"
    subprocess.run(f"bgzip -c {TRACKS / 'htslib_index.vcf'} > {vcf_bgz}", shell=True, check=True)
    broad = folder / "peaks.broadPeak.tmp"
    with open(TRACKS / "pybedtools_example.narrowPeak") as source, open(broad, "w") as out:
        out.writelines("\t".join(line.rstrip("\n").split("\t")[:9]) + "\n" for line in source)
    tsv = folder / "table.tsv.tmp"
    tsv.write_text("gene\tscore\nLYST\t1.5\nBRCA2\t0.25\n")
    csv = folder / "table.csv.tmp"
    csv.write_text("gene,score\nLYST,1.5\nBRCA2,0.25\n")
    bedgraph = folder / "coverage.bedGraph.tmp"  # read coverage of a shared BAM, computed by bedtools
    with open(bedgraph, "w") as out:
        out.write("track type=bedGraph\n")
        out.flush()
        subprocess.run(["bedtools", "genomecov", "-bg", "-ibam", str(TRACKS / "pybedtools_x.bam")], stdout=out,
                       check=True)
    wig = folder / "signal.wig.tmp"
    wig.write_text("track type=wiggle_0\nvariableStep chrom=chr2L span=5\n10 1.5\n100 2\n"
                   "fixedStep chrom=chr2R start=1 step=10 span=10\n0.5\n-1\n3\n")
    # a CRAM that needs no reference (no_ref: bases stored as they are); tests/test_cram.py covers references
    cram = folder / "reads.cram.tmp"
    subprocess.run(["samtools", "view", "-O", "cram,no_ref", "-o", str(cram),
                    str(TRACKS / "pybedtools_x.bam")], check=True)
    origin = {
        "bam": TRACKS / "pybedtools_x.namesorted.bam", "sam": TRACKS / "htslib_ce1000.sam",
        "vcf": TRACKS / "htslib_index.vcf", "gff": TRACKS / "htslib_gff_file.gff",
        "gff3": TRACKS / "pybedtools_hg19.gff", "gtf": TRACKS / "pyranges_ensembl.gtf",
        "bed": TRACKS / "htslib_bed_file.bed", "narrowpeak": TRACKS / "pybedtools_example.narrowPeak",
        "broadpeak": broad, "bigbed": TRACKS / "pybigwig_test.bigBed", "csv": csv, "tsv": tsv,
        "bigwig": TRACKS / "pybigwig_test.bw", "fasta": SHARED_DATA / "crossroad" / "1small.fa",
        "bedgraph": bedgraph, "wig": wig, "cram": cram,
    }
    samples = []
    for suffix, fmt in layout.FORMAT_SUFFIXES:
        # spelled as users do (and as the README lists them): inference ignores case
        spelled = {".narrowpeak": ".narrowPeak", ".broadpeak": ".broadPeak", ".bigbed": ".bigBed",
                   ".bigwig": ".bigWig", ".bedgraph": ".bedGraph"}.get(suffix, suffix)
        name = f"sample_{fmt}{spelled}"
        shutil.copy(origin[fmt], folder / name)
        samples.append(Sample(fmt, folder / name))
    # compressed text: plain gzip and BGZF, under .gz and .bgz
    gz = folder / "sample_gff3.gff3.gz"
    with open(origin["gff3"], "rb") as source, gzip.open(gz, "wb") as out:
        shutil.copyfileobj(source, out)
    samples.append(Sample("gff3", gz))
    shutil.copy(TRACKS / "pyranges_gencode_human.gtf.gz", folder / "sample_gtf.gtf.gz")
    samples.append(Sample("gtf", folder / "sample_gtf.gtf.gz"))
    shutil.move(vcf_bgz, folder / "sample_vcf.vcf.bgz")
    samples.append(Sample("vcf", folder / "sample_vcf.vcf.bgz"))
    # a reference as plain gzip and as BGZF
    with open(origin["fasta"], "rb") as source, gzip.open(folder / "sample_fasta.fna.gz", "wb") as out:
        shutil.copyfileobj(source, out)
    samples.append(Sample("fasta", folder / "sample_fasta.fna.gz"))
    subprocess.run(f"bgzip -c {origin['fasta']} > {folder / 'sample_fasta.fasta.bgz'}", shell=True, check=True)
    samples.append(Sample("fasta", folder / "sample_fasta.fasta.bgz"))
    # quantitative tracks compressed: a bedGraph as plain gzip, a WIG as BGZF
    with open(origin["bedgraph"], "rb") as source, gzip.open(folder / "sample_bedgraph.bdg.gz", "wb") as out:
        shutil.copyfileobj(source, out)
    samples.append(Sample("bedgraph", folder / "sample_bedgraph.bdg.gz"))
    subprocess.run(f"bgzip -c {origin['wig']} > {folder / 'sample_wig.wig.bgz'}", shell=True, check=True)
    samples.append(Sample("wig", folder / "sample_wig.wig.bgz"))
    for tmp in folder.glob("*.tmp"):
        tmp.unlink()
    return samples


def check_artifact(sample: Sample, data: Path, index: Path | None) -> None:
    """The artifact opens in its standard reader and holds every record of the source."""
    expected = sample.expected_records()
    kind = layout.FORMATS[sample.fmt][0]
    if kind == "fasta":  # every sequence, read through the .fai and the .gzi, equals the source's
        assert index is not None and index.exists() and Path(f"{data}.gzi").exists()
        with pysam.FastaFile(str(data), filepath_index=str(index),
                             filepath_index_compressed=f"{data}.gzi") as fasta:
            assert {name: fasta.fetch(name) for name in fasta.references} == sample.sequences()
        assert len(sample.sequences()) == expected > 0
    elif kind == "bigwig":  # no index file: every interval of the source, read through the bigWig's own index
        import pyBigWig

        assert index is None
        handle = pyBigWig.open(str(data))
        try:
            assert handle.isBigWig()
            found = sum(len(handle.intervals(chrom) or ()) for chrom in handle.chroms())
        finally:
            handle.close()
        assert found == expected > 0, (sample.path.name, found, expected)
    elif kind == "bam":
        assert index is not None and index.exists()
        with pysam.AlignmentFile(str(data), index_filename=str(index)) as bam:
            assert bam.header.get("HD", {}).get("SO") == "coordinate"
            assert bam.mapped + bam.unmapped == expected == sum(1 for _ in bam.fetch(until_eof=True))
    elif kind is not None:
        assert index is not None and index.exists()
        with pysam.TabixFile(str(data), index=str(index)) as tabix:
            found = sum(1 for contig in tabix.contigs for _ in tabix.fetch(contig))
        if expected is not None:
            assert found == expected, (sample.path.name, found, expected)
        else:
            assert found > 0
        if kind == "vcf":
            with pysam.VariantFile(str(data), index_filename=str(index)) as vcf:
                assert sum(1 for _ in vcf.fetch()) == expected
    elif sample.fmt == "bigwig":
        import pyBigWig

        handle = pyBigWig.open(str(data))
        assert handle.isBigWig() and handle.chroms()
        handle.close()
    else:
        assert data.read_bytes() == sample.path.read_bytes()


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[Sample]:
    return make_samples(tmp_path_factory.mktemp("formats") / "sources")


def test_every_format_and_extension_builds_through_snakemake_declared_and_inferred(engine, samples):
    inferred = [Source.local(sample.path, id=f"inferred-{sample.path.name}") for sample in samples]
    declared = []
    for sample in samples:  # the same bytes under a name that says nothing: the format column decides
        neutral = engine.workdir / f"{sample.path.name.replace('.', '_')}.dat"
        shutil.copy(sample.path, neutral)
        if sample.path.name.lower().endswith((".gz", ".bgz")):
            neutral = neutral.rename(neutral.with_suffix(".dat.gz"))
        declared.append(Source.local(neutral, id=f"declared-{sample.path.name}", format=sample.fmt))
    assert {layout.infer_format(s.access_url) for s in inferred} == set(layout.FORMATS)
    result = engine.run(inferred + declared, roots=[samples[0].path.parent, engine.workdir])
    assert result.returncode == 0, result.stderr[-4000:]
    for sample, source in [*zip(samples, inferred), *zip(samples, declared)]:
        paths = source.artifacts(engine.cache)
        check_artifact(sample, paths["data"], paths.get("index"))


def test_every_format_and_extension_builds_through_the_service_declared_and_inferred(
        service_factory, samples):
    folder = samples[0].path.parent
    svc = service_factory(TRACKPREP_SOURCE_ROOTS=str(folder)).start()
    cases = []
    for sample in samples:
        for how, fields in (("inferred", {}), ("declared", {"format": sample.fmt})):
            source_id = f"{how}-{sample.path.name}"
            answer = svc.register(source_id, sample.path, **fields)
            assert answer.status_code == 201, answer.text
            assert answer.json()["format"] == sample.fmt
            cases.append((sample, source_id))
    for sample, source_id in cases:
        data = svc.fetch(f"/data/{source_id}")
        assert data.status_code == 200, (source_id, data.text[:500])
        local = svc.base / "served" / source_id
        local.mkdir(parents=True)
        data_path = local / Path(svc.get(f"/files/{source_id}").json()["aliases"]["data"]).name \
            if layout.FORMATS[sample.fmt][0] else local / "data"
        data_path.write_bytes(data.content)
        index_path = None
        if layout.FORMATS[sample.fmt][0] and not layout.has_index(sample.fmt):  # a bigWig: no index file
            assert svc.get(f"/index/{source_id}").status_code == 404
        elif layout.FORMATS[sample.fmt][0]:
            index = svc.fetch(f"/index/{source_id}")
            assert index.status_code == 200
            index_path = Path(str(data_path) + layout.KINDS[layout.FORMATS[sample.fmt][0]].index_suffix)
            index_path.write_bytes(index.content)
        if sample.fmt == "fasta":  # the BGZF block index, by its alias
            gzi = svc.fetch(svc.get(f"/files/{source_id}").json()["aliases"]["gzi"])
            assert gzi.status_code == 200
            Path(f"{data_path}.gzi").write_bytes(gzi.content)
        check_artifact(sample, data_path, index_path)
        assert md5sum(sample.path) == svc.get(f"/files/{source_id}").json()["md5"]
