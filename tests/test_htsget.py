"""GA4GH htsget over a real `trackprep serve`: samtools, bcftools and the PyPI `htsget` client follow the
tickets; the records they get in each region equal what the tools find in the region of the local file."""
from __future__ import annotations

import subprocess

import pysam
import pytest
from conftest import TRACKS, Service

MEDIA = "application/vnd.ga4gh.htsget.v1.3.0+json"
BAM_REGIONS = [("chr2L", 10000, 200000), ("chr3L", 5000000, 5100000), ("chrX", 0, 1000)]
VCF_REGIONS = [("1", 9999950, 10000100), ("2", 0, 1 << 29), ("10", 1, 2)]


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("htsget")).start()
    for source_id, name, access in (("reads", "pybedtools_x.bam", "public"),
                                    ("calls", "htslib_index.vcf", "public"),
                                    ("secret", "pybedtools_x.bam", "restricted")):
        assert service.register(source_id, TRACKS / name, access=access).status_code in (200, 201)
        assert service.fetch(f"/data/{source_id}", headers=service.auth()).status_code == 200
    yield service
    service.stop()


def run(*cmd: str, cwd) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    base = tmp_path_factory.mktemp("local")
    bam, vcf = str(base / "x.bam"), str(base / "v.vcf.gz")
    pysam.sort("-o", bam, str(TRACKS / "pybedtools_x.bam"))
    pysam.index(bam)
    run("bcftools", "view", "-Oz", "-o", vcf, str(TRACKS / "htslib_index.vcf"), cwd=base)
    run("bcftools", "index", "-t", vcf, cwd=base)
    return {"bam": bam, "vcf": vcf}


def _fetched_region(tool: str, url: str, region: str, tmp_path, kind: str) -> str:
    """Fetch the htsget URL with the real tool into a file, index it, and list the region's records."""
    out = str(tmp_path / f"got.{kind}")
    if tool == "samtools":
        run("samtools", "view", "-b", "-o", out, url, cwd=tmp_path)
        run("samtools", "index", out, cwd=tmp_path)
        return run("samtools", "view", out, region, cwd=tmp_path)
    run("bcftools", "view", "-Oz", "-o", out, url, cwd=tmp_path)
    run("bcftools", "index", "-f", "-t", out, cwd=tmp_path)
    return run("bcftools", "view", "-H", out, "-r", region, cwd=tmp_path)


@pytest.mark.parametrize("ref,start,end", BAM_REGIONS)
def test_samtools_reads_region(svc, local, tmp_path, ref, start, end):
    url = svc.url(f"/reads/reads?referenceName={ref}&start={start}&end={end}")
    region = f"{ref}:{start + 1}-{end}"
    expected = run("samtools", "view", local["bam"], region, cwd=tmp_path)
    assert _fetched_region("samtools", url, region, tmp_path, "bam") == expected


@pytest.mark.parametrize("ref,start,end", VCF_REGIONS)
def test_bcftools_reads_region(svc, local, tmp_path, ref, start, end):
    url = svc.url(f"/variants/calls?referenceName={ref}&start={start}&end={end}")
    region = f"{ref}:{start + 1}-{end}"
    expected = run("bcftools", "view", "-H", local["vcf"], "-r", region, cwd=tmp_path)
    assert _fetched_region("bcftools", url, region, tmp_path, "vcf.gz") == expected


def test_whole_file_and_header(svc, local, tmp_path):
    count = run("samtools", "view", "-c", svc.url("/reads/reads"), cwd=tmp_path)
    # the file has no unplaced reads (which a whole-file ticket leaves out), so every record comes back
    assert run("samtools", "view", "-c", local["bam"], "*", cwd=tmp_path).strip() == "0"
    assert count == run("samtools", "view", "-c", local["bam"], cwd=tmp_path)
    header = run("samtools", "view", "--no-PG", "-H", svc.url("/reads/reads?class=header"), cwd=tmp_path)
    assert header == run("samtools", "view", "--no-PG", "-H", str(TRACKS / "pybedtools_x.bam"), cwd=tmp_path)
    assert run("samtools", "view", "-c", svc.url("/reads/reads?class=header"), cwd=tmp_path).strip() == "0"


def test_post_regions(svc, local, tmp_path):
    regions = [{"referenceName": r, "start": s, "end": e} for r, s, e in BAM_REGIONS]
    body = {"format": "BAM", "regions": regions}
    ticket = svc.http.post(svc.url("/reads/reads"), json=body, timeout=60)
    assert ticket.status_code == 200 and ticket.headers["Content-Type"] == MEDIA
    urls = ticket.json()["htsget"]["urls"]
    assert urls[0]["url"].startswith("data:") and urls[-1]["url"].startswith("data:")


def test_restricted_source(svc, tmp_path):
    unknown = svc.get("/reads/nosuch")
    hidden = svc.get("/reads/secret")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["htsget"]["error"] == "NotFound"
    ticket = svc.get("/reads/secret?referenceName=chr2L&start=0&end=100000", headers=svc.auth()).json()
    ranged = [u for u in ticket["htsget"]["urls"] if not u["url"].startswith("data:")]
    assert ranged and all(u["headers"]["Authorization"] == svc.auth()["Authorization"] for u in ranged)
    without = svc.http.get(ranged[0]["url"], headers={"Range": ranged[0]["headers"]["Range"]}, timeout=60)
    assert without.status_code == 404
    assert svc.http.get(ranged[0]["url"], headers=ranged[0]["headers"], timeout=60).status_code == 206


@pytest.mark.parametrize("path,status,error", [
    ("/reads/reads?format=CRAM", 400, "UnsupportedFormat"),
    ("/reads/reads?start=5", 400, "InvalidInput"),
    ("/reads/reads?referenceName=chr2L&start=x", 400, "InvalidInput"),
    ("/reads/reads?referenceName=chr2L&start=10&end=5", 400, "InvalidRange"),
    ("/reads/reads?referenceName=nochr", 404, "NotFound"),
    ("/variants/reads", 404, "NotFound"),
])
def test_errors(svc, path, status, error):
    response = svc.get(path)
    assert response.status_code == status
    assert response.headers["Content-Type"] == MEDIA
    assert response.json()["htsget"]["error"] == error


def test_service_info(svc):
    for endpoint, fmt in (("reads", "BAM"), ("variants", "VCF")):
        info = svc.get(f"/{endpoint}/service-info").json()
        assert info["type"]["artifact"] == "htsget" and info["htsget"]["formats"] == [fmt]


@pytest.mark.parametrize("ref,start,end", BAM_REGIONS[:2])
def test_ga4gh_htsget_client(svc, local, tmp_path, ref, start, end):
    out = str(tmp_path / "client.bam")
    run("htsget", svc.url("/reads/reads"), "--reference-name", ref, "--start", str(start), "--end", str(end),
        "--output", out, cwd=tmp_path)
    run("samtools", "index", out, cwd=tmp_path)
    region = f"{ref}:{start + 1}-{end}"
    assert run("samtools", "view", out, region, cwd=tmp_path) == \
        run("samtools", "view", local["bam"], region, cwd=tmp_path)
    secret = str(tmp_path / "secret.bam")
    run("htsget", svc.url("/reads/secret"), "--reference-name", ref, "--start", str(start), "--end", str(end),
        "--bearer-token", svc.auth()["Authorization"].split()[1], "--output", secret, cwd=tmp_path)
    run("samtools", "index", secret, cwd=tmp_path)
    assert run("samtools", "view", secret, region, cwd=tmp_path) == \
        run("samtools", "view", local["bam"], region, cwd=tmp_path)


def test_csi_long_contig(svc, tmp_path):
    from long_contigs import FAR, LONG, write_sam, write_vcf

    positions = [1_000, 2_000, FAR, FAR + 5_000]
    folder = svc.base / "sources"
    sam = write_sam(folder / "long.sam", LONG, positions)
    vcf = write_vcf(folder / "long.vcf", LONG, positions)
    for source_id, path in (("longreads", sam), ("longcalls", vcf)):
        assert svc.register(source_id, path).status_code in (200, 201)
        cold = svc.get(f"/reads/{source_id}" if source_id == "longreads" else f"/variants/{source_id}")
        assert cold.status_code == 503 and cold.headers["Retry-After"]  # a cold cache starts the build
        assert cold.json()["htsget"]["error"] == "NotReady"
        assert svc.fetch(f"/data/{source_id}").status_code == 200
        assert svc.get(f"/files/{source_id}").json()["aliases"]["index"].endswith(".csi")
    # 0-based half-open [FAR - 1, FAR + 10) holds the reads/variants at 1-based FAR (only those)
    query = f"referenceName=chrL&start={FAR - 1}&end={FAR + 10}"
    reads = run("samtools", "view", svc.url(f"/reads/longreads?{query}"), cwd=tmp_path)
    got = {int(line.split("\t")[3]) for line in reads.splitlines()}
    assert FAR in got and 1_000 not in got
    calls = run("bcftools", "view", "-H",
                svc.url(f"/variants/longcalls?{query}"), cwd=tmp_path)
    got = {int(line.split("\t")[1]) for line in calls.splitlines()}
    assert FAR in got and 1_000 not in got


def test_htslib_on_a_cold_cache_fails_cleanly_then_reads_after_retry_after(svc, tmp_path):
    """Sources nothing has built yet: samtools and bcftools on their htsget URLs exit non-zero with no records (the
    ticket is 503 NotReady, and the request starts the build); once it is done the same commands return exactly
    the records the files were written with inside the region."""
    from long_contigs import write_sam, write_vcf

    positions = [5_000, 150_000, 400_000, 900_000]  # the region [100000, 500000) holds the middle two
    folder = svc.base / "sources"
    svc.register("cold-reads", write_sam(folder / "cold.sam", 1_000_000, positions))
    svc.register("cold-calls", write_vcf(folder / "cold.vcf", 1_000_000, positions))
    query = "referenceName=chrL&start=100000&end=500000"
    for source_id, tool, path, column in (
            ("cold-reads", ["samtools", "view"], f"/reads/cold-reads?{query}", 3),
            ("cold-calls", ["bcftools", "view", "-H"], f"/variants/cold-calls?{query}", 1)):
        cold = subprocess.run([*tool, svc.url(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert cold.returncode != 0 and cold.stdout == "", cold
        record = svc.get(f"/files/{source_id}").json()
        assert record["active_job"] or record["artifacts"]["data"]["ready"]  # the ticket request started it
        assert svc.fetch(f"/data/{source_id}").status_code == 200  # wait for that build
        warm = run(*tool, svc.url(path), cwd=tmp_path).splitlines()
        assert sorted(int(line.split("\t")[column]) for line in warm) == [150_000, 400_000]
