"""bedGraph and WIG sources built as bigWig (issue 9, item 5): values read back with pyBigWig equal the source
file's, unsorted input builds the same bytes as sorted, bad records and overlaps fail naming the file line,
and the service builds and range-serves data.bw (no index file: /index answers 404)."""
from __future__ import annotations

import gzip
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyBigWig
import pytest

from conftest import REPO, TRACKS, Source

from webapp import layout

BAM = TRACKS / "pybedtools_x.bam"  # coordinate-sorted reads on chr2L/chr2R/...
SCRIPT = REPO / "rules" / "scripts" / "to_bigwig.py"


def coverage_bedgraph(path: Path) -> Path:
    """Read coverage of the shared BAM as a bedGraph, computed by bedtools, with a track line."""
    result = subprocess.run(["bedtools", "genomecov", "-bg", "-ibam", str(BAM)], capture_output=True, text=True,
                            check=True)
    path.write_text("track type=bedGraph name=coverage\n" + result.stdout)
    return path


def intervals_of(path: Path) -> list[tuple[str, int, int, float]]:
    """The source's intervals (0-based, half-open), read here from the text: bedGraph or WIG."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as handle:
        lines = [line.split() for line in handle if line.strip()]
    found, section = [], {}
    for fields in lines:
        if fields[0] in ("track", "browser") or fields[0].startswith("#"):
            continue
        if fields[0] in ("fixedStep", "variableStep"):
            section = dict(field.split("=") for field in fields[1:])
            section["mode"] = fields[0]
            span = int(section.get("span", 1))
            if fields[0] == "fixedStep":
                section["next"] = int(section["start"])
            continue
        if not section:
            found.append((fields[0], int(fields[1]), int(fields[2]), float(fields[3])))
        elif section["mode"] == "fixedStep":
            found.append((section["chrom"], section["next"] - 1, section["next"] - 1 + span, float(fields[0])))
            section["next"] += int(section["step"])
        else:
            found.append((section["chrom"], int(fields[0]) - 1, int(fields[0]) - 1 + span, float(fields[1])))
    return found


def assert_bigwig_equals_source(bigwig: Path, source: Path, samples: int = 400) -> None:
    """The bigWig's header sizes are the source's largest end per chromosome; its value at the first and last
    base of sampled intervals, and just past their end, are the source's (as 32-bit floats)."""
    expected = intervals_of(source)
    assert expected
    largest: dict[str, int] = {}
    for chrom, _, end, _ in expected:
        largest[chrom] = max(end, largest.get(chrom, 0))
    covered = {(chrom, start) for chrom, start, _, _ in expected}
    handle = pyBigWig.open(str(bigwig))
    try:
        assert handle.isBigWig()
        assert handle.chroms() == largest
        assert handle.header()["nBasesCovered"] == sum(end - start for _, start, end, _ in expected)
        rng = random.Random(7)
        for chrom, start, end, value in rng.sample(expected, min(samples, len(expected))):
            assert handle.values(chrom, start, start + 1)[0] == np.float32(value), (chrom, start)
            assert handle.values(chrom, end - 1, end)[0] == np.float32(value), (chrom, end)
            if end < largest[chrom] and (chrom, end) not in covered:  # a gap after it reads as no value
                assert np.isnan(handle.values(chrom, end, end + 1)[0])
    finally:
        handle.close()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_bam_coverage_bedgraph_builds_a_bigwig_with_the_source_values(engine):
    source_path = coverage_bedgraph(engine.workdir / "coverage.bedGraph")
    source = Source.local(source_path)
    result = engine.run([source])
    assert result.returncode == 0, result.stderr[-3000:]
    paths = source.artifacts(engine.cache)
    assert set(paths) == {"data", "record"} and paths["data"].name == "data.bw"
    assert json.loads(paths["record"].read_text()) == {"data": "data.bw", "chrom_sizes": "from the data"}
    assert sorted(p.name for p in paths["data"].parent.iterdir()) == ["artifact.json", "data.bw"]
    assert_bigwig_equals_source(paths["data"], source_path)


def test_unsorted_input_builds_the_same_bytes_as_sorted_and_rebuilds_identically(engine, tmp_path):
    sorted_path = coverage_bedgraph(engine.workdir / "sorted.bdg")
    lines = sorted_path.read_text().splitlines(keepends=True)
    body = lines[1:]
    random.Random(1).shuffle(body)
    shuffled = engine.workdir / "shuffled.bdg.gz"
    with gzip.open(shuffled, "wt") as out:
        out.writelines(body)
    assert body != lines[1:]
    sources = [Source.local(sorted_path), Source.local(shuffled)]
    result = engine.run(sources)
    assert result.returncode == 0, result.stderr[-3000:]
    built = [source.artifacts(engine.cache)["data"] for source in sources]
    assert md5_of(built[0]) == md5_of(built[1])
    assert_bigwig_equals_source(built[1], shuffled)
    # the same source built again from nothing: the same bytes
    again = type(engine)(workdir=engine.workdir, cache=tmp_path / "cache2")
    assert again.run(sources[:1]).returncode == 0
    assert md5_of(sources[0].artifacts(again.cache)["data"]) == md5_of(built[0])


def test_wig_fixed_and_variable_step_sections(engine):
    path = engine.workdir / "signal.wig.gz"
    text = ("track type=wiggle_0 name=signal\nbrowser position chr2L:1-100\n"
            "variableStep chrom=chr2L span=10\n1 0.5\n101 2.25\n51 -1\n"
            "fixedStep chrom=chr2R start=1001 step=100 span=50\n3\n4.5\n0\n1e3\n"
            "fixedStep chrom=chr2L start=201 step=1\n7\n8\n9\n"
            "variableStep chrom=chr3 \n5 1.5\n")
    with gzip.open(path, "wt") as out:
        out.write(text)
    source = Source.local(path)
    assert not source.format and layout.infer_format(str(path)) == "wig"  # inferred from the name
    result = engine.run([source])
    assert result.returncode == 0, result.stderr[-3000:]
    data = source.artifacts(engine.cache)["data"]
    assert_bigwig_equals_source(data, path)
    handle = pyBigWig.open(str(data))
    # written out by hand from the text above: variableStep 101 span 10 -> [100, 110); fixedStep 1001+100 ->
    # [1100, 1150) holds 4.5; fixedStep chr2L 201 step 1 -> bases 200, 201, 202
    assert handle.intervals("chr2L", 100, 110) == ((100, 110, 2.25),)
    assert handle.intervals("chr2R", 1100, 1150) == ((1100, 1150, 4.5),)
    assert handle.values("chr2L", 200, 203) == [7.0, 8.0, 9.0]
    assert handle.chroms() == {"chr2L": 203, "chr2R": 1350, "chr3": 5}
    handle.close()


@pytest.mark.parametrize("fmt, text, line, reason", [
    ("bedgraph", "chr1\t0\t10\t1\nchr1\t20\t30\t2\nchr1\t5\t15\t3\n", 3,
     "interval chr1:5-15 overlaps chr1:0-10 on line 1"),
    ("bedgraph", "chr1\t20\t30\t2\nchr1\t0\t21\t3\n", 2, "interval chr1:0-21 overlaps chr1:20-30 on line 1"),
    ("bedgraph", "track type=bedGraph\nchr1\t0\t10\tabc\n", 2, "value 'abc' is not a number"),
    ("bedgraph", "chr1\t0\t10\t1\nchr1\t10\t10\t1\n", 2, "start 10 >= end 10"),
    ("bedgraph", "chr1\t-5\t10\t1\n", 1, "start -5 is below 0"),
    ("bedgraph", "chr1\t1.5\t10\t1\n", 1, "start '1.5' is not an integer"),
    ("bedgraph", "chr1\t0\t10\n", 1, "3 columns; a bedGraph record has 4"),
    ("bedgraph", "chr1\t0\t10\tnan\n", 1, "value 'nan' is not a finite number"),
    ("wig", "fixedStep chrom=chr1 start=1 step=10\n1\n2\nchr1 5 6 7\n", 4, "4 columns in a fixedStep section"),
    ("wig", "track type=wiggle_0\n1 2\n", 2, "'1 2' is not a WIG line"),
    ("wig", "variableStep chrom=chr1 span=10\n1 1\n5 2\n", 3, "interval chr1:4-14 overlaps chr1:0-10 on line 2"),
    ("wig", "fixedStep chrom=chr1 step=10\n1\n", 1, "fixedStep without start="),
    ("wig", "fixedStep chrom=chr1 start=0 step=10\n1\n", 1, "start 0 is below 1"),
], ids=["overlap", "overlap-unsorted", "value", "empty-interval", "negative", "float-start", "columns", "nan",
        "wig-columns", "wig-undeclared", "wig-overlap", "wig-no-start", "wig-start-0"])
def test_bad_records_fail_naming_the_line(engine, fmt, text, line, reason):
    path = engine.workdir / f"bad.{'bedGraph' if fmt == 'bedgraph' else 'wig'}"
    path.write_text(text)
    source = Source.local(path)
    result = engine.run([source])
    assert result.returncode != 0
    assert "Error in rule to_bigwig" in result.stdout + result.stderr
    log = next(engine.cache.rglob("to_bigwig.log")).read_text()
    assert f"line {line}: {reason}" in log, log
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())
    assert not list(engine.cache.rglob("data.bw*"))


def test_chrom_sizes_file_sets_the_header_and_bounds_the_records(tmp_path):
    source = tmp_path / "x.bedGraph"
    source.write_text("chr2\t0\t10\t1\nchr1\t5\t8\t2\n")
    sizes = tmp_path / "ref.fa.fai"
    sizes.write_text("chr1\t1000\t6\t60\t61\nchr2\t500\t1030\t60\t61\nchr3\t9\t1600\t60\t61\n")
    out = tmp_path / "x.bw"
    run = [sys.executable, str(SCRIPT), "--format", "bedgraph"]
    done = subprocess.run([*run, "--chrom-sizes", str(sizes), str(source), str(out)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    handle = pyBigWig.open(str(out))
    assert handle.chroms() == {"chr1": 1000, "chr2": 500}
    assert handle.values("chr1", 5, 8) == [2.0, 2.0, 2.0]
    handle.close()
    short = tmp_path / "short.sizes"
    short.write_text("chr1 6\nchr2 500\n")
    failed = subprocess.run([*run, "--chrom-sizes", str(short), str(source), str(tmp_path / "y.bw")],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "line 2: end 8 is past the end of chr1 (6 in short.sizes)" in failed.stderr
    assert not (tmp_path / "y.bw").exists() and not (tmp_path / "y.bw.tmp").exists()
    missing = tmp_path / "missing.sizes"
    missing.write_text("chr1\t1000\n")
    failed = subprocess.run([*run, "--chrom-sizes", str(missing), str(source), str(tmp_path / "z.bw")],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "line 1: chromosome 'chr2' is not in missing.sizes" in failed.stderr


def ranged_copy(svc, url: str, size: int, chunk: int = 65536) -> bytes:
    """The served file, downloaded as a series of byte ranges (each answered 206)."""
    parts = []
    for start in range(0, size, chunk):
        end = min(start + chunk, size) - 1
        response = svc.get(url, headers={"Range": f"bytes={start}-{end}"})
        assert response.status_code == 206, response.text[:300]
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        parts.append(response.content)
    return b"".join(parts)


def test_service_builds_and_range_serves_the_bigwig(service, tmp_path):
    source_path = coverage_bedgraph(service.base / "sources" / "coverage.bdg")
    assert service.register("cov", source_path).json()["format"] == "bedgraph"
    first = service.get("/data/cov")
    assert first.status_code == 202
    job = service.wait_job(first.json()["job_id"])
    assert job["status"] == "completed", job
    head = service.http.head(service.url("/data/cov"), timeout=60)
    assert head.status_code == 200
    size = int(head.headers["Content-Length"])
    copy = tmp_path / "served.bw"
    copy.write_bytes(ranged_copy(service, "/data/cov", size))
    assert_bigwig_equals_source(copy, source_path)
    record = service.get("/files/cov").json()
    assert set(record["aliases"]) == {"data"} and record["aliases"]["data"].endswith("-bedgraph-v2.bw")
    assert record["artifacts"]["index"] is None and record["artifacts"]["data"]["ready"]
    assert ranged_copy(service, record["aliases"]["data"], size) == copy.read_bytes()
    generic = service.get("/data/cov/data.bw", headers={"Range": "bytes=0-3"})
    assert generic.status_code == 206 and generic.content == copy.read_bytes()[:4]
    named_index = service.get(record["aliases"]["data"] + ".bai")
    assert named_index.status_code == 404 and "no index file" in named_index.json()["detail"]
    index = service.get("/index/cov")
    assert index.status_code == 404 and "has no index" in index.json()["detail"]
    assert "indexed inside the data file" in index.json()["detail"]
    assert not any(name.endswith(".bw.bai") for name in job["artifacts"])


def test_service_declared_wig_and_an_overlap_failing_with_its_line(service):
    wig = service.base / "sources" / "signal.txt"
    wig.write_text("fixedStep chrom=chr1 start=1 step=5 span=5\n1\n2\n3\n")
    assert service.register("w", wig, format="wig").status_code == 201
    built = service.fetch("/data/w")
    assert built.status_code == 200
    local = service.base / "w.bw"
    local.write_bytes(built.content)
    handle = pyBigWig.open(str(local))
    assert handle.intervals("chr1") == ((0, 5, 1.0), (5, 10, 2.0), (10, 15, 3.0))
    handle.close()
    bad = service.base / "sources" / "bad.bedGraph"
    bad.write_text("chr1\t0\t100\t1\nchr1\t200\t300\t1\nchr1\t50\t60\t2\n")
    assert service.register("bad", bad).status_code == 201
    job = service.wait_job(service.get("/data/bad").json()["job_id"])
    assert job["status"] == "failed" and job["error"]["rule"] == "to_bigwig", job
    assert "line 3: interval chr1:50-60 overlaps chr1:0-100 on line 1" in job["error"]["reason"], job
    again = service.get("/data/bad")
    assert again.status_code == 409 and "line 3" in again.json()["detail"]


def test_the_read_back_check_refuses_a_file_that_does_not_hold_the_records(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("to_bigwig", SCRIPT)
    to_bigwig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(to_bigwig)
    source = coverage_bedgraph(tmp_path / "coverage.bedGraph")
    out = tmp_path / "good.bw"
    assert to_bigwig.convert(str(source), "bedgraph", str(out)) == len(intervals_of(source))
    chrom, start, end, value = intervals_of(source)[0]
    header = list(pyBigWig.open(str(out)).chroms().items())
    covered = sum(e - s for _, s, e, _ in intervals_of(source))
    to_bigwig.check(str(out), header, covered, [(chrom, start, value)])  # the real file passes
    with pytest.raises(OSError, match="reads"):  # a value the records do not hold
        to_bigwig.check(str(out), header, covered, [(chrom, start, value + 1)])
    with pytest.raises(OSError, match="covers"):
        to_bigwig.check(str(out), header, covered + 1, [])
    truncated = tmp_path / "truncated.bw"
    truncated.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    with pytest.raises((OSError, RuntimeError)):
        to_bigwig.check(str(truncated), header, covered, [(chrom, start, value)])
