"""The web UI in a real browser: Debian's chromium, driven by Playwright, against a real `trackprep serve`.

Run with ``python3 -m pytest -m browser tests/test_ui_browser.py``. Every page's console must stay free of
errors. Screenshots of each page go to the test's tmp dir and to docs/screenshots/ (the README shows them).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pyBigWig
import pysam
import pytest

from conftest import CROSSROAD, REPO, TOKEN, TRACKS, FileServer, Service, md5sum

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "docs" / "screenshots"
SAMPLES = {  # id -> (file, registration fields)
    "reads-namesorted": ("pybedtools_x.namesorted.bam", {}),
    "calls": ("htslib_index.vcf", {}),
    "genes": ("htslib_gff_file.gff", {"format": "gff3"}),
    "peaks": ("htslib_bed_file.bed", {}),
    "secret-reads": ("pybedtools_x.bam", {"access": "restricted"}),
    "peaks-narrow": ("pybedtools_example.narrowPeak", {}),
    "signal": ("signal.bedGraph", {}),  # written by the ui_service fixture (SIGNAL)
    "wiggle": ("pybigwig_test.bw", {}),  # a passthrough bigWig
}
SIGNAL = [("chrA", 1000, 1100, 2.5), ("chrA", 1200, 1300, 4.0), ("chrA", 1400, 1500, 1.0),
          ("chrB", 50, 60, 1.0)]


@pytest.fixture(scope="module")
def remote_files(tmp_path_factory):
    """A file server whose downloads can be held (a job held in its fetch stage keeps running)."""
    root = tmp_path_factory.mktemp("ui-remote")
    server = FileServer(root)
    yield server
    server.close()


@pytest.fixture(scope="module")
def ui_service(tmp_path_factory, remote_files):
    """One `trackprep serve` with the samples registered (none built yet)."""
    svc = Service(tmp_path_factory.mktemp("ui-service"),
                  {"TRACKPREP_ALLOWED_HOSTS": remote_files.host}).start()
    signal = svc.base / "sources" / SAMPLES["signal"][0]
    signal.parent.mkdir(parents=True, exist_ok=True)
    signal.write_text("".join(f"{c}\t{s}\t{e}\t{v}\n" for c, s, e, v in SIGNAL))
    for source_id, (name, fields) in SAMPLES.items():
        path = signal if source_id == "signal" else TRACKS / name
        response = svc.register(source_id, path, **fields)
        assert response.status_code == 201, response.text
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (bash .ci/setup does)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def expected_http_errors() -> set[int]:
    """HTTP statuses a test provokes on purpose (a 422 for a bad upload, say): Chromium logs every 4xx answer
    as a console error ("Failed to load resource: ... status of 422"); only those lines, for only these
    statuses, are not counted as errors. Every other console error still fails the test."""
    return set()


@pytest.fixture
def page(browser, expected_http_errors):
    """A fresh 1280-px page whose console errors (and uncaught exceptions) fail the test, as does any request
    that leaves the service on 127.0.0.1 (a CDN, or igv.js asking igv.org about a name the user typed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: errors.append(f"a request off this service: {request.url}")
            if urlsplit(request.url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(request.url).hostname not in ("127.0.0.1", "localhost") else None)
    yield page
    context.close()
    expected = tuple(f"Failed to load resource: the server responded with a status of {status} "
                     for status in expected_http_errors)
    errors = [text for text in errors if not (expected and text.startswith(expected))]
    assert not errors, f"browser console errors: {errors}"


def screenshot(page, tmp_path: Path, name: str) -> None:
    """Keep the page as the test's artifact and as the README's picture."""
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOTS / f"{name}.png")


def wait_drawn(page, timeout_s: float = 240) -> None:
    """Until the genome view has drawn its track (or said why it cannot)."""
    page.wait_for_function("window.trackprepView && ['drawn', 'failed'].includes(window.trackprepView.state)",
                           timeout=timeout_s * 1000)
    state = page.evaluate("[window.trackprepView.state, window.trackprepView.error]")
    assert state[0] == "drawn", state


def features_in_view(page, timeout_s: float = 30) -> int:
    """How many records igv.js holds for the view, once it has loaded some."""
    page.wait_for_function("Promise.resolve(window.trackprepView.featuresInView()).then(n => n > 0)",
                           timeout=timeout_s * 1000, polling=250)
    return page.evaluate("Promise.resolve(window.trackprepView.featuresInView())")


def test_home_lists_the_registered_sources_and_hides_restricted_ones(ui_service, page, tmp_path):
    page.goto(ui_service.url("/"))
    rows = page.locator("table.sources tbody tr")
    ids = [rows.nth(i).get_attribute("data-source-id") for i in range(rows.count())]
    public = sorted(source_id for source_id, (_, fields) in SAMPLES.items() if fields.get("access") != "restricted")
    assert ids == public
    row = page.locator('tr[data-source-id="reads-namesorted"]')
    assert row.locator("td").nth(0).inner_text() == "bam"
    assert row.locator("td").nth(1).inner_text() == "public"
    assert row.locator("td.state").inner_text().strip() in ("not built", "built", "queued", "running") or \
        row.locator("progress").count() == 1
    hrefs = {link.inner_text(): link.get_attribute("href") for link in row.locator("td.links a").all()}
    assert hrefs == {"view": "/ui/sources/reads-namesorted", "download": "/data/reads-namesorted",
                     "index": "/index/reads-namesorted", "raw": "/data/reads-namesorted?raw=true"}
    # the keyboard reaches the skip link, the navigation and then the filter controls, in that order
    focused = []
    for _ in range(10):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert focused[0] == "Skip to content"
    assert focused.index("prefix") < focused.index("format") < focused.index("Filter")
    # every control has a label, and the filter form filters on the server
    for control in page.locator("form.filters input, form.filters select").all():
        assert page.locator(f'label[for="{control.get_attribute("id")}"]').count() == 1
    page.select_option("#format", "vcf")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?*format=vcf*")
    rows = page.locator("table.sources tbody tr")
    assert [rows.nth(i).get_attribute("data-source-id") for i in range(rows.count())] == ["calls"]
    page.goto(ui_service.url("/"))
    # narrow: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, tmp_path, "home-narrow")


def test_cold_name_sorted_bam_shows_progress_then_reads(ui_service, page, tmp_path):
    source = TRACKS / SAMPLES["reads-namesorted"][0]
    with pysam.AlignmentFile(str(source), "rb") as bam:
        mapped = sum(1 for read in bam.fetch(until_eof=True) if not read.is_unmapped)
    assert mapped > 0
    # record every state the build panel shows while the page waits
    page.add_init_script("""
        window.__seen = [];
        new MutationObserver(() => {
          const el = document.querySelector('#build [data-field="summary"]');
          const bar = document.getElementById('build-bar');
          const panel = document.getElementById('build');
          if (el && panel && !panel.hidden) window.__seen.push([el.textContent, bar.value]);
        }).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
    """)
    page.goto(ui_service.url("/ui/sources/reads-namesorted"))
    page.wait_for_selector("#build:not([hidden])", timeout=30_000)
    page.wait_for_function("document.querySelector('#build [data-field=summary]').textContent !== ''",
                           timeout=30_000)
    screenshot(page, tmp_path, "source-building")
    wait_drawn(page)
    seen = page.evaluate("window.__seen")
    assert seen, "the build's progress was never shown"
    assert any(text.startswith(("queued", "running", "completed")) for text, _ in seen), seen
    assert page.locator("#build").is_hidden()  # no reload: the same page went on to draw the track
    assert page.evaluate("window.__seen !== undefined")
    reads = features_in_view(page)
    assert 0 < reads <= mapped
    assert page.locator("#igv canvas").count() > 0
    # the locus box moves the view
    locus = page.input_value("#locus")
    assert ":" in locus
    screenshot(page, tmp_path, "source-bam")


@pytest.mark.parametrize("source_id", ["calls", "genes"])
def test_vcf_and_gff3_views_draw_features(ui_service, page, tmp_path, source_id):
    page.goto(ui_service.url(f"/ui/sources/{source_id}"))
    wait_drawn(page)
    assert features_in_view(page) > 0
    track = page.evaluate("window.trackprepView.browser.findTracks(t => t.name === %r).map(t => t.type)"
                          % source_id)
    assert track == [{"calls": "variant", "genes": "annotation"}[source_id]]
    screenshot(page, tmp_path, f"source-{'vcf' if source_id == 'calls' else 'gff3'}")


def test_locus_box_moves_the_view(ui_service, page):
    page.goto(ui_service.url("/ui/sources/calls"))
    wait_drawn(page)
    with pysam.VariantFile(str(TRACKS / SAMPLES["calls"][0])) as vcf:
        last = list(vcf)[-1]
    before = page.evaluate("window.trackprepView.loci()")
    target = f"{last.chrom}:{max(1, last.pos - 50)}-{last.pos + 50}"
    page.fill("#locus", target)
    page.press("#locus", "Enter")
    page.wait_for_function("window.trackprepView.loci() !== %r" % before, timeout=10_000)
    chrom, span = page.evaluate("window.trackprepView.loci()").rsplit(":", 1)
    start, end = (int(x.replace(",", "")) for x in span.split("-"))
    assert chrom == last.chrom and start <= last.pos <= end
    # a sequence the artifact does not hold: the page says so and the view stays where it was
    moved = page.evaluate("window.trackprepView.loci()")
    page.fill("#locus", "no_such_sequence:1-100")
    page.press("#locus", "Enter")
    page.wait_for_function(
        "document.getElementById('viewer-status').textContent.startsWith('No locus no_such_sequence')",
        timeout=10_000)
    assert page.evaluate("window.trackprepView.loci()") == moved


def test_job_page_reaches_completed(ui_service, page, tmp_path):
    started = ui_service.get("/data/peaks")  # cold: a job builds it, and the page follows that job live
    assert started.status_code == 202, started.text
    page.goto(ui_service.url(f"/ui/jobs/{started.json()['job_id']}"))
    page.wait_for_selector(".outcome h2", timeout=240_000)
    assert page.inner_text(".outcome h2") == "Completed"
    assert page.locator("#job-bar").get_attribute("value") == "1.0"
    assert page.locator(".outcome a", has_text="Download the artifact").count() == 1
    assert "{" not in page.inner_text("main")  # no JSON dumped at the person
    screenshot(page, tmp_path, "job")


def test_unknown_and_restricted_pages_answer_404_in_html(ui_service):
    for path in ("/ui/sources/no-such-source", "/ui/sources/secret-reads", "/ui/jobs/no-such-job"):
        response = ui_service.get(path)  # restricted: without the token it is as unknown
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("text/html") and "<h1>Not found</h1>" in response.text
    with_token = ui_service.get("/", headers=ui_service.auth())
    assert 'data-source-id="secret-reads"' in with_token.text
    assert 'data-source-id="secret-reads"' not in ui_service.get("/").text


def test_home_follows_a_job_live_without_a_reload(ui_service, page, tmp_path):
    started = ui_service.get("/data/peaks-narrow")
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    page.goto(ui_service.url("/"))  # the page as a person opens it while the job is queued or running
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f'table.jobs [data-job-id="{job_id}"]')
    assert row.count() == 1
    # a snakemake run takes seconds: the page came while it was still active (else there is nothing to follow)
    assert row.get_attribute("data-status") in ("queued", "running")
    page.wait_for_function(
        "id => document.querySelector(`table.jobs [data-job-id='${id}']`).dataset.status === 'completed'",
        arg=job_id, timeout=240_000)
    assert page.evaluate("window.__sameDocument === true")  # updated in place, not reloaded
    assert row.locator("progress").get_attribute("value") == "1"
    assert row.locator('[data-field="summary"]').inner_text() == "completed"
    # the source's own row now says what /data would answer: built, with no job left in it
    state = page.locator('tr[data-source-id="peaks-narrow"] td.state')
    assert state.inner_text().strip() == "built"
    assert state.locator("progress").count() == 0 and state.locator("a").count() == 0
    # every public job is listed, newest first, as GET /jobs lists them without the token
    public = [job["job_id"] for job in ui_service.get("/jobs").json()["jobs"]]
    shown = [row.get_attribute("data-job-id") for row in page.locator("table.jobs .job-progress").all()]
    assert shown == public[:20]
    screenshot(page, tmp_path, "home")


def test_a_failed_build_shows_its_reason_on_the_view_and_the_job_page(ui_service, page, tmp_path):
    name = "pybedtools_dm3-chr2L-5M-invalid.gff.gz"  # conftest.INVALID_TRACKS: the build must fail
    response = ui_service.register("broken-genes", TRACKS / name)
    assert response.status_code == 201, response.text
    started = ui_service.get("/data/broken-genes")
    assert started.status_code == 202, started.text
    job = ui_service.wait_job(started.json()["job_id"])
    assert job["status"] == "failed"
    page.goto(ui_service.url("/ui/sources/broken-genes"))
    wait_for = "window.trackprepView && window.trackprepView.state === 'failed'"
    page.wait_for_function(wait_for, timeout=30_000)
    assert job["error"]["reason"] in page.inner_text("#viewer-status")
    page.click("#viewer-status a")
    page.wait_for_url(f"**/ui/jobs/{job['job_id']}")
    assert page.inner_text(".outcome h2") == "Failed"
    assert job["error"]["reason"] in page.inner_text(".outcome .reason")
    # said once, in the outcome: the progress panel's message line (the same words) stays empty
    assert page.inner_text('.progress-panel [data-field="message"]') == ""
    assert sum(text.count(job["error"]["reason"]) for text in page.locator("main p").all_inner_texts()) == 1
    screenshot(page, tmp_path, "job-failed")


def gff3_features(path: Path) -> list[tuple[str, str, str, int, int]]:
    """(type, Name, seqid, start, end) of every GFF3 record that has a Name (1-based, inclusive)."""
    features = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        seqid, _source, kind, start, end, _score, _strand, _phase, attributes = line.split("\t")
        names = [a.split("=", 1)[1] for a in attributes.split(";") if a.startswith("Name=")]
        if names:
            features.append((kind, names[0], seqid, int(start), int(end)))
    return features


def test_gene_name_search_jumps_to_the_gene(ui_service, page, tmp_path):
    """Type a gene's name prefix, pick it from the suggestions with the keyboard: igv.js shows the gene."""
    features = gff3_features(TRACKS / SAMPLES["genes"][0])
    kind, gene, chrom, start, end = next(f for f in features if f[0] == "gene")
    prefix = gene[:8]
    expected = sorted({name for _, name, *_ in features if name.lower().startswith(prefix.lower())})
    assert gene in expected
    page.add_init_script("""
        window.__indexSeen = [];
        new MutationObserver(() => {
          const panel = document.getElementById('index-build');
          if (panel && !panel.hidden) window.__indexSeen.push(document.getElementById('index-bar').value);
        }).observe(document, {subtree: true, childList: true, attributes: true});
    """)
    page.goto(ui_service.url("/ui/sources/genes"))
    wait_drawn(page)
    before = page.evaluate("window.trackprepView.loci()")
    box = page.locator("#gene")
    assert page.locator('label[for="gene"]').inner_text() == "Feature name"
    page.wait_for_function("!document.getElementById('gene').disabled", timeout=10_000)
    box.click()
    box.type(prefix, delay=40)  # the index may be cold: then its build's progress shows, then the names
    page.wait_for_selector("#gene-options:not([hidden]) [role=option]", timeout=240_000)
    assert box.get_attribute("aria-expanded") == "true"
    # only this test searches names, so the index was cold: its build's progress bar showed, then went away
    assert page.evaluate("window.__indexSeen.length") > 0
    assert page.locator("#index-build").is_hidden()
    shown = page.locator("#gene-options [role=option] .name").all_inner_texts()
    assert sorted(set(shown)) == expected[:10]
    screenshot(page, tmp_path, "source-search")
    for _ in range(shown.index(gene) + 1):
        box.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert page.locator(f"#{active} .name").inner_text() == gene
    assert page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    box.press("Enter")
    page.wait_for_function("window.trackprepView.loci() !== %r" % before, timeout=10_000)
    assert page.locator("#gene-options").is_hidden()
    shown_chrom, span = page.evaluate(
        "[window.trackprepView.browser.currentLoci()].flat()[0]").rsplit(":", 1)
    shown_start, shown_end = (int(x.replace(",", "")) for x in span.split("-"))
    assert shown_chrom == chrom
    assert shown_start <= start and end <= shown_end, (span, start, end)
    assert shown_end - shown_start < 2 * (end - start + 1)  # the gene, not the whole sequence
    assert page.input_value("#locus").startswith(f"{chrom}:")


@pytest.mark.parametrize("source_id", ["signal", "wiggle"])
def test_bigwig_views_draw_their_signal(ui_service, page, tmp_path, source_id):
    """A bedGraph source is built into a bigWig, a passthrough bigWig is read from /data as it is: both are
    drawn as a wig track holding intervals of the first sequence (counted independently of the service)."""
    page.goto(ui_service.url(f"/ui/sources/{source_id}"))
    wait_drawn(page)
    track = page.evaluate("window.trackprepView.browser.findTracks(t => t.name === %r)"
                          ".map(t => [t.type, t.config.format])" % source_id)
    assert track == [["wig", "bigwig"]]
    in_view = features_in_view(page)
    if source_id == "signal":
        first_chrom = SIGNAL[0][0]
        assert 0 < in_view <= sum(1 for c, *_ in SIGNAL if c == first_chrom)
    else:
        with pyBigWig.open(str(TRACKS / SAMPLES["wiggle"][0])) as bigwig:
            first_chrom = next(iter(bigwig.chroms()))
            assert 0 < in_view <= len(bigwig.intervals(first_chrom))
    locus = page.evaluate("[window.trackprepView.browser.currentLoci()].flat()[0]")
    assert locus.startswith(f"{first_chrom}:")
    assert page.locator("#gene").count() == 0
    if source_id == "signal":
        screenshot(page, tmp_path, "source-bigwig")


# ---- SSR analysis: the form, the live page, its plots and tables

SSR_SAMPLE = {"fasta_file": CROSSROAD / "1small.fa", "categories_file": CROSSROAD / "3.tsv",
              "gene_bed": CROSSROAD / "2.bed"}


def csv_rows(text: str, delimiter: str) -> list[list[str]]:
    """A result table's data rows (its header dropped), read with the csv module."""
    return list(csv.reader(text.splitlines(), delimiter=delimiter))[1:]


def no_wider_than_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_ssr_sample_through_the_form_to_plots_and_tables(ui_service, page, tmp_path):
    from webapp import ssr_layout

    page.goto(ui_service.url("/ui/ssr/new"))
    # every parameter is a labelled number box holding its default
    for name, (default, _low, _high) in ssr_layout.PARAMS.items():
        box = page.locator(f"#param-{name}")
        assert box.input_value() == str(default)
        assert page.locator(f'label[for="param-{name}"]').inner_text() == name
    for field, path in SSR_SAMPLE.items():
        assert page.locator(f'label[for="{field}"]').count() == 1
        page.set_input_files(f"#{field}", str(path))
    page.check("#flanks")
    screenshot(page, tmp_path, "ssr-new")
    page.click("#submit")
    page.wait_for_url(lambda url: "/ui/ssr/" in url and not url.endswith("/new"), timeout=60_000)
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_function("window.trackprepSsr && window.trackprepSsr.status === 'shown'", timeout=300_000)
    seen = page.evaluate("window.trackprepSsr.seen")
    assert seen[0] in ("queued", "running") and seen[-1] == "completed", seen  # followed live, not reloaded
    assert page.evaluate("window.trackprepSsr.errors") == []
    assert page.locator("#ssr-job").is_hidden() and page.locator("#ssr-results").is_visible()
    job = ui_service.get(f"/jobs/{job_id}").json()
    assert job.get("kind") == "ssr" and job.get("status") == "completed", (page.url, job)

    # the hotspot plot: one bar per row of the hotspot table (the CSV the analysis wrote, read here)
    hotspots = csv_rows(ui_service.get(f"/api/job/{job_id}/download/main/mutational_hotspot.csv").text, ",")
    assert hotspots
    marks = page.evaluate("window.trackprepSsr.charts.hotspot.getOption().series[0].data.length")
    assert marks == len(hotspots)
    labels = page.evaluate("window.trackprepSsr.charts.hotspot.getOption().xAxis[0].data")
    header = next(csv.reader([ui_service.get(f"/api/job/{job_id}/download/main/mutational_hotspot.csv")
                              .text.splitlines()[0]]))
    gene, motif = header.index("gene"), header.index("motif")
    assert sorted(labels) == sorted(f"{row[gene]} {row[motif]}" for row in hotspots)
    assert page.locator("#table-hotspot tbody tr").count() == len(hotspots)
    assert page.inner_text("#table-hotspot [data-field=count]") == f"{len(hotspots):,} rows."
    # every plot the page offers was drawn
    offered = page.locator("figure.plot[data-table]").evaluate_all("els => els.map(e => e.dataset.plot)")
    assert sorted(page.evaluate("Object.keys(window.trackprepSsr.charts)")) == sorted(offered)

    # a table of one page (10 rows a page) has no pager
    assert page.locator("#table-hotspot nav.pager").is_hidden() == (len(hotspots) <= 10)
    screenshot(page, tmp_path, "ssr-result")

    # the SSR table pages in the browser: page 2 holds rows 11-20 of mergedOut.tsv
    merged = csv_rows(ui_service.get(f"/api/job/{job_id}/download/main/mergedOut.tsv").text, "\t")
    table = page.locator("#table-ssrs")
    assert table.locator("[data-field=count]").inner_text() == f"{len(merged):,} rows."
    assert table.locator("tbody tr").count() == 10
    first_cells = table.locator("tbody tr").first.locator("td")
    assert [first_cells.nth(i).inner_text() for i in range(3)] == merged[0][:3]
    table.locator("button[data-page=next]").click()
    assert table.locator("[data-field=page]").inner_text() == f"Rows 11–20 of {len(merged):,}"
    cells = table.locator("tbody tr").first.locator("td")
    assert [cells.nth(i).inner_text() for i in range(3)] == merged[10][:3]
    table.locator("select[data-field=size]").select_option("50")
    assert table.locator("tbody tr").count() == 50
    # downloads: the zip and every result file the API lists
    files = ui_service.get(f"/api/job/{job_id}/files").json()["files"]
    page.click("#result-files summary")
    hrefs = page.locator("#result-files a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == [f["url"] for f in files]
    assert page.locator('a[href$="/download_zip"]').count() == 1
    # the completed analysis links to its genomes in the genome view (tests/test_ui_browser_views.py follows it)
    link = page.locator("#ssr-genome-view-link a")
    assert link.count() == 1 and link.get_attribute("href") == f"/ui/ssr/{job_id}/genome-view"
    assert "{" not in page.inner_text("main")  # no JSON dumped at the person
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(300)
    assert no_wider_than_the_screen(page)
    screenshot(page, tmp_path, "ssr-result-narrow")


def test_a_bad_fasta_shows_the_reason_at_its_field(ui_service, page, tmp_path, expected_http_errors):
    expected_http_errors.add(422)  # the server's answer to the bad upload, which the page shows
    bad = tmp_path / "genomes.fa"
    bad.write_text("this is not a FASTA file\nACGT\n")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(ui_service.url("/ui/ssr/new"))
    assert no_wider_than_the_screen(page)
    page.set_input_files("#fasta_file", str(bad))
    page.click("#submit")
    error = page.locator("#fasta_file-error")
    error.wait_for(state="visible", timeout=30_000)
    assert "fasta_file is not FASTA" in error.inner_text()
    assert page.get_attribute("#fasta_file", "aria-invalid") == "true"
    assert page.url.endswith("/ui/ssr/new")  # nothing was queued
    # a parameter out of range: the reason goes to that parameter's box
    page.set_input_files("#fasta_file", str(SSR_SAMPLE["fasta_file"]))
    page.fill("#param-mono", "1")
    page.click("#submit")
    page.locator("#mono-error").wait_for(state="visible", timeout=30_000)
    assert "perf_params.mono" in page.inner_text("#mono-error") and page.locator("#fasta_file-error").is_hidden()
    screenshot(page, tmp_path, "ssr-new-error")


def test_cancel_a_running_job_from_its_page(ui_service, remote_files, page, tmp_path, expected_http_errors):
    expected_http_errors.add(401)  # a wrong token first
    # a VCF of its own (the artifact cache is keyed by content: the sample VCF is built by an earlier test)
    first, rest = (TRACKS / "htslib_index.vcf").read_text().split("\n", 1)
    path = remote_files.root / "held.vcf"
    path.write_text(f"{first}\n##comment=held by test_cancel_a_running_job_from_its_page\n{rest}")
    response = ui_service.register("held-calls", access_url=remote_files.url("held.vcf"), md5=md5sum(path))
    assert response.status_code == 201, response.text
    remote_files.gate.clear()  # the job's fetch stage waits on the download
    try:
        job_id = ui_service.get("/data/held-calls").json()["job_id"]
        remote_files.wait_open(1)
        assert ui_service.get(f"/jobs/{job_id}").json()["status"] == "running"
        page.goto(ui_service.url(f"/ui/jobs/{job_id}"))
        box = page.locator(f"#cancel-token-{job_id}")
        assert page.locator(f'label[for="cancel-token-{job_id}"]').inner_text() == "API token"
        box.fill("not-the-token")
        page.click("form[data-cancel-job] button")
        page.wait_for_function("document.querySelector('[data-field=cancel-status]').textContent"
                               ".includes('not this server')")
        assert ui_service.get(f"/jobs/{job_id}").json()["status"] == "running"
        box.fill(TOKEN)
        box.press("Enter")  # the keyboard submits it
        page.wait_for_selector(".outcome h2", timeout=60_000)  # the page reloads once the job has ended
        assert page.inner_text(".outcome h2") == "Cancelled"
        assert ui_service.get(f"/jobs/{job_id}").json()["status"] == "cancelled"
        assert page.locator("form[data-cancel-job]").count() == 0
        screenshot(page, tmp_path, "job-cancelled")
    finally:
        remote_files.gate.set()
