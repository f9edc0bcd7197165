"""The web UI's server side, without a browser: paging and filters of the home page, artifact states, the genome
settings a view reads, and that the pages sit beside the API without changing it."""
from __future__ import annotations

import re
import shutil
from html import unescape as html_text

import pyBigWig
import pysam

from conftest import TRACKS

ROW = re.compile(r'<tr data-source-id="([^"]+)">')
BAM = TRACKS / "pybedtools_x.bam"


def listed(html: str) -> list[str]:
    return ROW.findall(html)


def test_home_pages_and_filters_sources_on_the_server(service):
    sources_dir = service.base / "sources"
    ids = []
    for n in range(57):  # more than a page (50)
        copy = sources_dir / f"c{n:03d}.bed"
        shutil.copyfile(TRACKS / "htslib_bed_file.bed", copy)
        ids.append(f"batch-{n:03d}")
        assert service.register(ids[-1], copy).status_code == 201
    assert service.register("calls", TRACKS / "htslib_index.vcf").status_code == 201
    assert service.register("hidden", BAM, access="restricted").status_code == 201
    everything = sorted(ids + ["calls"])

    first = service.get("/")
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/html")
    assert listed(first.text) == everything[:50]
    assert "58 sources" in first.text
    next_href = re.search(r'<a href="([^"]+)" rel="next">', first.text).group(1).replace("&amp;", "&")
    second = service.get(next_href)
    assert listed(second.text) == everything[50:]
    assert 'rel="next"' not in second.text

    assert listed(service.get("/", params={"format": "vcf"}).text) == ["calls"]
    assert listed(service.get("/", params={"prefix": "batch-05"}).text) == [f"batch-05{n}" for n in range(7)]
    # LIKE's wildcards in a prefix are plain characters
    assert listed(service.get("/", params={"prefix": "batch_"}).text) == []
    assert listed(service.get("/", params={"prefix": "%"}).text) == []
    # the restricted source only with the token
    assert "hidden" not in listed(service.get("/", params={"prefix": "h"}).text)
    assert listed(service.get("/", params={"prefix": "h"}, headers=service.auth()).text) == ["hidden"]


def test_home_shows_the_artifact_state_as_data_decides_it(service):
    assert service.register("reads", BAM).status_code == 201
    assert service.register("table", TRACKS / "htslib_bed_file.bed", format="tsv").status_code == 201

    def state(source_id: str) -> str:
        html = service.get("/").text
        row = html[html.index(f'<tr data-source-id="{source_id}">'):]
        cell = re.search(r'<td class="state state-([a-z_]+)"', row)
        return cell.group(1)

    assert state("reads") == "not_built"
    assert state("table") == "as_is"
    started = service.get("/data/reads")
    assert started.status_code == 202
    assert state("reads") in ("queued", "running", "built")
    job = service.wait_job(started.json()["job_id"])
    assert job["status"] == "completed"
    assert state("reads") == "built"
    job_page = service.get(f"/ui/jobs/{job['job_id']}")
    assert job_page.status_code == 200 and "<h2 id=\"outcome-heading\">Completed</h2>" in job_page.text
    assert 'href="/data/reads"' in job_page.text


def test_genome_settings_come_from_the_artifact(service):
    assert service.register("reads", BAM).status_code == 201
    assert service.register("calls", TRACKS / "htslib_index.vcf").status_code == 201
    not_yet = service.get("/ui/sources/reads/genome")
    assert not_yet.status_code == 503 and not_yet.headers["Retry-After"]
    for source_id in ("reads", "calls"):
        assert service.fetch(f"/data/{source_id}").status_code == 200

    genome = service.get("/ui/sources/reads/genome").json()
    with pysam.AlignmentFile(str(BAM), "rb") as bam:
        expected = [{"name": name, "length": length} for name, length in zip(bam.references, bam.lengths)]
    assert genome["chromosomes"] == expected
    aliases = service.get("/files/reads").json()["aliases"]
    assert genome["track"] == {"name": "reads", "type": "alignment", "format": "bam", "url": aliases["data"],
                               "indexURL": aliases["index"]}
    sizes = service.get(genome["chrom_sizes_url"])
    assert sizes.headers["Content-Type"].startswith("text/plain")
    assert sizes.text == "".join(f"{c['name']}\t{c['length']}\n" for c in expected)

    calls = service.get("/ui/sources/calls/genome").json()
    with pysam.VariantFile(str(TRACKS / "htslib_index.vcf")) as vcf:
        records = list(vcf)
        header = {name: contig.length for name, contig in vcf.header.contigs.items()}
    ends: dict[str, int] = {}
    for record in records:
        ends[record.chrom] = max(ends.get(record.chrom, 0), record.stop)
    chromosomes = {c["name"]: c["length"] for c in calls["chromosomes"]}
    assert set(chromosomes) == set(ends)
    for name, length in chromosomes.items():
        assert length == (header.get(name) or ends[name])
        assert length >= ends[name]
    first = records[0]
    chrom, span = calls["locus"].rsplit(":", 1)
    start, end = (int(x.replace(",", "")) for x in span.split("-"))
    assert chrom == first.chrom and start <= first.pos <= end


def test_pages_do_not_change_the_api(service):
    assert service.get("/nothing-here").json()["error"] == "not_found"
    assert service.get("/jobs").json() == {"jobs": []}
    assert service.get("/ui/sources/unknown/genome").json()["error"] == "not_found"
    static = service.get("/static/vendor/igv/igv.esm.min.js")
    assert static.status_code == 200 and "javascript" in static.headers["Content-Type"]
    assert service.get("/static/vendor/igv/LICENSE").status_code == 200


def test_index_extents_bound_each_sequence_from_the_index_alone(tmp_path):
    """Large tabix artifacts take their sequence lengths from the index: at or past the last record's end,
    less than one 16 kb window past it (records here are short, so they sit in the finest bins)."""
    from webapp.ui import index_extents

    for name, preset, column_end in (("htslib_index.vcf", "vcf", None), ("htslib_bed_file.bed", "bed", 2)):
        ends: dict[str, int] = {}
        for line in (TRACKS / name).read_text().splitlines():
            if line.startswith(("#", "track", "browser")) or not line.strip():
                continue
            fields = line.split("\t")
            end = int(fields[column_end]) if column_end else int(fields[1]) - 1 + len(fields[3])
            ends[fields[0]] = max(ends.get(fields[0], 0), end)
        for csi in (False, True):
            copy = tmp_path / f"{'csi' if csi else 'tbi'}-{name}"
            copy.write_text((TRACKS / name).read_text())
            pysam.tabix_index(str(copy), preset=preset, csi=csi, keep_original=True, force=True)
            data = f"{copy}.gz"
            extents = index_extents(f"{data}.{'csi' if csi else 'tbi'}")
            assert set(extents) == set(ends), (name, csi)
            for contig, end in ends.items():
                assert end <= extents[contig] < end + 16_384, (name, csi, contig, end, extents[contig])


def test_a_large_artifact_takes_its_lengths_from_the_index(service, monkeypatch):
    from webapp import ui

    assert service.register("peaks", TRACKS / "htslib_bed_file.bed").status_code == 201
    assert service.fetch("/data/peaks").status_code == 200
    [artifact] = service.cache.rglob("data.bed.gz")
    ui.sequences.cache_clear()
    scanned, scanned_locus = ui.sequences(str(artifact), "bed")
    monkeypatch.setattr(ui, "SCAN_MAX_BYTES", 0)
    ui.sequences.cache_clear()
    indexed, indexed_locus = ui.sequences(str(artifact), "bed")
    ui.sequences.cache_clear()
    assert [name for name, _ in indexed] == [name for name, _ in scanned]
    for (_, exact), (_, bound) in zip(scanned, indexed):
        assert exact <= bound < exact + ui.TBI_WINDOW
    # the same first record; the view's end is cut at the (here longer) sequence length
    assert indexed_locus.split("-")[0] == scanned_locus.split("-")[0]


def test_the_feature_search_box_is_on_annotation_views_only(service):
    """The name search box (a labelled combobox over /features/{id}) is rendered for GFF3, never for BAM or
    VCF."""
    assert service.register("genes", TRACKS / "htslib_gff_file.gff", format="gff3").status_code == 201
    assert service.register("reads", BAM).status_code == 201
    assert service.register("calls", TRACKS / "htslib_index.vcf").status_code == 201
    genes = service.get("/ui/sources/genes")
    assert genes.status_code == 200
    assert 'data-features-url="/features/genes"' in genes.text
    assert '<label for="gene">' in genes.text
    box = re.search(r'<input id="gene"[^>]*>', genes.text).group(0)
    assert 'role="combobox"' in box and 'aria-controls="gene-options"' in box
    assert '<ul id="gene-options"' in genes.text and 'role="listbox"' in genes.text
    assert "/static/search.js" in genes.text
    for source_id in ("reads", "calls"):
        page = service.get(f"/ui/sources/{source_id}")
        assert page.status_code == 200 and 'id="locus"' in page.text  # the view is there, the search is not
        assert 'id="gene"' not in page.text and "search.js" not in page.text


def test_bigwig_views_take_their_sequences_from_the_bigwig(service):
    """A bedGraph source is drawn from its built bigWig (no index), a passthrough bigWig from /data itself;
    the sequence names and lengths are the bigWig header's, the first locus shows its first interval."""
    bedgraph = service.base / "sources" / "signal.bedGraph"
    bedgraph.write_text("chrA\t1000\t1100\t2.5\nchrA\t1200\t1300\t4\nchrB\t50\t60\t1\n")
    assert service.register("signal", bedgraph).status_code == 201
    assert service.register("wiggle", TRACKS / "pybigwig_test.bw").status_code == 201
    page = service.get("/ui/sources/signal")
    assert 'id="locus"' in page.text and 'id="gene"' not in page.text
    assert 'href="/index/signal"' not in page.text  # a bigWig is its own index
    home = service.get("/").text
    signal_row = home[home.index('<tr data-source-id="signal">'):]
    signal_row = signal_row[:signal_row.index("</tr>")]
    wiggle_row = home[home.index('<tr data-source-id="wiggle">'):]
    wiggle_row = wiggle_row[:wiggle_row.index("</tr>")]
    for source_id, row in (("signal", signal_row), ("wiggle", wiggle_row)):
        assert f'href="/ui/sources/{source_id}"' in row and f'href="/index/{source_id}"' not in row
    assert service.fetch("/data/signal").status_code == 200
    signal = service.get("/ui/sources/signal/genome").json()
    assert signal["track"] == {"name": "signal", "type": "wig", "format": "bigwig",
                               "url": service.get("/files/signal").json()["aliases"]["data"]}
    # without a reference the chromosome sizes come from the data: each sequence's last end
    assert signal["chromosomes"] == [{"name": "chrA", "length": 1300}, {"name": "chrB", "length": 60}]
    chrom, span = signal["locus"].rsplit(":", 1)
    start, end = (int(x.replace(",", "")) for x in span.split("-"))
    assert chrom == "chrA" and start <= 1001 <= end

    wiggle = service.get("/ui/sources/wiggle/genome")
    assert wiggle.status_code == 200, wiggle.text
    body = wiggle.json()
    with pyBigWig.open(str(TRACKS / "pybigwig_test.bw")) as bigwig:
        expected = [{"name": name, "length": length} for name, length in bigwig.chroms().items()]
        first_chrom = expected[0]["name"]
        first_start = bigwig.intervals(first_chrom)[0][0]
    assert body["chromosomes"] == expected
    assert body["track"] == {"name": "wiggle", "type": "wig", "format": "bigwig", "url": "/data/wiggle"}
    chrom, span = body["locus"].rsplit(":", 1)
    start, end = (int(x.replace(",", "")) for x in span.split("-"))
    assert chrom == first_chrom and start <= first_start + 1 <= end


def test_the_ssr_form_shows_every_parameter_and_the_limits(service_factory):
    from webapp import ssr_layout

    assert set(ssr_layout.PARAM_MEANINGS) == set(ssr_layout.PARAMS)  # every parameter has its one line
    service = service_factory(TRACKPREP_MAX_UPLOAD_BYTES="5000000").start()
    page = service.get("/ui/ssr/new")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert re.search(r'<form id="ssr-form"[^>]*action="/analyze_ssr/"', html)
    assert 'data-max-upload-bytes="5000000"' in html
    assert f"at most <strong data-limit=\"max-upload\">{5_000_000 / 2**20:.1f} MiB</strong>" in html
    for field in ("fasta_file", "categories_file", "gene_bed", "reference_id", "flanks"):
        assert f'<label for="{field}">' in html and f'id="{field}-error"' in html
    for name, (default, low, high) in ssr_layout.PARAMS.items():
        box = re.search(rf'<input id="param-{name}"[^>]*>', html, re.S).group(0)
        assert f'value="{default}"' in box and f'min="{low}"' in box
        assert (f'max="{high}"' in box) == (high is not None)
        assert f'<label for="param-{name}"><code>{name}</code></label>' in html
        help_text = html_text(re.search(rf'<p id="param-{name}-help" class="help">(.*?)</p>', html, re.S).group(1))
        assert ssr_layout.PARAM_MEANINGS[name] in help_text and f"Default {default:,}" in help_text


def test_the_ssr_page_offers_what_the_analysis_produced(service):
    fasta = service.base / "sources" / "two.fa"
    fasta.write_text(">g1\n" + "ACGT" * 300 + "AT" * 12 + "\n>g2\n" + "ACGT" * 300 + "AT" * 10 + "\n")
    with open(fasta, "rb") as handle:
        submitted = service.http.post(service.url("/analyze_ssr/"), files={"fasta_file": handle}, timeout=60)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    page = service.get(f"/ui/ssr/{job_id}")
    assert page.status_code == 200
    html = page.text
    # no categories and no genes: no plot has a table, each says which input was missing
    assert "data-table=" not in html.split('<section class="tables"')[0]
    assert html.count("Not in this analysis:") == html.count('<figure class="plot"') > 0
    assert "categories_file" in html and "gene_bed" in html
    # the one table it has: the SSRs (reformatted.tsv), paged in the browser
    assert re.findall(r'<section class="data-table" id="table-(\w+)"', html) == ["ssrs"]
    assert 'data-table="intrim/reformatted.tsv"' in html
    assert f'href="/api/job/{job_id}/download_zip"' in html and 'id="ssr-genome-view-link"' in html
    # unknown ids, and jobs that are not SSR analyses, are the 404 page
    assert service.get("/ui/ssr/no-such-job").status_code == 404
    assert service.register("peaks", TRACKS / "htslib_bed_file.bed").status_code == 201
    build = service.get("/data/peaks").json()["job_id"]
    missing = service.get(f"/ui/ssr/{build}")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert service.wait_job(job_id)["status"] == "completed"


def test_the_plotting_libraries_are_served_with_their_licences(service):
    for path in ("/static/vendor/echarts/echarts.esm.min.js", "/static/vendor/arrow/Arrow.es2015.min.js",
                 "/static/ssr_result.js", "/static/ssr_plots.js", "/static/ssr_form.js", "/static/cancel.js"):
        response = service.get(path)
        assert response.status_code == 200 and "javascript" in response.headers["Content-Type"], path
    for path in ("/static/vendor/echarts/LICENSE", "/static/vendor/arrow/LICENSE.txt",
                 "/static/vendor/arrow/NOTICE.txt"):
        assert "Apache" in service.get(path).text, path
