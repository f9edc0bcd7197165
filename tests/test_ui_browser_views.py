"""Genome views with a reference FASTA in a real browser (Debian's chromium driven by Playwright) against a real
`trackprep serve`: a CRAM shown on its registered reference, and an SSR analysis of the shared sample opened
from its job page in one view (its genomes as the reference; SSRs, hotspot SSRs and genes as tracks).

Run with ``python3 -m pytest -m browser tests/test_ui_browser_views.py``. Console errors fail a test (the
``page`` fixture of test_ui_browser)."""
from __future__ import annotations

import pysam
import pytest

import test_ui_browser as shared
from conftest import CROSSROAD, TRACKS, Service
from test_ui_browser import screenshot, wait_drawn

browser, page = shared.browser, shared.page  # the shared fixtures (Chromium; a page failing on console errors)
expected_http_errors = shared.expected_http_errors  # the page fixture asks for it (none expected here)

pytestmark = pytest.mark.browser
SAMPLE = {"fasta_file": CROSSROAD / "1small.fa", "categories_file": CROSSROAD / "3.tsv",
          "gene_bed": CROSSROAD / "2.bed"}


@pytest.fixture(scope="module")
def views_service(tmp_path_factory):
    """One `trackprep serve` for these views."""
    svc = Service(tmp_path_factory.mktemp("ui-views-browser")).start()
    yield svc
    svc.stop()


def first_genome() -> pysam.FastxRecord:
    with pysam.FastxFile(str(SAMPLE["fasta_file"])) as records:
        return next(records)


@pytest.fixture(scope="module")
def genome_one(views_service) -> pysam.FastxRecord:
    """The sample's first genome registered as the reference FASTA ``genome-1``, and 40 reads on it as the CRAM
    ``reads-on-genome-1`` that names it."""
    svc = views_service
    folder = svc.base / "sources"
    folder.mkdir(exist_ok=True)
    genome = first_genome()
    ref = folder / "genome-1.fa"
    ref.write_text(f">{genome.name}\n{genome.sequence}\n")
    reads = "".join(f"r{n}\t0\t{genome.name}\t{1001 + 7 * n}\t60\t80M\t*\t0\t0\t"
                    f"{genome.sequence[1000 + 7 * n:1080 + 7 * n]}\t{'I' * 80}\n" for n in range(40))
    sam = folder / "reads.sam"
    sam.write_text(f"@SQ\tSN:{genome.name}\tLN:{len(genome.sequence)}\n{reads}")
    cram = folder / "reads.cram"
    pysam.view("-C", "-T", str(ref), "-o", str(cram), str(sam), catch_stdout=False)
    assert svc.register("genome-1", ref, format="fasta").status_code == 201
    assert svc.register("reads-on-genome-1", cram, format="cram", reference="genome-1").status_code == 201
    return genome


def test_a_cram_on_its_registered_reference_shows_the_reference_sequence(views_service, genome_one, page,
                                                                         tmp_path):
    svc, genome = views_service, genome_one
    page.goto(svc.url("/ui/sources/reads-on-genome-1"))
    wait_drawn(page)
    assert page.evaluate("window.trackprepView.reference") == "genome-1"
    assert page.evaluate("window.trackprepView.browser.findTracks(t => t.type === 'sequence').length") == 1
    # igv.js reads the bases through the FASTA's ranged alias URLs (BGZF + .fai + .gzi)
    bases = page.evaluate(f"window.trackprepView.browser.genome.getSequence({genome.name!r}, 1000, 1060)")
    assert bases.upper() == genome.sequence[1000:1060].upper()
    page.wait_for_function("Promise.resolve(window.trackprepView.featuresInView()).then(n => n >= 40)",
                           timeout=30_000, polling=250)
    screenshot(page, tmp_path, "genome-view-reference")


def test_a_view_of_several_tracks_leaves_out_one_that_cannot_be_built(views_service, genome_one, page):
    """Cold sources are built from the view; a track whose build fails is left out and its row says so."""
    svc = views_service
    assert svc.register("broken-genes", TRACKS / "pybedtools_dm3-chr2L-5M-invalid.gff.gz").status_code == 201
    page.goto(svc.url("/ui/views/genome?reference=genome-1&tracks=reads-on-genome-1,broken-genes"))
    wait_drawn(page, timeout_s=300)
    assert page.evaluate("window.trackprepView.reference") == "genome-1"
    rows = page.locator("tr.track-source [data-field='summary']").all_inner_texts()
    assert rows == ["built", "built", "failed"]
    assert "broken-genes" in page.inner_text("#viewer-status")
    page.fill("#locus", f"{genome_one.name}:1,001-1,400")
    page.press("#locus", "Enter")
    page.wait_for_function("window.trackprepView.featureCounts().then(c => c['reads-on-genome-1'] >= 40)",
                           timeout=30_000, polling=250)


@pytest.mark.parametrize("name", ["htslib_bed_file.bed", "pybedtools_example.narrowPeak"])
def test_a_bed_without_a_reference_draws_on_its_own_sequence_names(views_service, page, name):
    source_id = f"plain-{name.split('.')[-1].lower()}"
    assert views_service.register(source_id, TRACKS / name).status_code == 201
    page.goto(views_service.url(f"/ui/sources/{source_id}"))
    wait_drawn(page)
    assert page.evaluate("window.trackprepView.reference") is None
    assert page.evaluate("window.trackprepView.browser.findTracks(t => t.type === 'sequence').length") == 0
    page.wait_for_function("Promise.resolve(window.trackprepView.featuresInView()).then(n => n > 0)",
                           timeout=30_000, polling=250)


def test_an_ssr_analysis_opens_in_the_genome_view_with_its_loci(views_service, page, tmp_path):
    svc = views_service
    handles = {name: open(path, "rb") for name, path in SAMPLE.items()}
    try:
        submitted = svc.http.post(svc.url("/analyze_ssr/"), files=handles, data={"flanks": "false"}, timeout=120)
    finally:
        for handle in handles.values():
            handle.close()
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    assert svc.wait_job(job_id, timeout=600)["status"] == "completed"

    page.goto(svc.url(f"/ui/jobs/{job_id}"))
    page.get_by_role("link", name="Open the genomes and their SSR loci in the genome view").click()
    page.wait_for_url("**/ui/views/genome?**")
    wait_drawn(page, timeout_s=300)
    reference = f"ssr-{job_id}-genomes"
    assert page.evaluate("window.trackprepView.reference") == reference
    assert page.evaluate("window.trackprepView.browser.findTracks(t => t.type === 'sequence').length") == 1
    names = [line[1:].split()[0] for line in SAMPLE["fasta_file"].read_text().splitlines() if line.startswith(">")]
    assert page.evaluate("window.trackprepView.browser.genome.chromosomeNames") == names
    # it opens on the first hotspot: hotspot SSRs, SSRs and genes all in view
    page.wait_for_function("window.trackprepView.featureCounts().then(c => c['Hotspot SSRs'] > 0 && "
                           "c['SSRs'] > 0 && c['Genes'] > 0)", timeout=60_000, polling=500)
    counts = page.evaluate("window.trackprepView.featureCounts()")
    assert counts["SSRs"] >= counts["Hotspot SSRs"] > 0
    # every source of the view reports "built"; the locus box moves the view to another genome
    assert page.locator("tr.track-source [data-field='summary']").all_inner_texts() == ["built"] * 4
    screenshot(page, tmp_path, "genome-view-ssr")
    # a gene's name in the locus box: the view goes to that gene (one of the BED's rows of that name). A gene of
    # another genome than the one in view: igv.js knows only the genes it has loaded, the service's name index
    # (GET /features) all of them
    before = page.evaluate("window.trackprepView.loci()")
    in_view = before.rsplit(":", 1)[0]
    genes = [line.split("\t") for line in SAMPLE["gene_bed"].read_text().splitlines() if line.strip()]
    elsewhere = [g for g in genes if g[0] != in_view]
    gene = elsewhere[len(elsewhere) // 2][3].strip()
    places = [(g[0], int(g[1]) + 1, int(g[2])) for g in genes if g[3].strip() == gene]
    page.fill("#locus", gene.lower())
    page.press("#locus", "Enter")
    page.wait_for_function(f"document.getElementById('viewer-status').textContent.startsWith('Showing {gene} (')",
                           timeout=120_000)  # the first lookup builds the genes' name index (a job) first
    chrom, span = page.evaluate("window.trackprepView.loci()").rsplit(":", 1)
    start, end = (int(x.replace(",", "")) for x in span.split("-"))
    assert any(chrom == c and start <= s and e <= end for c, s, e in places), (chrom, start, end, places)
    page.fill("#locus", "no_such_gene")
    page.press("#locus", "Enter")
    page.wait_for_function("document.getElementById('viewer-status').textContent"
                           ".startsWith('No locus or feature name no_such_gene')", timeout=60_000)
    page.fill("#locus", f"{names[3]}:20,001-30,000")
    page.press("#locus", "Enter")
    page.wait_for_function(f"window.trackprepView.loci().startsWith({names[3] + ':'!r})", timeout=20_000)
    page.wait_for_function("window.trackprepView.featureCounts().then(c => c['SSRs'] > 0)", timeout=30_000,
                           polling=500)
