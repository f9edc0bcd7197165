"""Parity with croSSRoad (tier `parity`: python3 -m pytest -m parity tests/test_ssr_parity.py).

Installs crossroad-cli 0.3.5 and perf_ssr 0.4.8 from PyPI into a throwaway venv (shared SSR.md's recipe:
current biopython, croSSRoad's other dependencies, then both packages with --no-deps) unless
TRACKPREP_CROSSROAD_PYTHON names an interpreter that already has them. Runs croSSRoad's CLI and trackprep's
workflow on the shared sample with every parameter passed explicitly, and compares the result tables row for
row (order aside). Needs seqtk, bedtools and seqkit on PATH (.ci/setup installs them)."""

from __future__ import annotations

import collections
import csv
import os
import random
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from conftest import CROSSROAD, REPO

pytestmark = pytest.mark.parity

PARAMS = {
    "mono": 12,
    "di": 6,
    "tri": 4,
    "tetra": 3,
    "penta": 3,
    "hexa": 2,
    "minLen": 1000,
    "maxLen": 10_000_000,
    "unfair": 0,
    "thread": 2,
    "min_repeat_count": 1,
    "min_genome_count": 2,
}
CROSSROAD_DEPS = [
    "biopython",
    "numpy",
    "pandas",
    "pyarrow",
    "plotly",
    "plotly-upset-hd",
    "upsetplot",
    "rich",
    "rich-click",
    "typer",
    "colorlog",
    "argcomplete",
    "fastapi",
    "uvicorn",
    "python-multipart",
    "pydantic",
    "requests",
    "python-dotenv",
    "tqdm",
]
REFERENCE = "EPI_ISL_13056234"
COMPARED = [
    "intrim/reformatted.tsv",
    "main/mergedOut.tsv",
    "main/ssr_genecombo.tsv",
    "main/mutational_hotspot.csv",
    "main/hssr_data.csv",
    "main/flanks/flanked.tsv",
    "main/flanks/pattern_summary.csv",
]


def crossroad_python(base: Path) -> Path:
    """An interpreter with crossroad-cli and perf_ssr: the one named in the environment, or a fresh venv."""
    named = os.environ.get("TRACKPREP_CROSSROAD_PYTHON")
    if named:
        return Path(named)
    home = base / "crossroad-venv"
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + CROSSROAD_DEPS, check=True)
    subprocess.run(pip + ["--no-deps", "perf_ssr==0.4.8", "crossroad-cli==0.3.5"], check=True)
    return python


def run_crossroad(python: Path, out: Path, *, flanks: bool, reference: str | None = None) -> Path:
    """croSSRoad's CLI (its 0.3.5 console script is broken, so through the module), every parameter
    explicit."""
    args = [
        "--fasta",
        str(CROSSROAD / "1small.fa"),
        "--categories",
        str(CROSSROAD / "3.tsv"),
        "--gene-bed",
        str(CROSSROAD / "2.bed"),
        "--output-dir",
        str(out),
        "--threads",
        str(PARAMS["thread"]),
        "--mono",
        "12",
        "--di",
        "6",
        "--tri",
        "4",
        "--tetra",
        "3",
        "--penta",
        "3",
        "--hexa",
        "2",
        "--min-len",
        "1000",
        "--max-len",
        "10000000",
        "--unfair",
        "0",
        "--repeat-threshold",
        "1",
        "--genome-threshold",
        "2",
    ]
    if flanks:
        args.append("--flanks")
    if reference:
        args += ["--reference-id", reference]
    env = dict(os.environ, PATH=f"{python.parent}:{os.environ['PATH']}", CROSSROAD_JOB_DIR=str(out))
    result = subprocess.run(
        [str(python), "-c", "from crossroad.cli.main import app; app()", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (job,) = [p for p in out.iterdir() if p.name.startswith("job_")]
    return job / "output"


def run_trackprep(work: Path, *, flanks: bool, reference: str | None = None) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "ssr": {
            "fasta": str(CROSSROAD / "1small.fa"),
            "categories": str(CROSSROAD / "3.tsv"),
            "gene_bed": str(CROSSROAD / "2.bed"),
            "flanks": flanks,
            "reference_id": reference or "",
            "perf_params": PARAMS,
        }
    }
    (work / "ssr.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--cores",
            "2",
            "--configfile",
            "ssr.yaml",
            "--config",
            f"cache_dir={work / 'cache'}",
        ],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (out,) = (work / "cache").glob("ssr/v1/*/output")
    return out


def rows(path: Path) -> tuple[list[str], collections.Counter]:
    """Header and the multiset of rows (croSSRoad writes some tables with CRLF line ends)."""
    text = path.read_text().replace("\r\n", "\n")
    reader = csv.reader(text.splitlines(), delimiter="," if path.suffix == ".csv" else "\t")
    header = next(reader)
    return header, collections.Counter(tuple(r) for r in reader)


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> Path:
    for tool in ("seqtk", "bedtools", "seqkit"):
        assert (
            subprocess.run(["which", tool], capture_output=True).returncode == 0
        ), f"{tool} is not installed"
    return crossroad_python(tmp_path_factory.mktemp("crossroad"))


@pytest.fixture(scope="module")
def flank_runs(python, tmp_path_factory):
    base = tmp_path_factory.mktemp("parity")
    return run_crossroad(python, base / "crossroad", flanks=True), run_trackprep(
        base / "trackprep", flanks=True
    )


@pytest.mark.parametrize("table", COMPARED)
def test_tables_match_crossroad_row_for_row(flank_runs, table):
    theirs, ours = flank_runs
    their_header, their_rows = rows(theirs / table)
    our_header, our_rows = rows(ours / table)
    assert our_header == their_header
    assert sum(their_rows.values()) > 0
    assert our_rows == their_rows, (
        f"{table}: only croSSRoad {list((their_rows - our_rows).items())[:3]}, "
        f"only trackprep {list((our_rows - their_rows).items())[:3]}"
    )


def test_reference_mode_matches_crossroad(python, tmp_path):
    theirs = run_crossroad(python, tmp_path / "crossroad", flanks=False, reference=REFERENCE)
    ours = run_trackprep(tmp_path / "trackprep", flanks=False, reference=REFERENCE)
    for table in ("main/ref_ssr_genecombo.csv", "main/mutational_hotspot.csv", "main/hssr_data.csv"):
        assert rows(ours / table) == rows(theirs / table), table


def random_genomes(path: Path, seed: int) -> None:
    """Sequences dense in repeats of every size, partial units, overlaps and N breaks."""
    rng = random.Random(seed)
    with open(path, "w") as handle:
        for i in range(40):
            parts = []
            for _ in range(rng.randint(5, 60)):
                pick = rng.random()
                if pick < 0.5:
                    motif = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 6)))
                    parts.append((motif * rng.randint(1, 12))[: rng.randint(1, 40)])
                elif pick < 0.9:
                    parts.append(
                        "".join(rng.choice("ACGT"[: rng.randint(1, 4)]) for _ in range(rng.randint(1, 30)))
                    )
                else:
                    parts.append("N" * rng.randint(1, 3))
            handle.write(f">s{i}\n{''.join(parts)}\n")


@pytest.mark.parametrize("units", ["12,6,4,3,3,2", "2,2,2,2,2,2", "3,3,3,2,3,2", "10,6,4,3,2,2"])
def test_detection_matches_perf_on_random_sequences(python, tmp_path, units):
    sys.path.insert(0, str(REPO / "rules" / "scripts"))
    import ssr_m2
    import ssr_perf

    fasta = tmp_path / "r.fa"
    random_genomes(fasta, seed=len(units) + sum(map(int, units.split(","))))
    units_file = tmp_path / "units.txt"
    units_file.write_text("".join(f"{size}\t{u}\n" for size, u in enumerate(units.split(","), start=1)))
    subprocess.run(
        [
            str(python.parent / "PERF"),
            "-i",
            str(fasta),
            "-o",
            str(tmp_path / "perf.tsv"),
            "-u",
            str(units_file),
        ],
        check=True,
        capture_output=True,
    )
    theirs = [
        line.rstrip("\n").split("\t") for line in open(tmp_path / "perf.tsv") if not line.startswith("#")
    ]
    table = ssr_perf.motif_table(ssr_m2.parse_units(units))
    ours = [
        [seq_id, *map(str, call)]
        for seq_id, seq in ssr_m2.read_fasta(str(fasta))
        for call in ssr_perf.detect(seq, table)
    ]
    assert len(theirs) > 100
    assert ours == theirs  # same calls in the same order
