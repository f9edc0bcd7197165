"""Chromosomes past 2^29 bp: the engine picks CSI from the data itself (BAM `@SQ LN`, VCF `##contig` lengths,
record ends), the bytes stay deterministic, and the service serves the CSI under its `.csi` aliases while the
`.bai`/`.tbi` names answer 404 at once. Read back past 2^29 by samtools, tabix and bcftools, locally and over
HTTP, cold and warm, beside small files that keep their BAI/TBI."""
from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from conftest import Engine, Source, md5sum
from long_contigs import BAI_LIMIT, FAR, kind_of, long_inputs, write_bed


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, cwd=cwd, timeout=120)


def region_records(target: str, kind: str, region: str, cwd: Path) -> list[str]:
    """The records a real reader returns for a region of a file or URL (samtools for BAM, tabix otherwise)."""
    result = run("samtools", "view", target, region, cwd=cwd) if kind == "bam" else \
        run("tabix", target, region, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_positions_past_2_29_get_a_csi_and_read_back_locally(engine: Engine):
    inputs = long_inputs(engine.workdir / "in")
    result = engine.run([source for source, _ in inputs.values()])
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for name, (source, positions) in inputs.items():
        paths = source.artifacts(engine.cache)
        data, index = paths["data"], paths["index"]
        assert index.name.endswith(".csi"), f"{name}: {index.name}"
        small = Path(str(data) + (".bai" if kind_of(name) == "bam" else ".tbi"))
        assert not small.exists(), f"{name}: a BAI/TBI was written beside the CSI"
        for pos in positions:
            records = region_records(str(data), kind_of(name), f"chrL:{pos}-{pos + 10}", engine.workdir)
            assert len(records) == 1, f"{name} at {pos}: {records}"


def test_the_csi_bytes_are_deterministic(tmp_path: Path):
    inputs = long_inputs(tmp_path / "in")
    sources = [source for source, _ in inputs.values()]
    built = []
    for run_name in ("a", "b"):
        (tmp_path / run_name).mkdir()
        engine = Engine(workdir=tmp_path / run_name, cache=tmp_path / run_name / "cache")
        result = engine.run(sources, roots=[tmp_path])
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        built.append({source.id: {role: md5sum(path) for role, path in source.artifacts(engine.cache).items()
                                  if role in ("data", "index")} for source in sources})
    assert built[0] == built[1]


def test_a_bai_limit_position_keeps_the_small_index(engine: Engine):
    """The last position BAI/TBI can hold stays BAI/TBI; the first past it is CSI (the boundary itself)."""
    folder = engine.workdir / "in"
    folder.mkdir()
    inside = Source.local(write_bed(folder / "inside.bed", [BAI_LIMIT - 200]))  # ends at 2^29 - 101
    edge = Source.local(write_bed(folder / "edge.bed", [BAI_LIMIT - 100]), id="edge.bed")  # ends at 2^29 - 1
    past = Source.local(write_bed(folder / "past.bed", [BAI_LIMIT - 99]), id="past.bed")  # ends at 2^29
    result = engine.run([inside, edge, past])
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert inside.artifacts(engine.cache)["index"].name.endswith(".tbi")
    assert edge.artifacts(engine.cache)["index"].name.endswith(".tbi")
    assert past.artifacts(engine.cache)["index"].name.endswith(".csi")


@pytest.mark.parametrize("name", ["long.sam", "long.vcf", "long.bed", "long.gff3", "small.bed"])
def test_real_clients_read_over_http_cold_then_warm(service, name: str):
    """Cold: both index aliases answer 503 + Retry-After and a real client fails cleanly (non-zero, no records).
    Warm: the client reads past 2^29 through the unique alias; the other index type answers 404 at once."""
    folder = service.base / "sources"
    if name == "small.bed":
        source, positions = Source.local(write_bed(folder / "small.bed", [1_000, 2_000])), [1_000, 2_000]
    else:
        source, positions = long_inputs(folder)[name]
    kind = kind_of(name)
    assert service.register("s", source.access_url).status_code == 201
    aliases = service.get("/files/s").json()["aliases"]
    assert aliases["index"] is None  # which index the data gets is unknown until it is built
    data_url = service.url(aliases["data"])  # the service answers relative links
    bai_or_tbi, csi = data_url + (".bai" if kind == "bam" else ".tbi"), data_url + ".csi"
    region = f"chrL:{positions[-1]}-{positions[-1] + 10}"

    cold = run("samtools", "view", data_url, region, cwd=service.base) if kind == "bam" else \
        run("tabix", data_url, region, cwd=service.base)
    assert cold.returncode != 0 and cold.stdout == "", cold
    for url in (bai_or_tbi, csi):
        miss = service.http.get(url, timeout=30)
        assert miss.status_code == 503 and miss.headers["Retry-After"], url
    (job,) = service.jobs()
    assert service.wait_job(job["job_id"])["status"] == "completed"

    expected_index = csi if name != "small.bed" else bai_or_tbi
    other = bai_or_tbi if expected_index == csi else csi
    assert service.url(service.get("/files/s").json()["aliases"]["index"]) == expected_index
    warm = region_records(data_url, kind, region, service.base)
    assert len(warm) == 1 and str(positions[-1]) in warm[0].split("\t")[1:4]
    assert service.http.get(other, timeout=30).status_code == 404
    served_index = service.http.get(expected_index, timeout=30)
    assert served_index.status_code == 200
    assert service.get("/index/s").content == served_index.content
    magic = b"CSI\x01" if expected_index == csi else (b"BAI\x01" if kind == "bam" else b"TBI\x01")
    head = served_index.content if kind == "bam" and magic == b"BAI\x01" else gzip.decompress(served_index.content)
    assert head[:4] == magic
    assert len(service.jobs()) == 1  # the 404 and the warm reads started nothing


def test_bcftools_reads_a_long_vcf_over_http(service):
    source, positions = long_inputs(service.base / "sources")["long.vcf"]
    service.register("v", source.access_url)
    data_url = service.url(service.get("/files/v").json()["aliases"]["data"])
    service.fetch("/data/v")
    result = run("bcftools", "view", "-H", "-r", f"chrL:{FAR}-{FAR + 10}", data_url, cwd=service.base)
    assert result.returncode == 0, result.stderr
    (record,) = result.stdout.splitlines()
    assert record.split("\t")[:3] == ["chrL", str(FAR), f"v{FAR}"]
