"""The JavaScript readers genome browsers use (JBrowse, igv.js): @gmod/bam and @gmod/tabix, pinned in
tests/js/package-lock.json, read trackprep's artifacts over HTTP from a real `trackprep serve`, through Range GETs
on the alias URLs. Long-contig BAM, VCF, GFF3 and BED past 2^29 through their CSI, a small BAM and BED through BAI
and TBI, and the reference FASTA (.fai + .gzi) through @gmod/indexedfasta. The records are compared with what
pysam reads from the same input, sorted and indexed here with samtools/tabix (never trackprep's own artifact).
Also the index discovery a browser does: the `.bai`/`.tbi` alias of a CSI artifact answers 404, the `.csi` alias
reads; and on a cold cache the first read answers 503 + Retry-After and a read retried after it succeeds."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pysam
import pytest

from conftest import REPO, Service, Source
from long_contigs import FAR, kind_of, long_inputs, write_bed, write_sam

JS = REPO / "tests" / "js"
READER = JS / "read_remote.mjs"
STAMP = JS / "node_modules" / ".trackprep-lock.sha256"  # written by .ci/setup after `npm ci`
REGION = f"chrL:{FAR - 100}-{FAR + 5_100}"  # both records past 2^29 (FAR and FAR + 5,000)
PRESETS = {"vcf": "vcf", "bed": "bed", "gff3": "gff"}  # tabix -p for each tabix kind
START_COLUMN = {"vcf": 1, "bed": 1, "gff3": 3}  # the column tabix sorts and indexes by


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with tests/js/node_modules installed from the current lock; fails (never skips)
    otherwise: node and npm are on every machine this suite runs on, and .ci/setup installs the readers."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH: install Node 20 and npm, then run `bash .ci/setup`")
    lock = hashlib.sha256((JS / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.is_file() or STAMP.read_text().strip() != lock:
        pytest.fail("tests/js/node_modules is missing or older than tests/js/package-lock.json: run `bash .ci/setup`"
                    " (it runs `npm ci --prefix tests/js`)")
    return found


def read_remote(node: str, kind: str, data_url: str, index_url: str, region: str,
                *extra: str) -> subprocess.CompletedProcess:
    """Run tests/js/read_remote.mjs (one region, one JSON object per record on stdout)."""
    return subprocess.run([node, str(READER), kind, data_url, index_url, region, *extra], capture_output=True,
                          text=True, timeout=120)


def records(result: subprocess.CompletedProcess) -> list[dict]:
    """The records a successful read printed."""
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def http_reports(result: subprocess.CompletedProcess) -> list[dict]:
    """The non-2xx HTTP answers the reader saw ({"http_status", "retry_after", "url"} lines on stderr)."""
    return [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"http_status"')]


def expected_records(source: Path, kind: str, region: str, folder: Path) -> list:
    """What pysam reads for `region` from the input file itself, sorted and indexed here by samtools/tabix
    (CSI, which addresses any position): BAM reads as {name, ref, start, end}, tabix kinds as their lines."""
    folder.mkdir(exist_ok=True)
    if kind == "bam":
        local = folder / "local.bam"
        subprocess.run(["samtools", "sort", "-o", str(local), str(source)], check=True, capture_output=True)
        subprocess.run(["samtools", "index", "-c", str(local)], check=True, capture_output=True)
        with pysam.AlignmentFile(str(local)) as bam:
            return [{"name": read.query_name, "ref": read.reference_name, "start": read.reference_start,
                     "end": read.reference_end} for read in bam.fetch(region=region)]
    lines = source.read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    start = START_COLUMN[kind]
    body = sorted((line.split("\t") for line in lines if line and not line.startswith("#")),
                  key=lambda cols: (cols[0], int(cols[start])))
    plain = folder / f"local.{kind}"
    plain.write_text("\n".join(header + ["\t".join(cols) for cols in body]) + "\n")
    subprocess.run(["bgzip", "-f", str(plain)], check=True)
    subprocess.run(["tabix", "--csi", "-p", PRESETS[kind], f"{plain}.gz"], check=True)
    with pysam.TabixFile(f"{plain}.gz", index=f"{plain}.gz.csi") as tabix:
        return list(tabix.fetch(region=region))


def assert_same_records(kind: str, got: list[dict], expected: list) -> None:
    """The reader's records are the expected ones, in order: BAM reads as {name, ref, start, end}, tabix records
    as the whole input lines (these inputs need no normalising, so the artifact keeps them byte for byte)."""
    assert (got if kind == "bam" else [record["line"] for record in got]) == expected


def build(service: Service, source_id: str, source: Source) -> dict:
    """Register a local source, build it through /data, and return its alias URLs (absolute)."""
    assert service.register(source_id, source.access_url).status_code == 201
    assert service.fetch(f"/data/{source_id}").status_code == 200
    aliases = service.get(f"/files/{source_id}").json()["aliases"]
    return {role: service.url(path) for role, path in aliases.items() if path}


@pytest.mark.parametrize("name", ["long.sam", "long.vcf", "long.bed", "long.gff3"])
def test_gmod_readers_read_past_2_29_through_the_csi_alias(service, node, name: str):
    source, _ = long_inputs(service.base / "sources")[name]
    kind = kind_of(name)
    aliases = build(service, "s", source)
    assert aliases["index"] == aliases["data"] + ".csi"
    expected = expected_records(Path(source.access_url), kind, REGION, service.base / "expected")
    assert len(expected) == 2  # the two records past 2^29, known from the input
    got = records(read_remote(node, "bam" if kind == "bam" else "tabix", aliases["data"], aliases["index"], REGION))
    assert_same_records(kind, got, expected)


@pytest.mark.parametrize("name", ["small.sam", "small.bed"])
def test_gmod_readers_read_a_small_artifact_through_its_bai_or_tbi(service, node, name: str):
    folder = service.base / "sources"
    path = write_sam(folder / name, 100_000, [1_000, 2_000, 50_000]) if name.endswith(".sam") \
        else write_bed(folder / name, [1_000, 2_000, 50_000])
    kind, region = kind_of(name), "chrL:900-2100"
    aliases = build(service, "s", Source.local(path))
    assert aliases["index"] == aliases["data"] + (".bai" if kind == "bam" else ".tbi")
    assert service.http.get(aliases["data"] + ".csi", timeout=30).status_code == 404
    expected = expected_records(path, kind, region, service.base / "expected")
    assert len(expected) == 2
    got = records(read_remote(node, "bam" if kind == "bam" else "tabix", aliases["data"], aliases["index"], region))
    assert_same_records(kind, got, expected)


@pytest.mark.parametrize("name", ["long.sam", "long.vcf"])
def test_a_browser_finds_the_csi_after_the_small_index_answers_404(service, node, name: str):
    """igv.js and JBrowse try `<data>.bai`/`.tbi` first and take `<data>.csi` when that answers 404: through the
    generic alias names (`data.bam`, `data.bam.csi`, `data.vcf.gz`, `data.vcf.gz.csi`) as through the unique ones."""
    source, _ = long_inputs(service.base / "sources")[name]
    kind = kind_of(name)
    reader = "bam" if kind == "bam" else "tabix"
    unique = build(service, "s", source)
    generic = service.url("/data/s/" + ("data.bam" if kind == "bam" else "data.vcf.gz"))
    expected = expected_records(Path(source.access_url), kind, REGION, service.base / "expected")
    for data_url in (unique["data"], generic):
        small = data_url + (".bai" if kind == "bam" else ".tbi")
        tried = read_remote(node, reader, data_url, small, REGION)
        assert tried.returncode != 0 and tried.stdout == "", tried
        assert {"http_status": 404, "retry_after": None, "url": small} in http_reports(tried), tried.stderr
        got = records(read_remote(node, reader, data_url, data_url + ".csi", REGION))
        assert_same_records(kind, got, expected)
    assert len(service.jobs()) == 1  # neither the 404s nor the reads started anything


def test_a_cold_read_answers_503_and_a_retry_after_retry_after_reads(service, node):
    """Cold cache: the reader's first request answers 503 + Retry-After (and starts the build); the reader fails
    cleanly; run again after Retry-After, as a browser retries, it reads the records past 2^29."""
    source, _ = long_inputs(service.base / "sources")["long.sam"]
    assert service.register("s", source.access_url).status_code == 201
    data_url = service.url(service.get("/files/s").json()["aliases"]["data"])
    expected = expected_records(Path(source.access_url), "bam", REGION, service.base / "expected")
    attempts, deadline = [], time.monotonic() + 300
    while True:
        result = read_remote(node, "bam", data_url, data_url + ".csi", REGION)
        attempts.append(result)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        assert result.stdout == "", result.stdout
        (report, *_) = http_reports(result)
        assert report["http_status"] == 503, result.stderr
        time.sleep(int(report["retry_after"]))
    assert len(attempts) >= 2, "the first read of a cold source did not answer 503"
    assert records(attempts[-1]) == expected
    assert len(service.jobs()) == 1  # the retries joined the build the first miss started


def test_indexedfasta_reads_the_reference_fasta_through_fai_and_gzi(service, node):
    """The reference FASTA artifact (`data.fa.gz` + `.fai` + `.gzi`) read by @gmod/indexedfasta over HTTP."""
    folder = service.base / "sources"
    sequences = {"chrA": "ACGT" * 5_000, "chrB": "".join("ACGT"[(i * 7) % 4] for i in range(30_000))}
    path = folder / "ref.fa"
    path.write_text("".join(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n"
                            for name, seq in sequences.items()))
    aliases = build(service, "f", Source.local(path))
    assert (aliases["index"], aliases["gzi"]) == (aliases["data"] + ".fai", aliases["data"] + ".gzi")
    for name, start, end in (("chrA", 101, 160), ("chrB", 25_001, 25_400)):
        got = records(read_remote(node, "fasta", aliases["data"], aliases["index"], f"{name}:{start}-{end}",
                                  aliases["gzi"]))
        assert got == [{"ref": name, "start": start - 1, "end": end, "seq": sequences[name][start - 1:end]}]


def test_the_js_readers_are_pinned_exactly_and_listed_with_their_licences():
    """package.json names exact versions, the lock installs those, every locked package is in LICENSES.md with
    its version and licence, and node_modules is never committed."""
    package = json.loads((JS / "package.json").read_text())["dependencies"]
    assert {"@gmod/bam", "@gmod/tabix", "generic-filehandle2"} <= set(package)
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in package.values()), package
    locked = json.loads((JS / "package-lock.json").read_text())["packages"]
    assert locked[""]["dependencies"] == package
    listed = (JS / "LICENSES.md").read_text()
    for key, meta in locked.items():
        if key:
            name = key.split("node_modules/")[-1]
            assert f"| {name} | {meta['version']} | {meta['license']} |" in listed, name
            if name in package:
                assert meta["version"] == package[name], name
    ignored = subprocess.run(["git", "check-ignore", "-q", "tests/js/node_modules/x"], cwd=REPO)
    assert ignored.returncode == 0, "tests/js/node_modules is not in .gitignore"
