"""Genome views of several tracks on one reference FASTA, and an SSR analysis in the genome view: the derived
sources its link registers (what they hold, and who may read them), against a real `trackprep serve` that runs
the shared sample's analysis with snakemake."""
from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pysam
import pytest

from conftest import CROSSROAD, TRACKS, Service

SAMPLE = {"fasta_file": CROSSROAD / "1small.fa", "categories_file": CROSSROAD / "3.tsv",
          "gene_bed": CROSSROAD / "2.bed"}
PARTS = ("genomes", "ssrs", "hotspots", "genes")


def submit_sample(svc: Service) -> str:
    handles = {name: open(path, "rb") for name, path in SAMPLE.items()}
    try:
        response = svc.http.post(svc.url("/analyze_ssr/"), files=handles, data={"flanks": "false"}, timeout=120)
    finally:
        for handle in handles.values():
            handle.close()
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A service that has analysed the shared SSR sample (no flanks: the tables the view reads)."""
    svc = Service(tmp_path_factory.mktemp("ui-views")).start()
    job_id = submit_sample(svc)
    final = svc.wait_job(job_id, timeout=600)
    assert final["status"] == "completed", final
    yield svc, job_id
    svc.stop()


def built(svc: Service, source_id: str, headers: dict | None = None) -> None:
    """Start the source's build through /data (without the token unless given) and wait for it."""
    response = svc.http.get(svc.url(f"/data/{source_id}"), headers=headers or {}, timeout=60, stream=True)
    if response.status_code == 202:
        final = svc.wait_job(response.json()["job_id"], timeout=300, headers=headers)
        assert final["status"] == "completed", final
    else:
        assert response.status_code == 200, response.text
    response.close()


def table(svc: Service, job_id: str, rel: str) -> list[dict[str, str]]:
    text = svc.get(f"/api/job/{job_id}/download/{rel}").text
    return list(csv.DictReader(io.StringIO(text), delimiter="\t" if rel.endswith(".tsv") else ","))


def bed_records(svc: Service, source_id: str) -> list[tuple[str, int, int, str]]:
    body = gzip.decompress(svc.get(f"/data/{source_id}").content).decode()
    return [(f[0], int(f[1]), int(f[2]), f[3]) for f in (line.split("\t") for line in body.splitlines())]


def test_a_completed_analysis_opens_its_genomes_and_loci_in_one_view(analysed):
    svc, job_id = analysed
    page = svc.get(f"/ui/jobs/{job_id}").text
    assert f'href="/ui/ssr/{job_id}/genome-view"' in page

    opened = svc.http.get(svc.url(f"/ui/ssr/{job_id}/genome-view"), allow_redirects=False, timeout=120)
    assert opened.status_code == 303, opened.text
    target = urlsplit(opened.headers["Location"])
    ids = {part: f"ssr-{job_id}-{part}" for part in PARTS}
    assert target.path == "/ui/views/genome"
    assert parse_qs(target.query) == {"reference": [ids["genomes"]],
                                      "tracks": [",".join(ids[p] for p in PARTS[1:])]}
    # a second click finds the same sources
    again = svc.http.get(svc.url(f"/ui/ssr/{job_id}/genome-view"), allow_redirects=False, timeout=120)
    assert again.headers["Location"] == opened.headers["Location"]
    view = svc.get(opened.headers["Location"])
    assert view.status_code == 200
    for source_id in ids.values():
        assert f'data-source-id="{source_id}"' in view.text

    # the SSR track holds every SSR of the result table, the hotspot track every hotspot SSR's locus
    for source_id in ids.values():
        built(svc, source_id)
    ssrs = table(svc, job_id, "intrim/reformatted.tsv")
    assert len(ssrs) > 1000
    assert {(r["genomeID"], int(r["start"]), int(r["stop"])) for r in ssrs} == \
        {record[:3] for record in bed_records(svc, ids["ssrs"])}
    hssr = table(svc, job_id, "main/hssr_data.csv")
    hotspots = bed_records(svc, ids["hotspots"])
    assert hssr and {(r["genomeID"], int(r["start1"]), int(r["end1"])) for r in hssr} == \
        {record[:3] for record in hotspots}
    assert all(name.split(":")[0].startswith("OPG") for *_, name in hotspots)
    genes = bed_records(svc, ids["genes"])
    with open(SAMPLE["gene_bed"]) as handle:
        assert len(genes) == sum(1 for line in handle if line.strip())

    # the genomes are the reference: BGZF FASTA, .fai and .gzi through ranged alias URLs
    reference = svc.get(f"/ui/views/reference/{ids['genomes']}").json()
    assert reference["fastaURL"].endswith(".fa.gz") and reference["indexURL"].endswith(".fa.gz.fai")
    assert reference["compressedIndexURL"].endswith(".fa.gz.gzi")
    with open(SAMPLE["fasta_file"]) as handle:
        names = [line[1:].split()[0] for line in handle if line.startswith(">")]
    fai = svc.get(reference["indexURL"]).text
    assert [line.split("\t")[0] for line in fai.splitlines()] == names
    ranged = svc.get(reference["fastaURL"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert svc.get(reference["compressedIndexURL"], headers={"Range": "bytes=0-7"}).status_code == 206
    # the SSR track's settings name a first locus on one of the genomes
    settings = svc.get(f"/ui/sources/{ids['ssrs']}/genome").json()
    assert settings["locus"].split(":")[0] in names and settings["reference"] is None


def test_derived_sources_are_unlisted_but_open_to_their_id(analysed):
    svc, job_id = analysed
    svc.http.get(svc.url(f"/ui/ssr/{job_id}/genome-view"), allow_redirects=False, timeout=120)
    ids = [f"ssr-{job_id}-{part}" for part in PARTS]
    listed_public = [row["id"] for row in svc.get("/files").json()["files"]]
    assert not set(ids) & set(listed_public)
    assert not any(source_id in svc.get("/").text for source_id in ids)
    listed_operator = [row["id"] for row in svc.get("/files", headers=svc.auth()).json()["files"]]
    assert set(ids) <= set(listed_operator)
    for source_id in ids:
        record = svc.get(f"/files/{source_id}")
        assert record.status_code == 200 and record.json()["access"] == "restricted"
    built(svc, ids[1])
    data = svc.get(f"/data/{ids[1]}")
    assert data.status_code == 200 and data.headers["Cache-Control"] == "private"
    # the jobs that build them are not listed either
    assert not any(job.get("source_id") in ids for job in svc.get("/jobs").json()["jobs"])
    # a restricted source under a look-alike id of no SSR job stays closed without the token
    fake = f"ssr-{uuid.uuid4().hex}-ssrs"
    assert svc.register(fake, TRACKS / "htslib_bed_file.bed", access="restricted").status_code == 201
    assert svc.get(f"/files/{fake}").status_code == 404
    assert svc.get(f"/files/{fake}", headers=svc.auth()).status_code == 200


def test_the_view_link_refuses_what_is_not_a_completed_analysis(analysed):
    svc, _job_id = analysed
    missing = svc.http.get(svc.url(f"/ui/ssr/{uuid.uuid4().hex}/genome-view"), allow_redirects=False, timeout=60)
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/html")
    assert svc.register("plain-peaks", TRACKS / "htslib_bed_file.bed").status_code == 201
    not_fasta = svc.get("/ui/views/genome", params={"reference": "plain-peaks", "tracks": "plain-peaks"})
    assert not_fasta.status_code == 400 and "not a fasta source" in not_fasta.text
    assert svc.get("/ui/views/genome", params={"reference": "nope", "tracks": "plain-peaks"}).status_code == 404
    assert svc.get("/ui/views/reference/plain-peaks").status_code == 404
    assert json.loads(svc.get("/ui/views/reference/nope").text)["error"]


def test_a_source_naming_a_reference_gets_it_in_its_genome_settings(analysed, tmp_path):
    svc, _job_id = analysed
    sources = svc.base / "sources"
    sources.mkdir(exist_ok=True)
    first = next(pysam.FastxFile(str(SAMPLE["fasta_file"])))
    ref = sources / "one-genome.fa"
    ref.write_text(f">{first.name}\n{first.sequence}\n")
    sam = sources / "reads.sam"
    seq = first.sequence[1000:1100]
    sam.write_text(f"@SQ\tSN:{first.name}\tLN:{len(first.sequence)}\n"
                   f"r1\t0\t{first.name}\t1001\t60\t100M\t*\t0\t0\t{seq}\t{'I' * 100}\n")
    cram = sources / "reads.cram"
    pysam.view("-C", "-T", str(ref), "-o", str(cram), str(sam), catch_stdout=False)
    assert svc.register("one-genome", ref, format="fasta").status_code == 201
    assert svc.register("reads-on-ref", cram, format="cram", reference="one-genome").status_code == 201
    built(svc, "reads-on-ref")
    settings = svc.get("/ui/sources/reads-on-ref/genome").json()
    pending = settings["reference_source"]
    assert pending["id"] == "one-genome" and pending["settings_url"] == "/ui/views/reference/one-genome"
    built(svc, "one-genome")  # what the page does when the reference's own artifact is not complete yet
    reference = svc.get("/ui/sources/reads-on-ref/genome").json()["reference"]
    assert reference == svc.get(pending["settings_url"]).json()
    aliases = svc.get("/files/one-genome").json()["aliases"]
    assert reference["id"] == "one-genome"
    assert (reference["fastaURL"], reference["indexURL"], reference["compressedIndexURL"]) == \
        (aliases["data"], aliases["index"], aliases["gzi"])
    assert svc.get(reference["fastaURL"], headers={"Range": "bytes=0-9"}).status_code == 206
    # a source without a reference keeps the artifact's own names and lengths
    assert svc.register("peaks", TRACKS / "htslib_bed_file.bed").status_code == 201
    built(svc, "peaks")
    plain = svc.get("/ui/sources/peaks/genome").json()
    assert plain["reference"] is None and plain["reference_source"] is None
