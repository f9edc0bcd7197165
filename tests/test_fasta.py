"""Reference FASTA sources: validated with line numbers, built as BGZF + .fai + .gzi, read by samtools over
HTTP exactly as from the local file."""
from __future__ import annotations

import re
import subprocess

import pytest

from conftest import SHARED_DATA, Source

REFERENCE = SHARED_DATA / "crossroad" / "1small.fa"  # 18 mpox genomes (EPI_ISL_...)


def first_names(count: int) -> list[str]:
    """The first sequence names of the shared reference, read from its headers here."""
    names = [line[1:].split()[0] for line in REFERENCE.read_text().splitlines() if line.startswith(">")]
    return names[:count]


@pytest.mark.parametrize("text, line, reason", [
    (">a\nACGT\n>b\nACGT\n>a\nACGT\n", 5, "duplicate sequence name 'a' (first on line 1)"),
    (">a\nACGT\n>b\n>c\nACGT\n", 3, "sequence 'b' is empty"),
    (">a\nACGT\n>b\nAC\nAC GT\n", 5, "character ' ' (column 3)"),
    (">a\nACGT\nAC1T\n", 3, "character '1' (column 3)"),
    (">a\nACGT\n>b\n", 3, "sequence 'b' is empty"),
], ids=["duplicate", "empty", "space", "digit", "empty-last"])
def test_invalid_reference_fails_with_its_line_number(engine, text, line, reason):
    path = engine.workdir / "bad.fa"
    path.write_text(text)
    source = Source.local(path)
    result = engine.run([source])
    assert result.returncode != 0
    assert "Error in rule fasta_bgzip" in result.stdout + result.stderr
    log = next(engine.cache.rglob("fasta_bgzip.log")).read_text()
    assert f"line {line}: {reason}" in log, log
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())


def test_iupac_lower_case_gaps_and_stops_are_a_valid_reference(engine):
    path = engine.workdir / "ok.fasta"
    path.write_text(">n nucleotides\nACGTURYSWKMBDHVN\nacgtn-\n>p protein\nMEFILOPQXZ*\n")
    source = Source.local(path)
    result = engine.run([source])
    assert result.returncode == 0, result.stderr[-3000:]
    fai = source.artifacts(engine.cache)["index"].read_text().splitlines()
    assert [row.split("\t")[:2] for row in fai] == [["n", "22"], ["p", "11"]]


def test_samtools_faidx_over_http_equals_the_local_file(service_factory, tmp_path):
    svc = service_factory(TRACKPREP_SOURCE_ROOTS=str(REFERENCE.parent)).start()
    assert svc.register("mpox", REFERENCE).status_code == 201
    assert svc.fetch("/data/mpox").status_code == 200  # builds the artifact
    aliases = svc.get("/files/mpox").json()["aliases"]
    assert aliases["index"].endswith(".fa.gz.fai") and aliases["gzi"].endswith(".fa.gz.gzi")
    index = svc.get("/index/mpox")
    assert index.status_code == 200 and index.text == svc.get(aliases["index"]).text
    regions = [f"{name}:{start}-{start + 150}" for name, start in zip(first_names(3), (1, 1000, 190000))]
    for url in (svc.url(aliases["data"]), svc.url("/data/mpox/data.fa.gz")):
        remote = subprocess.run(["samtools", "faidx", url, *regions], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert remote.returncode == 0, remote.stderr
        copy = tmp_path / "local.fa"
        copy.write_bytes(REFERENCE.read_bytes())  # the plain source, indexed by samtools itself
        local = subprocess.run(["samtools", "faidx", str(copy), *regions], capture_output=True, text=True,
                               check=True)
        assert remote.stdout == local.stdout and local.stdout.count(">") == 3
        assert re.fullmatch(r"(>\S+\n([ACGTNRYKMSWBDHV]+\n)+){3}", local.stdout, flags=re.I)
