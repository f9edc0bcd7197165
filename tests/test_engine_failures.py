"""Bad input fails cleanly (the failing stage named, the tool's message in its log, nothing at a final cache
path); incremental rebuilds do only what is missing; rebuilt artifacts are byte-identical."""
from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TRACKS, Engine, Source, md5sum

WRONG_MD5 = hashlib.md5(b"not the file").hexdigest()


def final_files(cache: Path) -> list[Path]:
    """Every file at a final cache path (logs, temp names and work files excluded)."""
    if not cache.exists():
        return []
    return sorted(p for p in cache.rglob("*") if p.is_file() and "logs" not in p.parts
                  and "work" not in p.parts
                  and not p.name.startswith(".") and not p.name.endswith(".tmp"))


def failing_rule(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"Error in rule (\w+):", result.stdout + result.stderr)
    assert match, (result.stdout + result.stderr)[-3000:]
    return match.group(1)


def rule_log(cache: Path, rule: str) -> str:
    logs = list(cache.rglob(f"{rule}*.log"))
    assert logs, f"no log for {rule}"
    return "\n".join(p.read_text(errors="replace") for p in logs)


def test_invalid_gff_fails_at_sort_with_the_line_number(engine):
    bad = TRACKS / "pybedtools_dm3-chr2L-5M-invalid.gff.gz"
    with gzip.open(bad, "rt") as handle:
        first_bad = next(n for n, line in enumerate(handle, 1)
                         if not line.startswith("#") and int(line.split("\t")[3]) < 1)
    source = Source.local(bad, format="gff")
    result = engine.run([source])
    assert result.returncode != 0
    assert failing_rule(result) == "sort_bgzip"
    assert f"line {first_bad}: start 0 < 1" in rule_log(engine.cache, "sort_bgzip")
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())
    assert [p.parent.parent.name for p in final_files(engine.cache)] == ["src"], \
        "only the verified source stays"


def test_truncated_gzip_fails_and_publishes_nothing(engine):
    data = (TRACKS / "pyranges_gencode_human.gtf.gz").read_bytes()
    truncated = engine.workdir / "truncated.gtf.gz"
    truncated.write_bytes(data[: len(data) // 2])
    source = Source.local(truncated)
    result = engine.run([source])
    assert result.returncode != 0
    assert failing_rule(result) == "gffread_gtf_to_gff3"
    assert "unexpected end of file" in rule_log(engine.cache, "gffread_gtf_to_gff3")
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())
    assert not list(engine.cache.rglob("converted.gff3"))


def test_wrong_md5_fails_at_fetch_and_nothing_unverified_is_kept(engine):
    source = Source.local(TRACKS / "htslib_index.vcf", md5=WRONG_MD5)
    result = engine.run([source])
    assert result.returncode != 0
    assert failing_rule(result) == "fetch_source"
    log = rule_log(engine.cache, "fetch_source")
    assert "md5 mismatch" in log and md5sum(TRACKS / "htslib_index.vcf") in log
    assert final_files(engine.cache) == []


@pytest.mark.parametrize("name", ["htslib_index.vcf", "pybigwig_test.bw"])
def test_a_non_bam_registered_as_bam_fails_at_sort(engine, name):
    source = Source.local(TRACKS / name, format="bam")
    result = engine.run([source])
    assert result.returncode != 0
    assert failing_rule(result) == "samtools_sort"
    assert "registered as BAM but is" in rule_log(engine.cache, "samtools_sort")
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())


def test_bed_with_end_before_start_fails_with_line_number(engine):
    bed = engine.workdir / "bad.bed"
    lines = (TRACKS / "pybedtools_CTCF_Kc_Bushey_2009.bed").read_text().splitlines()
    fields = lines[5].split("\t")
    lines[5] = "\t".join([fields[0], fields[2], fields[1]] + fields[3:])  # swap start and end
    bed.write_text("\n".join(lines) + "\n")
    result = engine.run([Source.local(bed)])
    assert result.returncode != 0 and failing_rule(result) == "sort_bgzip"
    assert f"bed line 6: end {fields[1]} < start {fields[2]}" in rule_log(engine.cache, "sort_bgzip")


def test_vcf_without_its_header_fails_instead_of_indexing(engine):
    vcf = engine.workdir / "headless.vcf"
    vcf.write_text("".join(line for line
                           in (TRACKS / "htslib_index.vcf").read_text(errors="replace").splitlines(True)
                           if not line.startswith("#")))
    result = engine.run([Source.local(vcf)])
    assert result.returncode != 0 and failing_rule(result) == "sort_bgzip"
    assert "vcf line 1: record before the #CHROM header line" in rule_log(engine.cache, "sort_bgzip")


def test_vcf_records_that_do_not_match_the_sample_line_fail_with_the_line_number(engine):
    # the shared issue319 VCF: its #CHROM line names 73 samples, its one record carries one genotype column
    source = Source.local(TRACKS / "pybedtools_issue319.vcf.gz")
    with gzip.open(TRACKS / "pybedtools_issue319.vcf.gz", "rt", errors="replace") as handle:
        lines = handle.read().splitlines()
    record_line = next(i for i, line in enumerate(lines, 1) if not line.startswith("#"))
    samples = len(next(line for line in lines if line.startswith("#CHROM")).split("\t")) - 9
    refused = subprocess.run(["bcftools", "view", "-H", str(TRACKS / "pybedtools_issue319.vcf.gz")],
                             capture_output=True, text=True)
    assert refused.returncode != 0  # the standard reader cannot read it: it must not be published
    result = engine.run([source])
    assert result.returncode != 0 and failing_rule(result) == "sort_bgzip"
    assert f"vcf line {record_line}: 10 tab-separated columns, but the #CHROM line names {samples + 9} " \
           f"({samples} samples)" in rule_log(engine.cache, "sort_bgzip")
    assert not source.artifacts(engine.cache)["data"].exists()


@pytest.mark.parametrize("url", ["/etc/passwd", "{tracks}/../../../../etc/hostname"])
def test_local_paths_outside_the_roots_are_refused(engine, url):
    target = url.format(tracks=TRACKS)
    source = Source(id="escape", access_url=target, md5=WRONG_MD5, format="bed")
    result = engine.run([source], roots=[TRACKS])
    assert result.returncode != 0 and failing_rule(result) == "fetch_source"
    assert "outside the allowed source roots" in rule_log(engine.cache, "fetch_source")
    assert final_files(engine.cache) == []


def test_deleting_only_the_index_rebuilds_only_the_index(engine):
    source = Source.local(TRACKS / "pybedtools_x.namesorted.bam")
    paths = source.artifacts(engine.cache)
    assert engine.run([source]).returncode == 0
    data_mtime = paths["data"].stat().st_mtime_ns
    index_bytes = paths["index"].read_bytes()

    again = engine.run([source], extra_args=["--dry-run"])
    assert "Nothing to be done" in again.stdout + again.stderr

    paths["index"].unlink()
    rebuild = engine.run([source])
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    ran = re.findall(r"^(?:local)?rule (\w+):", rebuild.stdout + rebuild.stderr, flags=re.M)
    # the index, and the record that is written after it
    assert [rule for rule in ran if rule != "all"] == ["samtools_index", "artifact_record"]
    assert paths["data"].stat().st_mtime_ns == data_mtime
    assert paths["index"].read_bytes() == index_bytes


def test_a_single_artifact_can_be_asked_for_by_its_cache_path(engine):
    vcf, bed = Source.local(TRACKS / "htslib_index.vcf"), Source.local(TRACKS / "htslib_bed_file.bed")
    target = vcf.artifacts(engine.cache)["index"]
    result = engine.run([vcf, bed], targets=[target])
    assert result.returncode == 0, result.stderr[-3000:]
    paths = vcf.artifacts(engine.cache)
    assert paths["data"].exists() and paths["index"].exists()
    assert not Path(str(paths["data"]) + ".csi").exists()  # positions within 2^29: a TBI only
    assert not any(p.exists() for p in bed.artifacts(engine.cache).values())


def test_rebuilds_are_byte_identical_whatever_the_thread_count(tmp_path):
    sources = [Source.local(TRACKS / n) for n in ("pybedtools_x.namesorted.bam", "htslib_index.vcf",
                                                  "pyranges_ensembl.gtf", "pybedtools_example.narrowPeak")]
    built = []
    for threads in (1, 2):
        (tmp_path / f"w{threads}").mkdir()
        engine = Engine(workdir=tmp_path / f"w{threads}", cache=tmp_path / f"c{threads}")
        assert engine.run(sources, config={"threads": threads}).returncode == 0
        built.append(engine)
    for source in sources:
        for role in ("data", "index"):
            a, b = (source.artifacts(e.cache)[role] for e in built)
            assert a.read_bytes() == b.read_bytes(), f"{source.id} {role} differs between rebuilds"


def test_restricted_sources_build_in_their_own_namespace(engine):
    public = Source.local(TRACKS / "htslib_bed_file.bed")
    restricted = Source.local(TRACKS / "htslib_bed_file.bed", id="secret", access="restricted")
    assert engine.run([restricted]).returncode == 0
    paths = restricted.artifacts(engine.cache)
    assert all(p.exists() and "restricted" in p.parts for p in paths.values())
    assert not any(p.exists() for p in public.artifacts(engine.cache).values())
    assert not (engine.cache / "src").exists(), "the restricted source's bytes stay inside restricted/"


def test_workflow_lint_is_clean(engine):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--lint",
                             "--config", f"cache_dir={engine.cache}"],
                            cwd=engine.workdir, capture_output=True, text=True)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr, \
        result.stdout + result.stderr


def test_every_config_key_is_documented_with_its_default():
    defaults = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / "config" / "config.schema.yaml").read_text())["properties"]
    assert set(defaults) == set(schema)
    for key, value in defaults.items():
        assert schema[key].get("description"), f"{key} has no description"
        assert schema[key].get("default", "missing") == value, \
            f"{key}: schema default differs from config.yaml"
    commented = [line for line in (REPO / "config" / "config.yaml").read_text().splitlines()
                 if line and not line.startswith("#")]
    assert all("#" in line for line in commented), "every key in config.yaml carries a comment"
