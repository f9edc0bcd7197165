#!/usr/bin/env python3
"""Feature name search latency on a GENCODE-size annotation, against `grep -i` on the same GFF3.

Input: a generated GFF3 (fixed seed) shaped like an Ensembl/GENCODE one: GENES genes on chr1..22, X, Y
(gene rows ``ID=gene:ENSG...;Name=<symbol>;gene_id=ENSG...``), 1-4 transcripts each
(``ID=transcript:ENST...;Name=<symbol>-201;transcript_id=ENST...``) and 2-7 exons per transcript
(``Parent=...;exon_id=ENSE...``: no name attributes, as Ensembl's exons carry none of the indexed keys).
Symbols look like real ones (ZNF423, SLC25A3, LINC01234, a few thousand short stems with numbers; some repeat
on several genes, as Y_RNA does).

A real `trackprep serve` registers it; the first /features request starts the build (timed from the 202 to the
completed job). Then QUERIES prefix searches run one after another over one keep-alive HTTP connection
(`requests`): each takes a random indexed name, a prefix of it (2-10 characters) in random case; every answer
is checked (each hit starts with the prefix, any case). Printed: p50, p90, p99, max latency and requests/s.
Peer: the same lookup as a user would type it,
``grep -i -E '(<TAB>|;)(ID|Name|gene_id|transcript_id)=<prefix>' file.gff3``, for the first GREP_QUERIES
queries (each scans the whole file), and the ratio of medians.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "work"
GENERATOR_VERSION = 1
log = logging.getLogger("bench.features")

CHROMS = [(f"chr{n}", size) for n, size in zip(
    [*range(1, 23), "X", "Y"],
    [248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636, 138394717,
     133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345, 83257441, 80373285,
     58617616, 64444167, 46709983, 50818468, 156040895, 57227415])]
FAMILIES = ["ZNF", "SLC", "KIAA", "LINC", "OR", "TMEM", "CCDC", "FAM", "RPL", "RPS", "MIR", "SNORD", "ANKRD",
            "KRT", "PCDH", "TRIM", "WDR", "ZBTB", "ABC", "ADAM", "CDH", "COL", "DNAH", "GPR", "HLA-", "IFN",
            "KCN", "LRRC", "MT-", "NDUF", "PRSS", "RAB", "SERPIN", "TBC1D", "UBE2", "USP"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def symbol(rng: random.Random) -> str:
    """A gene-symbol-like name."""
    if rng.random() < 0.55:
        family = rng.choice(FAMILIES)
        suffix = f"{rng.randint(1, 999)}" + (rng.choice("ABCDEFGH") + str(rng.randint(1, 30))
                                             if rng.random() < 0.2 else "")
        return family + suffix
    letters = "".join(rng.choice("ABCDEFGHIKLMNPRSTVWXYZ") for _ in range(rng.randint(2, 5)))
    return letters + (str(rng.randint(1, 20)) if rng.random() < 0.7 else "")


def make_gff3(path: Path, genes: int, seed: int) -> dict:
    """Write the annotation; returns its stamp (generator version, seed, genes, md5, counts)."""
    rng = random.Random(seed)
    total = sum(size for _, size in CHROMS)
    counts = {"genes": 0, "transcripts": 0, "exons": 0}
    gene_no, tx_no, exon_no = 100000, 200000, 300000
    symbols = [symbol(rng) for _ in range(genes)]
    for i in rng.sample(range(genes), genes // 200):  # a few names on many loci, as Y_RNA and 5S_rRNA are
        symbols[i] = rng.choice(["Y_RNA", "5S_rRNA", "U6", "Metazoa_SRP", "SNORA70"])
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        out.write("##gff-version 3\n")
        done = 0
        for chrom, size in CHROMS:
            n = round(genes * size / total) if chrom != CHROMS[-1][0] else genes - done
            out.write(f"##sequence-region {chrom} 1 {size}\n")
            starts = sorted(rng.randrange(1, size - 300000) for _ in range(n))
            for start in starts:
                name = symbols[done]
                done += 1
                gene_no += 1
                gene_id = f"ENSG{gene_no:011d}"
                strand = rng.choice("+-")
                length = int(rng.lognormvariate(9.5, 1.2)) % 250000 + 500
                end = start + length
                out.write(f"{chrom}\tensembl\tgene\t{start}\t{end}\t.\t{strand}\t.\tID=gene:{gene_id};"
                          f"Name={name};gene_id={gene_id};biotype=protein_coding\n")
                counts["genes"] += 1
                for t in range(rng.randint(1, 4)):
                    tx_no += 1
                    tx_id = f"ENST{tx_no:011d}"
                    t_start = start + (rng.randrange(0, length // 4) if t else 0)
                    t_end = end - (rng.randrange(0, length // 4) if t else 0)
                    out.write(f"{chrom}\tensembl\tmRNA\t{t_start}\t{t_end}\t.\t{strand}\t.\t"
                              f"ID=transcript:{tx_id};"
                              f"Parent=gene:{gene_id};Name={name}-{201 + t};transcript_id={tx_id}\n")
                    counts["transcripts"] += 1
                    exons = rng.randint(2, 7)
                    bounds = sorted(rng.sample(range(t_start, t_end), 2 * exons - 2))
                    edges = [t_start, *bounds, t_end]
                    for e in range(exons):
                        exon_no += 1
                        out.write(f"{chrom}\tensembl\texon\t{edges[2 * e]}\t{edges[2 * e + 1]}\t.\t"
                                  f"{strand}\t.\t"
                                  f"Parent=transcript:{tx_id};exon_id=ENSE{exon_no:011d}\n")
                        counts["exons"] += 1
    os.replace(tmp, path)
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    return {"generator": GENERATOR_VERSION, "seed": seed, "genes": genes, "md5": digest, **counts}


def indexed_names(path: Path) -> list[str]:
    """The names the index must hold, read from the file (for drawing queries)."""
    names = set()
    pattern = re.compile(r"(?:^|;)(?:ID|Name|gene_id|transcript_id)=([^;\n]+)")
    with open(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                names.update(pattern.findall(line.rstrip("\n").split("\t")[8]))
    return sorted(names)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", type=int, default=60000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--grep-queries", type=int, default=40)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    inputs = WORK / "inputs" / "features"
    inputs.mkdir(parents=True, exist_ok=True)
    gff = inputs / f"annotation.{args.genes}.gff3"
    stamp_path = gff.with_suffix(".json")
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() and gff.exists() else None
    if not stamp or stamp.get("generator") != GENERATOR_VERSION or stamp.get("seed") != args.seed:
        began = time.monotonic()
        stamp = make_gff3(gff, args.genes, args.seed)
        stamp_path.write_text(json.dumps(stamp))
        log.info("generated %s in %.1f s", gff.name, time.monotonic() - began)
    names = indexed_names(gff)
    log.info("input: %s, %.1f MB, %d genes, %d transcripts, %d exons, %d distinct names", gff.name,
             gff.stat().st_size / 1e6, stamp["genes"], stamp["transcripts"], stamp["exons"], len(names))

    rng = random.Random(args.seed + 1)
    queries = []
    for _ in range(args.queries):
        name = rng.choice(names)
        prefix = name[:rng.randint(2, min(10, len(name)))]
        queries.append("".join(c.upper() if rng.random() < 0.5 else c.lower() for c in prefix))

    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        work = Path(tmp)
        port = free_port()
        env = {**os.environ, "TRACKPREP_DATA_DIR": str(work / "data"), "TRACKPREP_SAMPLES": "none",
               "TRACKPREP_SOURCE_ROOTS": str(inputs), "TRACKPREP_API_TOKEN": "bench", "PYTHONPATH": str(REPO)}
        serve = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)], env=env,
                                 cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            http = requests.Session()
            for _ in range(300):
                try:
                    if http.get(base + "/health", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.2)
            http.post(base + "/files", json={"id": "annotation", "access_url": str(gff), "md5": stamp["md5"],
                                             "format": "gff3"},
                      headers={"Authorization": "Bearer bench"}, timeout=60).raise_for_status()
            began = time.monotonic()
            cold = http.get(base + "/features/annotation", params={"q": "a"}, timeout=60)
            if cold.status_code != 202:
                raise SystemExit(f"expected 202 on a cold cache, got {cold.status_code}: {cold.text}")
            while True:
                job = http.get(base + cold.json()["status_url"], timeout=60).json()
                if job["status"] in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.2)
            build = time.monotonic() - began
            if job["status"] != "completed":
                raise SystemExit(f"the build ended {job['status']}: {job.get('error')}")
            log.info("build through the service (202 -> job completed: artifact + index): %.1f s", build)
            index = next(work.rglob("features.sqlite"))
            for stage in ("sort_bgzip.gff3", "feature_names_sqlite"):  # Snakemake's own stage timings
                tsv = next(work.rglob(f"{stage}.benchmark.tsv"), None)
                if tsv is not None:
                    seconds = float(tsv.read_text().splitlines()[1].split("\t")[0])
                    log.info("  stage %s: %.1f s", stage, seconds)
            log.info("index: %.1f MB", index.stat().st_size / 1e6)

            latencies, hits = [], 0
            began = time.monotonic()
            for query in queries:
                start = time.perf_counter()
                response = http.get(base + "/features/annotation", params={"q": query, "limit": args.limit},
                                    timeout=60)
                latencies.append(time.perf_counter() - start)
                features = response.json()["features"]
                if response.status_code != 200 or not features or \
                        any(not f["name"].lower().startswith(query.lower()) for f in features):
                    raise SystemExit(f"wrong answer for {query!r}: {response.status_code} "
                                     f"{response.text[:300]}")
                hits += len(features)
            wall = time.monotonic() - began
            floor = []  # the HTTP stack alone: the same route answering 404 for an unknown id
            for query in queries[:500]:
                start = time.perf_counter()
                http.get(base + "/features/nobody", params={"q": query, "limit": args.limit}, timeout=60)
                floor.append((time.perf_counter() - start) * 1000)
        finally:
            serve.terminate()
            serve.wait(timeout=90)

    ms = [value * 1000 for value in latencies]
    result = {"queries": len(queries), "limit": args.limit, "hits": hits, "build_s": round(build, 2),
              "p50_ms": percentile(ms, 0.5), "p90_ms": percentile(ms, 0.9), "p99_ms": percentile(ms, 0.99),
              "max_ms": max(ms), "mean_ms": statistics.mean(ms), "rps": len(queries) / wall}
    result.update(floor_p50_ms=percentile(floor, 0.5), floor_p99_ms=percentile(floor, 0.99))
    log.info("HTTP floor (404 for an unknown id, %d requests): p50 %.2f ms, p99 %.2f ms", len(floor),
             result["floor_p50_ms"], result["floor_p99_ms"])
    log.info("%d searches (limit %d, %d hits): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, "
             "%.0f req/s",
             len(queries), args.limit, hits, result["p50_ms"], result["p90_ms"], result["p99_ms"],
             result["max_ms"], result["rps"])

    grep_ms = []
    for query in queries[:args.grep_queries]:
        literal = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", query)  # ERE-escaped
        pattern = f"(\t|;)(ID|Name|gene_id|transcript_id)={literal}"  # a real tab
        start = time.perf_counter()
        found = subprocess.run(["grep", "-i", "-E", pattern, str(gff)], capture_output=True, text=True)
        grep_ms.append((time.perf_counter() - start) * 1000)
        if found.returncode != 0:
            raise SystemExit(f"grep found nothing for {query!r}")
    result.update(grep_queries=len(grep_ms), grep_p50_ms=percentile(grep_ms, 0.5),
                  grep_p99_ms=percentile(grep_ms, 0.99), locale=os.environ.get("LC_ALL") or
                  os.environ.get("LANG") or "C", load=os.getloadavg()[0])
    result["ratio_p50"] = result["grep_p50_ms"] / result["p50_ms"]
    log.info("grep -i -E on the GFF3 (%d of the same queries, locale %s): p50 %.1f ms, p99 %.1f ms",
             len(grep_ms), result["locale"], result["grep_p50_ms"], result["grep_p99_ms"])
    log.info("grep p50 / service p50: %.0fx (load average %.2f)", result["ratio_p50"], result["load"])
    with open(WORK / "results.jsonl", "a") as handle:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        handle.write(json.dumps({"bench": "features", "time": when,
                                 **stamp, **result}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
