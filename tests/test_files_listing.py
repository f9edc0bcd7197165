"""GET /files against a real `trackprep serve`: paged in id order, filtered by format, access, artifact state and
id prefix, restricted sources listed only with the token. Expected lists come from what the test registered."""
from __future__ import annotations

import json
import subprocess
import sys

import requests

from conftest import TRACKS, dump, md5sum

REGISTERED = {  # id -> (file, format, access)
    "bed_a": ("htslib_bed_file.bed", "bed", "public"),
    "bed_b": ("pybedtools_CTCF_Kc_Bushey_2009.bed", "bed", "public"),
    "bam_c": ("pybedtools_x.bam", "bam", "public"),
    "bw_d": ("pybigwig_test.bw", "bigwig", "public"),
    "gff_bad": ("pybedtools_dm3-chr2L-5M-invalid.gff.gz", "gff", "public"),
    "peaks_r": ("pybedtools_example.narrowPeak", "narrowpeak", "restricted"),
    "bed_r": ("pybedtools_hg19.gff", "gff", "restricted"),
}


def listed(svc, token: bool = False, **params) -> list[dict]:
    """Every page of GET /files with these filters (limit 2, following `next`), concatenated."""
    found, after = [], None
    headers = svc.auth() if token else {}
    for _page in range(50):
        query = {**params, "limit": 2, **({"after": after} if after else {})}
        response = requests.get(svc.url("/files"), params=query, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["files"]) <= 2
        found += body["files"]
        after = body["next"]
        if after is None:
            return found
        assert after == body["files"][-1]["id"]
    raise AssertionError("paging did not end")


def ids(entries: list[dict]) -> list[str]:
    return [entry["id"] for entry in entries]


def test_listing_pages_filters_and_hides_restricted_sources(service):
    for source_id, (name, fmt, access) in REGISTERED.items():
        response = service.register(source_id, TRACKS / name, format=fmt, access=access)
        assert response.status_code == 201, response.text
    assert service.fetch("/data/bed_a").status_code == 200  # built
    failing = service.get("/data/gff_bad")
    assert failing.status_code == 202
    assert service.wait_job(failing.json()["job_id"])["status"] == "failed"

    public = sorted(i for i, (_n, _f, access) in REGISTERED.items() if access == "public")
    everything = sorted(REGISTERED)
    anonymous = listed(service)
    assert ids(anonymous) == public
    assert ids(listed(service, token=True)) == everything
    entry = next(e for e in anonymous if e["id"] == "bed_b")
    assert entry["format"] == "bed" and entry["access"] == "public" and entry["url"] == "/files/bed_b"
    assert requests.get(service.url(entry["url"]), timeout=60).json()["md5"] == entry["md5"]

    states = {e["id"]: e["state"] for e in listed(service, token=True)}
    assert states == {"bed_a": "ready", "bw_d": "ready", "gff_bad": "failed", "bed_b": "absent",
                      "bam_c": "absent", "peaks_r": "absent", "bed_r": "absent"}, dump(states)
    assert ids(listed(service, state="ready")) == ["bed_a", "bw_d"]
    assert ids(listed(service, state="failed")) == ["gff_bad"]
    assert ids(listed(service, state="absent")) == ["bam_c", "bed_b"]
    assert ids(listed(service, token=True, state="absent")) == ["bam_c", "bed_b", "bed_r", "peaks_r"]
    assert ids(listed(service, state="building")) == []

    assert ids(listed(service, format="bed")) == ["bed_a", "bed_b"]
    assert ids(listed(service, token=True, format="gff")) == ["bed_r", "gff_bad"]
    assert ids(listed(service, format="gff")) == ["gff_bad"]
    assert ids(listed(service, prefix="bed_")) == ["bed_a", "bed_b"]
    assert ids(listed(service, token=True, prefix="bed_")) == ["bed_a", "bed_b", "bed_r"]
    assert ids(listed(service, access="restricted")) == []
    assert ids(listed(service, token=True, access="restricted")) == ["bed_r", "peaks_r"]
    assert ids(listed(service, token=True, access="public", format="bed", state="absent")) == ["bed_b"]

    for bad in ({"format": "nope"}, {"state": "nope"}, {"access": "nope"}, {"limit": "0"}, {"limit": "x"},
                {"limit": "1001"}, {"prefix": "x" * 129}):
        response = requests.get(service.url("/files"), params=bad, timeout=60)
        assert response.status_code == 422 and response.json()["error"] == "invalid", bad


def cli(svc, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webapp.cli", *args], env=svc.env, capture_output=True, text=True,
                          timeout=120)


def test_sources_command_lists_shows_deletes_and_registers_with_progress(service, tmp_path):
    rows = []
    for number in range(120):  # a large manifest: the same file under many ids, one refused row
        rows.append(f"many{number:03d}\t{TRACKS / 'htslib_bed_file.bed'}\t{md5sum(TRACKS / 'htslib_bed_file.bed')}"
                    "\tbed\t\tpublic")
    rows.append(f"outside\t/etc/passwd\t{'a' * 32}\tbed\t\tpublic")
    manifest = tmp_path / "many.tsv"
    manifest.write_text("id\taccess_url\tmd5\tformat\tindex_url\taccess\n" + "\n".join(rows) + "\n")
    registered = cli(service, "register", "--quiet", str(manifest))
    assert registered.returncode == 1
    assert registered.stdout == ""  # --quiet
    assert "registering: 121/121" in registered.stderr  # not a terminal: progress lines
    assert "120 registered, 0 unchanged, 1 refused" in registered.stderr and "refused outside" in registered.stderr
    assert service.register("secret", TRACKS / "pybedtools_example.narrowPeak", access="restricted").ok

    listed = cli(service, "sources", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert lines[0] == ["id", "format", "access", "state", "md5", "access_url"]
    assert [line[0] for line in lines[1:]] == sorted([f"many{n:03d}" for n in range(120)] + ["secret"])
    assert {line[3] for line in lines[1:]} == {"absent"}
    only = cli(service, "sources", "list", "--access", "restricted").stdout.splitlines()[1:]
    assert [line.split("\t")[0] for line in only] == ["secret"]
    assert len(cli(service, "sources", "list", "--prefix", "many11").stdout.splitlines()) == 1 + 10

    assert service.fetch("/data/many000").status_code == 200
    shown = json.loads(cli(service, "sources", "show", "many000").stdout)
    assert shown["id"] == "many000" and shown["state"] == "ready" and shown["active_job"] is None
    assert cli(service, "sources", "show", "nope").returncode == 1

    # the artifact is shared by every many* id: deleting one keeps it; the record goes
    deleted = cli(service, "sources", "delete", "many000")
    assert deleted.returncode == 0 and deleted.stdout.splitlines() == ["deleted many000"]
    assert service.get("/files/many000").status_code == 404
    assert service.fetch("/data/many001").status_code == 200
