"""CRAM input: decoded against the registered reference FASTA it names into a coordinate-sorted BAM + index.

The CRAMs are real: reads simulated from a shared mpox genome (dwgsim), aligned with minimap2 and written with
samtools against that genome, once per session. Expected records come from decoding the CRAM locally with
samtools and pysam, never from the artifact.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pysam
import pytest
from conftest import CROSSROAD, Engine, Source, dump, md5sum

MPOX = CROSSROAD / "1small.fa"


@pytest.fixture(autouse=True)
def _read_tools() -> None:
    """dwgsim and minimap2 make the test CRAMs: missing tools fail the tests, never skip them."""
    missing = [tool for tool in ("dwgsim", "minimap2") if not shutil.which(tool)]
    assert not missing, f"{', '.join(missing)} not found: run `bash .ci/setup`, which installs them"


def fasta_records(path: Path, count: int) -> list[tuple[str, str]]:
    """The first ``count`` (name, sequence) records of a FASTA file."""
    records: list[tuple[str, list[str]]] = []
    with open(path) as handle:
        for line in handle:
            if line.startswith(">"):
                if len(records) == count:
                    break
                records.append((line[1:].split()[0], []))
            elif records:
                records[-1][1].append(line.strip())
    return [(name, "".join(parts)) for name, parts in records]


def write_fasta(path: Path, name: str, sequence: str) -> Path:
    path.write_text(f">{name}\n" + "".join(sequence[i:i + 60] + "\n" for i in range(0, len(sequence), 60)))
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, check=True, timeout=300, **kwargs)


@pytest.fixture(scope="session")
def crams(tmp_path_factory) -> dict[str, Path]:
    """Simulated mpox reads aligned to one genome: ``cram`` (written against ``ref``), ``noref`` (no_ref),
    ``other`` (another mpox genome), ``same_name`` (another genome's bases under ref's name and length)."""
    base = tmp_path_factory.mktemp("cram")
    (first, seq), (second, other_seq) = fasta_records(MPOX, 2)
    ref = write_fasta(base / "ref.fa", first, seq)
    other = write_fasta(base / "other.fa", second, other_seq)
    same_name = write_fasta(base / "same_name.fa", first, (other_seq * 2)[:len(seq)])
    run(["dwgsim", "-N", "3000", "-1", "100", "-2", "100", "-z", "7", str(ref), str(base / "sim")])
    sam = base / "aligned.sam"
    with open(sam, "wb") as out:
        subprocess.run(["minimap2", "-a", "-x", "sr", str(ref), str(base / "sim.bwa.read1.fastq.gz"),
                        str(base / "sim.bwa.read2.fastq.gz")], stdout=out, stderr=subprocess.DEVNULL,
                       check=True, timeout=300)
    cram, noref = base / "reads.cram", base / "reads.noref.cram"
    run(["samtools", "view", "-C", "-T", str(ref), "-o", str(cram), str(sam)])
    run(["samtools", "view", "-O", "cram,no_ref", "-o", str(noref), str(sam)])
    return {"ref": ref, "other": other, "same_name": same_name, "cram": cram, "noref": noref, "sam": sam}


def decoded(path: Path, reference: Path | None = None) -> list[tuple]:
    """Every record of an alignment file as (name, flag, reference, position, sequence), sorted."""
    kwargs = {"reference_filename": str(reference)} if reference else {}
    with pysam.AlignmentFile(str(path), **kwargs) as reads:
        return sorted((r.query_name, r.flag, r.reference_name, r.reference_start, r.query_sequence)
                      for r in reads.fetch(until_eof=True))


def samtools_digest(path: Path, reference: Path | None = None) -> tuple[int, str]:
    """The record count and a hash of (name, flag, rname, pos, seq) as ``samtools view`` decodes them."""
    args = ["--reference", str(reference)] if reference else []
    text = run(["samtools", "view", *args, str(path)], text=True).stdout
    lines = sorted("\t".join(line.split("\t")[i] for i in (0, 1, 2, 3, 9)) for line in text.splitlines())
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sources(crams: dict[str, Path], cram: str = "cram", reference: str | None = "ref") -> list[Source]:
    """A manifest: the reference FASTAs and one CRAM naming ``reference`` (or none)."""
    refs = [Source.local(crams[name], id=name, format="fasta") for name in ("ref", "other", "same_name")]
    ref_md5 = next((r.md5 for r in refs if r.id == reference), "")
    return refs + [Source.local(crams[cram], id="reads", format="cram", reference=reference or "",
                                reference_md5=ref_md5)]


def built(engine: Engine, rows: list[Source]):
    """Run plain snakemake on the CRAM's artifact (data + record); the run and the artifact's paths."""
    paths = rows[-1].artifacts(engine.cache)
    result = engine.run(rows, [paths["data"], paths["record"]], roots=[Path(rows[-1].access_url).parent])
    return result, rows[-1].artifacts(engine.cache)


def cram_sort_log(engine: Engine) -> str:
    return next(engine.cache.rglob("cram_sort.log")).read_text()


def test_cram_with_its_reference_builds_every_record_sorted_and_indexed(engine, crams):
    rows = sources(crams)
    result, paths = built(engine, rows)
    assert result.returncode == 0, result.stderr[-4000:]
    # the key holds the reference's md5 as well as the CRAM's
    assert paths["data"].parent.name == f"{md5sum(crams['cram'])}-ref-{md5sum(crams['ref'])}"
    assert paths["index"].name == "data.bam.bai"
    expected = decoded(crams["cram"], crams["ref"])
    assert len(expected) == 6000 and decoded(paths["data"]) == expected
    assert samtools_digest(paths["data"]) == samtools_digest(crams["cram"], crams["ref"])
    with pysam.AlignmentFile(str(paths["data"])) as bam:
        assert bam.header.to_dict()["HD"]["SO"] == "coordinate"
        starts = [(r.reference_id if r.reference_id >= 0 else 1 << 30, r.reference_start)
                  for r in bam.fetch(until_eof=True)]
        assert starts == sorted(starts)
        name = bam.references[0]
        in_region = bam.count(name, 50_000, 60_000)  # through the index
    with pysam.AlignmentFile(str(crams["sam"])) as sam:
        # an unmapped read placed at its mate's position covers that one base in an index query
        overlapping = sum(1 for r in sam.fetch(until_eof=True) if r.reference_id >= 0
                          and r.reference_start < 60_000
                          and (r.reference_end or r.reference_start + 1) > 50_000)
    assert in_region == overlapping > 0
    # htslib may look a sequence up only in the job's own empty temp folder, never on EBI's server
    log = cram_sort_log(engine)
    assert "REF_PATH=/" in log and "REF_CACHE=/" in log and "http" not in log.lower()


def test_no_ref_cram_builds_without_a_reference(engine, crams):
    result, paths = built(engine, sources(crams, "noref", reference=None))
    assert result.returncode == 0, result.stderr[-4000:]
    assert paths["data"].parent.name == md5sum(crams["noref"])
    assert decoded(paths["data"]) == decoded(crams["sam"]) and len(decoded(paths["data"])) == 6000


def test_a_cram_that_needs_its_reference_fails_when_none_is_named(engine, crams):
    # the CRAM's @SQ UR names ref.fa, which exists on this machine: it must not be read behind the manifest
    assert f"UR:{crams['ref']}" in run(["samtools", "view", "-H", str(crams["cram"])], text=True).stdout
    result, paths = built(engine, sources(crams, reference=None))
    assert result.returncode != 0 and not paths["data"].exists()
    log = cram_sort_log(engine).strip().splitlines()
    assert log[-1].startswith("cram_sort: missing reference:") and "names none" in log[-1], log
    assert any("[E::cram_get_ref]" in line or "Unable to fetch reference" in line for line in log), log


def test_another_genome_as_reference_fails_naming_the_missing_sequence(engine, crams):
    result, paths = built(engine, sources(crams, reference="other"))
    assert result.returncode != 0 and not paths["data"].exists()
    first = fasta_records(crams["ref"], 1)[0][0]
    last = cram_sort_log(engine).strip().splitlines()[-1]
    assert last.startswith("cram_sort: reference mismatch:") and f"no sequence {first!r}" in last \
        and "'other'" in last, last


def test_a_reference_with_other_bases_fails_naming_the_md5_mismatch(engine, crams):
    result, paths = built(engine, sources(crams, reference="same_name"))
    assert result.returncode != 0 and not paths["data"].exists()
    (name, seq), = fasta_records(crams["ref"], 1)
    (_, wrong), = fasta_records(crams["same_name"], 1)
    last = cram_sort_log(engine).strip().splitlines()[-1]
    assert "reference MD5 mismatch" in last and repr(name) in last, last
    assert hashlib.md5(seq.upper().encode()).hexdigest() in last
    assert hashlib.md5(wrong.upper().encode()).hexdigest() in last


@pytest.mark.parametrize("change, reason", [
    ({"reference": "nowhere"}, "is not a source of this manifest"),
    ({"reference": "sam", "reference_md5": ""}, "is a sam source, not fasta"),
])
def test_the_manifest_refuses_a_reference_that_is_not_a_fasta_row(engine, crams, change, reason):
    rows = sources(crams)
    rows.append(Source.local(crams["sam"], id="sam", format="sam"))
    for name, value in change.items():
        setattr(rows[3], name, value)
    result = engine.run(rows, extra_args=["-n"])
    assert result.returncode != 0 and reason in result.stdout + result.stderr


def test_a_reference_on_another_format_is_refused(engine, crams):
    rows = [Source.local(crams["ref"], id="ref", format="fasta"),
            Source.local(crams["sam"], id="sam", format="sam", reference="ref")]
    result = engine.run(rows, extra_args=["-n"])
    assert result.returncode != 0 and "format sam takes no reference" in result.stdout + result.stderr


def test_cram_through_the_service(service, crams, tmp_path):
    for name in ("ref", "cram", "sam", "other"):
        shutil.copy(crams[name], service.base / "sources" / crams[name].name)
    local = {name: service.base / "sources" / crams[name].name for name in ("ref", "cram", "sam", "other")}
    assert service.register("mpox", local["ref"], format="fasta").status_code == 201
    assert service.register("aligned", local["sam"]).status_code == 201
    # a reference must be a registered fasta source, and only a CRAM takes one
    for body, words in (({"reference": "unknown"}, "no source with that id"),
                        ({"reference": "aligned"}, "is a sam source, not a fasta source")):
        refused = service.register("bad", local["cram"], **body)
        assert refused.status_code == 422 and words in refused.json()["detail"], refused.text
        assert service.get("/files/bad").status_code == 404
    refused = service.register("sam-ref", local["sam"], reference="mpox")
    assert refused.status_code == 422 and "takes no reference" in refused.json()["detail"], refused.text

    created = service.register("reads", local["cram"], reference="mpox")
    assert created.status_code == 201, created.text
    assert created.json()["reference"] == "mpox"
    first = service.get("/data/reads")
    assert first.status_code == 202, first.text
    job = service.wait_job(first.json()["job_id"])
    assert job["status"] == "completed", dump(job)
    assert service.get("/data/reads").status_code == 200
    record = service.get("/files/reads").json()
    alias = record["aliases"]["data"]
    assert f"{md5sum(crams['cram'])}-ref-{md5sum(crams['ref'])}" in alias, alias
    name = fasta_records(crams["ref"], 1)[0][0]
    region = f"{name}:50001-60000"
    remote = subprocess.run(["samtools", "view", service.url(alias), region], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert remote.returncode == 0, remote.stderr
    sorted_local = tmp_path / "local.bam"
    run(["samtools", "sort", "--reference", str(crams["ref"]), "-o", str(sorted_local), str(crams["cram"])])
    run(["samtools", "index", str(sorted_local)])
    local_view = run(["samtools", "view", str(sorted_local), region], text=True).stdout
    assert remote.stdout.splitlines() == local_view.splitlines() and local_view
    ticket = service.get("/reads/reads", params={"referenceName": name, "start": 50000, "end": 60000})
    assert ticket.status_code == 200 and ticket.json()["htsget"]["format"] == "BAM", ticket.text
    # the reference stays while a source names it
    assert service.http.delete(service.url("/files/mpox"), headers=service.auth()).status_code == 409

    # the wrong reference: a failed job that names the mismatch
    assert service.register("other", local["other"], format="fasta").status_code == 201
    assert service.register("wrong", local["cram"], reference="other").status_code == 201
    started = service.get("/data/wrong")
    assert started.status_code == 202, started.text
    failed = service.wait_job(started.json()["job_id"])
    assert failed["status"] == "failed" and failed["error"]["rule"] == "cram_sort", dump(failed)
    assert "reference mismatch" in failed["error"]["reason"] and "'other'" in failed["error"]["reason"], \
        dump(failed)


def test_a_store_from_before_references_gains_the_columns(tmp_path):
    import sqlite3

    from webapp import db as store

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the sources table as the first release created it
        conn.execute("CREATE TABLE sources (id TEXT PRIMARY KEY, access_url TEXT NOT NULL, md5 TEXT NOT "
                     "NULL, format TEXT NOT NULL, index_url TEXT NOT NULL DEFAULT '', access TEXT NOT NULL "
                     "DEFAULT 'public', created_at TEXT NOT NULL)")
        conn.execute("INSERT INTO sources VALUES ('x', '/x.bam', ?, 'bam', '', 'public', 'then')",
                     ("0" * 32,))
    opened = store.open_store(str(path))
    row = next(iter(opened.query("SELECT * FROM sources WHERE id = 'x'")))
    assert row["reference"] == "" and row["reference_md5"] == "" and row["md5"] == "0" * 32
    store.init_schema(opened)  # idempotent
