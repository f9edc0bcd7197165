"""Feature name search (GET /features/{id}) on a real `trackprep serve`, and the name index a plain
`snakemake` run builds at its cache path.

Every expected name and coordinate is read from the input file here, with a parse of its own (GFF/GTF rows
split on tabs and ``;``, BED column 4, a bigBed through pyBigWig): never from the index under test.
Coordinates are 0-based, half-open: a GFF row ``start..end`` is expected at ``start - 1, end``.
"""
from __future__ import annotations

import gzip
import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote

import pyBigWig
import pytest

from conftest import TRACKS, Source, dump

from webapp import feature_index, layout

NAME_KEYS = ("Name", "ID", "gene_name", "gene_id", "transcript_name", "transcript_id")
GTF_ATTR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s+"([^"]*)"')


def text_lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as handle:
        return handle.read().splitlines()


def gff_records(path: Path) -> list[tuple[str, str, int, int, dict[str, str]]]:
    """(chrom, type, start, end, attributes) of every feature row; GTF and GFF3 attribute syntax both."""
    rows = []
    for line in text_lines(path):
        if line.startswith("##FASTA"):
            break
        if not line or line.startswith("#"):
            continue
        chrom, _src, kind, start, end, _s, _st, _ph, column = line.split("\t")[:9]
        attrs = {}
        for part in column.split(";"):
            gtf = GTF_ATTR.match(part)
            if gtf:
                attrs.setdefault(gtf.group(1), gtf.group(2))
            elif "=" in part:
                key, value = part.strip().split("=", 1)
                attrs.setdefault(key, unquote(value))
        rows.append((chrom, kind, int(start), int(end), attrs))
    return rows


def gff_names(path: Path) -> set[str]:
    return {attrs[key] for *_, attrs in gff_records(path) for key in NAME_KEYS if attrs.get(key)}


def bed_records(path: Path) -> list[tuple[str, int, int, str]]:
    """(chrom, start, end, name) of every BED row with a name in column 4."""
    if path.suffix == ".bigBed":
        with pyBigWig.open(str(path)) as bb:
            return [(chrom, start, end, rest.split("\t")[0]) for chrom, size in bb.chroms().items()
                    for start, end, rest in (bb.entries(chrom, 0, size) or [])]
    rows = []
    for line in text_lines(path):
        fields = line.split("\t")
        if line.startswith(("#", "track", "browser")) or len(fields) < 4 or fields[3] in ("", "."):
            continue
        rows.append((fields[0], int(fields[1]), int(fields[2]), fields[3]))
    return rows


def index_rows(path: Path) -> list[tuple[str, str, int, int]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute('SELECT name, chrom, start, "end" FROM features').fetchall()


def hits(response) -> list[tuple[str, str, int, int]]:
    assert response.status_code == 200, response.text
    return [(f["name"], f["chrom"], f["start"], f["end"]) for f in response.json()["features"]]


# ---- the engine: plain snakemake on the target path

ANNOTATIONS = ["htslib_gff_file.gff", "pybedtools_hg19.gff", "pyranges_ensembl.gtf",
               "pyranges_gencode_human.gtf.gz", "htslib_bed_file.bed", "pybedtools_example.narrowPeak",
               "pybedtools_CTCF_Kc_Bushey_2009.bed", "pybigwig_test.bigBed"]


def test_plain_snakemake_builds_an_index_holding_every_distinct_name_of_each_annotation(engine):
    sources = [Source.local(TRACKS / name) for name in ANNOTATIONS]
    targets = {}
    for source in sources:
        fmt = source.format or layout.infer_format(source.access_url)
        targets[source.access_url] = engine.cache / "v2" / fmt / source.md5 / "features.sqlite"
    result = engine.run(sources, list(targets.values()))
    assert result.returncode == 0, result.stderr[-4000:]
    for access_url, target in targets.items():
        path = Path(access_url)
        rows = index_rows(target)
        if path.suffix in (".gff", ".gtf", ".gz"):
            want = gff_names(path)
        else:
            want = {name for *_, name in bed_records(path)}
        assert {name for name, *_ in rows} == want, path.name
        assert not target.with_name("features.sqlite.tmp").exists()
        if path.suffix in (".bed", ".narrowPeak", ".bigBed"):  # every named row is a feature of its own
            assert sorted(set(rows)) == sorted({(n, c, s, e) for c, s, e, n in bed_records(path)})
    # the GTFs: every gene is found under its gene_id and gene_name at its gene row's span
    for name in ("pyranges_ensembl.gtf", "pyranges_gencode_human.gtf.gz"):
        rows = set(index_rows(targets[str(TRACKS / name)]))
        genes = [(chrom, start - 1, end, attrs)
                 for chrom, kind, start, end, attrs in gff_records(TRACKS / name) if kind == "gene"]
        assert genes
        for chrom, start, end, attrs in genes:
            assert (attrs["gene_id"], chrom, start, end) in rows
            assert (attrs["gene_name"], chrom, start, end) in rows
    # a GFF3 without IDs on its exons: each named exon is found at its own row
    rows = set(index_rows(targets[str(TRACKS / "htslib_gff_file.gff")]))
    for chrom, kind, start, end, attrs in gff_records(TRACKS / "htslib_gff_file.gff"):
        if "ID" not in attrs and "Name" in attrs:
            assert (attrs["Name"], chrom, start - 1, end) in rows


def test_a_generated_gff3_groups_rows_by_id_decodes_names_and_keeps_unicode(engine):
    gff = engine.workdir / "made.gff3"
    gff.write_text(
        "##gff-version 3\n"
        "chrA\tmade\tgene\t101\t900\t.\t+\t.\tID=gene%3B1;Name=Ärger%2Cgen\n"
        "chrA\tmade\tmRNA\t101\t900\t.\t+\t.\tID=tx1;Parent=gene%3B1;Name=ÄRGER-T1\n"
        # one CDS in two rows (one ID): one feature from the first row's start to the last row's end
        "chrA\tmade\tCDS\t151\t300\t.\t+\t0\tID=cds1;Parent=tx1\n"
        "chrA\tmade\tCDS\t501\t800\t.\t+\t0\tID=cds1;Parent=tx1\n"
        "chrB\tmade\tgene\t1\t10\t.\t+\t.\tID=twin;Name=twin\n"
        "chrB\tmade\tgene\t1001\t1010\t.\t+\t.\tID=twin2;Name=twin\n"
        "##FASTA\n>chrA\nACGT\n")
    source = Source.local(gff, format="gff3")
    target = engine.cache / "v2" / "gff3" / source.md5 / "features.sqlite"
    result = engine.run([source], [target])
    assert result.returncode == 0, result.stderr[-4000:]
    assert sorted(index_rows(target)) == sorted([
        ("gene;1", "chrA", 100, 900), ("Ärger,gen", "chrA", 100, 900), ("tx1", "chrA", 100, 900),
        ("ÄRGER-T1", "chrA", 100, 900), ("cds1", "chrA", 150, 800), ("twin", "chrB", 0, 10),
        ("twin2", "chrB", 1000, 1010), ("twin", "chrB", 1000, 1010)])
    # Unicode case folding: "är" finds both spellings of the umlaut; the prefix "tw" both twins, in order
    with feature_index.connect(str(target)) as db:
        assert [f["name"] for f in feature_index.search(db, "är", 10)] == ["Ärger,gen", "ÄRGER-T1"]
        assert [(f["name"], f["start"]) for f in feature_index.search(db, "TW", 10)] == \
            [("twin", 0), ("twin", 1000), ("twin2", 1000)]


def test_a_malformed_row_fails_the_index_naming_the_stage_and_the_line(engine):
    gff = engine.workdir / "bad.gff3"
    gff.write_text("##gff-version 3\nchrA\tmade\tgene\t101\t900\t.\t+\t.\tID=g1\nchrA\tmade\tgene\tten\t20\n")
    source = Source.local(gff, format="gff3")
    target = engine.cache / "v2" / "gff3" / source.md5 / "features.sqlite"
    result = engine.run([source], [target])
    assert result.returncode != 0
    log = (engine.cache / "logs" / "v2" / "gff3" / source.md5 / "feature_names_sqlite.log").read_text()
    assert "feature_names: " in log and "line 3" in log
    assert not target.exists() and not target.with_name("features.sqlite.tmp").exists()


# ---- the service

def test_cold_search_is_202_then_finds_a_gene_at_its_gff_coordinates_by_any_case_prefix(service):
    path = TRACKS / "htslib_gff_file.gff"
    assert service.register("ann", path).status_code == 201
    assert service.http.head(service.url("/features/ann?q=x")).status_code == 404  # a probe starts nothing
    assert service.jobs() == []
    cold = service.get("/features/ann", params={"q": "OTTHUMG"})
    assert cold.status_code == 202, cold.text
    body = cold.json()
    assert cold.headers["Location"] == body["status_url"] == f"/jobs/{body['job_id']}"
    assert cold.headers["Retry-After"] == "5"
    # /data of the same source attaches to that one job (one workflow key), and so does a second search
    assert service.get("/data/ann").json()["job_id"] == body["job_id"]
    assert service.get("/features/ann", params={"q": "x"}).json()["job_id"] == body["job_id"]
    job = service.wait_job(body["job_id"])
    assert job["status"] == "completed", dump(job)
    assert any(a.endswith("/features.sqlite") for a in job["artifacts"])

    (gene,) = [(attrs["ID"], chrom, start - 1, end) for chrom, kind, start, end, attrs in gff_records(path)
               if kind == "gene"]
    for query in ("OTTHUMG", "otthumg", "oTtHuMg00000137358"):
        response = service.get("/features/ann", params={"q": query})
        body = response.json()
        assert body["source"] == "ann" and body["query"] == query
        assert body["coordinates"] == "0-based, half-open"
        assert hits(response) == [gene]  # ID and Name are the same string here: one feature
    # the features job built the artifact too (one workflow key): /data is served without a new job
    jobs_before = len(service.jobs())
    assert service.get("/data/ann").status_code == 200
    assert len(service.jobs()) == jobs_before
    assert hits(service.get("/features/ann", params={"q": "no-such-name"})) == []


def test_limit_is_honoured_in_key_order(service):
    path = TRACKS / "pybedtools_hg19.gff"
    service.register("hg19", path)
    expected = sorted(((attrs["ID"].lower(), attrs["ID"], chrom, start - 1, end)
                       for chrom, _kind, start, end, attrs in gff_records(path) if attrs["ID"].lower()
                       .startswith("nm_00")), key=lambda row: row)
    assert len(expected) > 100
    got = hits(service.fetch("/features/hg19?q=nm_00&limit=7"))
    assert got == [row[1:] for row in expected[:7]]
    assert len(hits(service.get("/features/hg19?q=NM_00"))) == 20  # the default
    assert hits(service.get("/features/hg19?q=NM_00&limit=100")) == [row[1:] for row in expected[:100]]


def test_gtf_gene_name_and_transcript_name_are_found_at_their_rows_spans(service):
    path = TRACKS / "pyranges_ensembl.gtf"
    service.register("gtf", path)
    records = gff_records(path)
    (gene,) = [(chrom, start - 1, end) for chrom, kind, start, end, a in records
               if kind == "gene" and a["gene_name"] == "DDX11L1"]
    transcripts = sorted((a["transcript_name"], chrom, start - 1, end)
                         for chrom, kind, start, end, a in records
                         if kind == "transcript" and a["gene_name"] == "DDX11L1")
    assert transcripts
    got = hits(service.fetch("/features/gtf?q=ddx11l1"))
    assert got == [("DDX11L1", *gene)] + transcripts
    gene_id = next(a["gene_id"] for _c, kind, *_r, a in records
                   if kind == "gene" and a["gene_name"] == "DDX11L1")
    assert hits(service.get(f"/features/gtf?q={gene_id.lower()}")) == [(gene_id, *gene)]


def test_bed_name_column_is_searched_and_unnamed_peaks_give_nothing(service):
    path = TRACKS / "htslib_bed_file.bed"
    service.register("bed", path)
    want = sorted((name, chrom, start, end) for chrom, start, end, name in bed_records(path)
                  if name.lower().startswith("x1"))
    assert want
    assert sorted(hits(service.fetch("/features/bed?q=x1&limit=100"))) == want
    service.register("peaks", TRACKS / "pybedtools_example.narrowPeak")  # every name is "."
    assert hits(service.fetch("/features/peaks?q=.")) == []


def test_restricted_source_answers_like_data_without_the_token(service):
    service.register("secret", TRACKS / "htslib_bed_file.bed", access="restricted")
    without = service.get("/features/secret?q=x")
    assert without.status_code == service.get("/data/secret").status_code == 404
    assert without.json()["error"] == "not_found"
    assert service.jobs() == []
    got = service.fetch("/features/secret?q=X1", headers=service.auth())
    assert got.status_code == 200 and got.json()["features"]
    assert got.headers["Cache-Control"] == "private"
    assert service.get("/features/secret?q=x").status_code == 404


@pytest.mark.parametrize("query", ["", "?q=", "?q=%20", "?q=a&limit=0", "?q=a&limit=101", "?q=a&limit=abc",
                                   "?q=a&limit=-1", "?q=a&limit=2.5", "?q=a&limit=", "?q=" + "a" * 257])
def test_bad_parameters_are_400_with_a_reason_and_start_nothing(api, query):
    service = api
    service.register("bed", TRACKS / "htslib_bed_file.bed")
    response = service.get(f"/features/bed{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "bad_request" and ("q " in body["detail"] or "limit" in body["detail"])
    assert service.jobs() == []


def test_unknown_source_is_404_and_a_format_without_names_is_422(api):
    service = api
    assert service.get("/features/nobody?q=a").status_code == 404
    service.register("reads", TRACKS / "pybedtools_x.bam")
    service.register("calls", TRACKS / "htslib_index.vcf")
    for source_id in ("reads", "calls"):
        response = service.get(f"/features/{source_id}?q=a")
        assert response.status_code == 422
        assert "annotation formats" in response.json()["detail"]
    assert service.jobs() == []


def test_a_failed_build_is_remembered_as_data_does_and_delete_removes_the_index(service):
    service.register("bad", TRACKS / "pybedtools_dm3-chr2L-5M-invalid.gff.gz")
    cold = service.get("/features/bad?q=a")
    assert cold.status_code == 202
    job = service.wait_job(cold.json()["job_id"])
    assert job["status"] == "failed", dump(job)
    for path in ("/features/bad?q=a", "/data/bad"):  # one key: the same remembered failure, no new job
        again = service.get(path)
        assert again.status_code == 409 and again.json()["job_id"] == job["job_id"], path
    assert len(service.jobs()) == 1

    service.register("ann", TRACKS / "htslib_bed_file.bed")
    assert hits(service.fetch("/features/ann?q=x1"))
    (index,) = service.cache.rglob("features.sqlite")
    assert service.http.delete(service.url("/files/ann"), headers=service.auth()).status_code == 200
    assert not index.exists()
    assert service.get("/features/ann?q=x1").status_code == 404
