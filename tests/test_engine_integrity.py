"""Nothing unreadable or incomplete is published: truncated sources fail with the reason (tools that warn and
exit 0 are not trusted), every artifact opens in its format's standard reader, BAMs without mapped reads and
zero-length BED features index, and a conversion that drops records says so (conversion.json)."""
from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

from conftest import TRACKS, Engine, Source


def sh(command: str, cwd: Path) -> None:
    """Run a shell pipeline with the real tools; it fails the test if its last command fails (no pipefail:
    `head` closing a pipe early is how these inputs are cut)."""
    subprocess.run(["bash", "-c", f"set -eu; {command}"], cwd=cwd, check=True)


def failing_rule(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"Error in rule (\w+):", result.stdout + result.stderr)
    assert match, (result.stdout + result.stderr)[-3000:]
    return match.group(1)


def rule_log(cache: Path, source: Source, rule: str) -> str:
    """The log of one rule for one source (found by its md5, whatever the cache layout)."""
    logs = [p for p in cache.rglob(f"{rule}*.log") if source.md5 in p.parts]
    assert logs, f"no {rule} log for {source.id}"
    return "\n".join(p.read_text(errors="replace") for p in logs)


def assert_fails(engine: Engine, source: Source, rule: str, reason: str) -> str:
    """Build one source: it must fail in `rule` with `reason` in the rule's log and publish nothing."""
    result = engine.run([source])
    assert result.returncode != 0, f"{source.id} built"
    assert failing_rule(result) == rule
    log = rule_log(engine.cache, source, rule)
    assert reason in log, log[-3000:]
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())
    return log


def assert_builds(engine: Engine, sources: list[Source]) -> None:
    result = engine.run(sources)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for source in sources:
        assert all(p.exists() for p in source.artifacts(engine.cache).values()), source.id


def read_count(path: Path) -> int:
    return int(subprocess.run(["samtools", "view", "-c", str(path)], capture_output=True, text=True,
                              check=True).stdout)


# --- 1. truncated sources -----------------------------------------------------------------------------------

def test_truncated_bam_fails_at_sort_and_publishes_nothing(engine):
    sh(f"head -c 1500000 {TRACKS / 'pybedtools_x.bam'} > truncated.bam", engine.workdir)
    source = Source.local(engine.workdir / "truncated.bam")
    log = assert_fails(engine, source, "samtools_sort", "samtools_sort: the source is truncated or corrupt")
    assert "EOF block" in log, "the tool's own message names what is wrong"


def test_valid_bam_still_builds_with_every_read(engine):
    source = Source.local(TRACKS / "pybedtools_x.bam")
    assert_builds(engine, [source])
    data = source.artifacts(engine.cache)["data"]
    assert subprocess.run(["samtools", "quickcheck", str(data)]).returncode == 0
    assert read_count(data) == read_count(TRACKS / "pybedtools_x.bam") == 45593


def bgzf_block_offsets(path: Path) -> list[int]:
    """Start offsets of the BGZF blocks of a file, from each block's BSIZE field."""
    data, offsets, pos = path.read_bytes(), [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += struct.unpack("<H", data[pos + 16:pos + 18])[0] + 1
    return offsets


def test_bgzf_vcf_cut_at_a_block_boundary_fails(engine):
    # bcftools -Oz ends its BGZF blocks on record boundaries: cut at a later block's start, gzip -cdf reads
    # whole records only, then stops and exits 0, and every record after the cut would be silently lost
    sh(f"(grep '^#' {TRACKS / 'htslib_index.vcf'}; for i in 1 2 3 4 5 6; do grep -v '^#' "
       f"{TRACKS / 'htslib_index.vcf'}; done | sort -k1,1 -k2,2n) | bcftools view -Oz -o whole.vcf.gz",
       engine.workdir)
    whole = engine.workdir / "whole.vcf.gz"
    offsets = bgzf_block_offsets(whole)
    assert len(offsets) >= 4, "the VCF spans several BGZF blocks"
    sh(f"head -c {offsets[2]} whole.vcf.gz > cut.vcf.gz", engine.workdir)
    cut = subprocess.run(["bash", "-c", "gzip -cdf cut.vcf.gz | tail -c 1 | od -c; exit ${PIPESTATUS[0]}"],
                         cwd=engine.workdir, capture_output=True, text=True)
    assert cut.returncode == 0 and "\\n" in cut.stdout, "gzip reads the cut file cleanly, ending on a record"
    source = Source.local(engine.workdir / "cut.vcf.gz")
    assert_fails(engine, source, "sort_bgzip", "sort_bgzip: the source is truncated")


def test_truncated_bigbed_fails_at_conversion(engine):
    size = (TRACKS / "pybigwig_test.bigBed").stat().st_size
    sh(f"head -c {size - 100} {TRACKS / 'pybigwig_test.bigBed'} > truncated.bb", engine.workdir)
    source = Source.local(engine.workdir / "truncated.bb")
    assert_fails(engine, source, "pybigwig_bigbed_to_bed",
                 "bigbed_to_bed: the source is truncated or corrupt")
    assert not list(engine.cache.rglob("converted.bed*"))
