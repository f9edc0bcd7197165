#!/usr/bin/env python3
"""SSR case (b) again (the 18-genome sample, no flanks), with the run the service makes today: a child forked
from the warm launcher (webapp/launcher.py), next to plain ``snakemake`` and croSSRoad.

    python3 bench/ssr_warm.py               # 3 runs of each trackprep way, 1 croSSRoad run
    python3 bench/ssr_warm.py --repeat 5

Every trackprep run starts from an empty cache and working directory with the same arguments as bench/ssr.py's
(``-s Snakefile --cores 2 --configfile ssr.yaml --config cache_dir=...``); the forked one is timed from the request
to the launcher to its exit status, the plain one from ``exec`` to exit. Tables are compared row for row with
croSSRoad's (bench/ssr.py ``compare``). Peak memory: the summed RSS of the run's process tree (sampled every
50 ms) and the launcher's own peak (``VmHWM``). Results are appended to ``<workdir>/results-warm.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import ssr  # noqa: E402
from serve_miss import TreePeak, vm_hwm_mb  # noqa: E402

from webapp import dispatcher, launcher, procs  # noqa: E402

LOG = logging.getLogger("bench.ssr_warm")


def config_for(inputs: dict, work: Path) -> list[str]:
    """Write the run's config; the snakemake arguments (without the program) bench/ssr.py uses."""
    work.mkdir(parents=True, exist_ok=True)
    config = {"ssr": {"fasta": str(inputs["fasta"]), "categories": str(inputs["categories"]),
                      "gene_bed": str(inputs["gene_bed"]), "flanks": False, "perf_params": ssr.PARAMS}}
    (work / "ssr.yaml").write_text(yaml.safe_dump(config))
    return ["-s", str(ssr.PROJECT / "Snakefile"), "--cores", "2", "--configfile", "ssr.yaml", "--config",
            f"cache_dir={work / 'cache'}"]


def warm_run(current: launcher.Launcher, inputs: dict, work: Path) -> dict:
    """One forked run: wall seconds, peak tree RSS, exit status, output folder."""
    argv = config_for(inputs, work)
    env = dict(dispatcher.run_environment(), TMPDIR=str(work))
    tree = TreePeak(current.proc.pid)
    start = time.monotonic()
    pid = current.launch(work.name, argv, str(work), env, str(work / "run.log"))
    run = launcher.ForkedRun(current, pid, procs.start_time(pid), str(work))
    while run.poll() is None:
        time.sleep(0.01)
    wall = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"forked run failed ({run.returncode}), see {work / 'run.log'}")
    (out,) = (work / "cache").glob("ssr/v1/*/output")
    return {"wall_s": wall, "peak_mb": tree.stop() / 1e6, "out": out}


def main(argv: list[str] | None = None) -> int:
    """Run case (b) three ways and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ssr.PROJECT / "bench" / "work" / "ssr")
    parser.add_argument("--crossroad-python", default=os.environ.get("TRACKPREP_CROSSROAD_PYTHON"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args.workdir.mkdir(parents=True, exist_ok=True)
    python = ssr.crossroad_python(args.workdir, args.crossroad_python)
    sample = {"fasta": ssr.SAMPLE / "1small.fa", "categories": ssr.SAMPLE / "3.tsv", "gene_bed": ssr.SAMPLE / "2.bed"}
    load_start = os.getloadavg()
    base = args.workdir / "runs" / "b_warm"
    theirs_m, theirs = ssr.run_crossroad(python, sample, False, ssr.fresh(base / "crossroad"), 1800)
    plain = []
    for i in range(args.repeat):
        measured, out = ssr.run_trackprep(sample, False, ssr.fresh(base / f"plain-{i}"))
        plain.append(measured)
    current = launcher.Launcher(dispatcher.run_environment(), "bench", str(ssr.PROJECT))
    while not current.ready():
        time.sleep(0.1)
    warm = [warm_run(current, sample, ssr.fresh(base / f"warm-{i}")) for i in range(args.repeat)]
    launcher_mb = vm_hwm_mb(current.proc.pid)
    current.close()
    current.proc.wait(timeout=60)
    same = ssr.compare(warm[-1]["out"], theirs)
    same_plain = ssr.compare(out, theirs)
    result = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "load_start": load_start, "load_end": os.getloadavg(),
              "crossroad_s": theirs_m["wall_s"], "crossroad_peak_mb": theirs_m.get("peak_rss_mb"),
              "plain_s": [m["wall_s"] for m in plain], "plain_peak_mb": [m.get("peak_rss_mb") for m in plain],
              "warm_s": [r["wall_s"] for r in warm], "warm_peak_mb": [r["peak_mb"] for r in warm],
              "launcher_peak_mb": launcher_mb, "identical_warm": same, "identical_plain": same_plain}
    with open(args.workdir / "results-warm.jsonl", "a") as handle:
        handle.write(json.dumps(result) + "\n")
    plain_s, warm_s = statistics.median(result["plain_s"]), statistics.median(result["warm_s"])
    print(f"(b) 18-genome sample, no flanks: croSSRoad {theirs_m['wall_s']:.2f} s; "
          f"trackprep plain snakemake {plain_s:.2f} s ({theirs_m['wall_s'] / plain_s:.1f}x), "
          f"forked from the warm launcher {warm_s:.2f} s ({theirs_m['wall_s'] / warm_s:.1f}x); "
          f"runs {result['warm_s']}; run tree peak {max(result['warm_peak_mb']):.0f} MB, launcher "
          f"{launcher_mb:.0f} MB; tables identical: {same}")
    print(f"load average {load_start[0]:.1f} at start, {result['load_end'][0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
