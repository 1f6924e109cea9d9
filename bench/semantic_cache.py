"""Semantic cache lookup cost at 10k and 100k entries: numpy brute force vs the gateway's VectorIndex (HNSW).

    .venv/bin/python bench/semantic_cache.py [--sizes 10000,100000] [--dims 1536] [--queries 400]
                                             [--vectors mock|random] [--json reports/bench/semantic_cache.json]

For each size the same vectors go into (a) one contiguous float32 matrix searched by brute force (matrix @ q,
argmax) and (b) ``aigw.gateway.cache.vector_index.VectorIndex``, the structure a cache partition really uses
(a usearch HNSW graph of int8 vectors; new vectors wait in a small exact buffer until a background task
indexes them). Inserts are timed one by one as the background task does them (``flush``): they never sit on
a request's path. Lookups are timed one at a time on one core (the process is pinned to one core while timing
when it can be; BLAS is kept to one thread), after every vector was indexed.

``--vectors mock`` (default) embeds realistic prompts — templates of how people ask things ("How do I {verb}
a {object} in {subject}?", "Why does my …") filled from a few hundred words — with the mock's own embedder,
the data on which the cache's old inverted-file index degraded (cells stopped splitting: 52 ms a lookup at
≈8,400 entries). Half the queries are paraphrases of a stored prompt (other framing words, a synonym or a
typo: a hit at threshold 0.1), half prompts never stored; ``random`` uses Gaussian unit vectors with
near-duplicates at cosine distance ≈ 0.03 instead. Recall is the share of paraphrase queries for which the
index returns the entry brute force finds; false hits, the unrelated queries that matched anything.
Figures, not a test: the target (p50 ≤ 1 ms at 100k, issue 11) is printed beside them, never asserted.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one core means one BLAS thread

import argparse  # noqa: E402
import contextlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from aigw.gateway.cache.vector_index import VectorIndex  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers beside this file
from _cli import run_main, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
THRESHOLD = 0.1  # the example config's score-threshold
TARGET_MS = 1.0
SUBJECTS = ("python rust kubernetes docker postgres redis kafka react azure terraform linux windows git excel pandas "
            "spark nginx oauth graphql grpc dns vpn bluetooth wifi printer laptop iphone android router database "
            "invoice payroll mortgage insurance vacation flight hotel recipe pasta bread coffee garden tomato dog cat "
            "bicycle car engine tire battery camera email calendar spreadsheet budget resume interview").split()
VERBS = ("install configure debug deploy optimize secure migrate backup restore monitor upgrade reset fix clean "
         "speed test scale compare choose learn explain automate").split()
OBJECTS = ("cluster service container connection query table function loop error timeout password account permission "
           "certificate module package server client endpoint request cookie session token file folder disk port "
           "setting profile schedule report").split()
TEMPLATES = ("How do I {v} a {o} in {s}?", "What is the best way to {v} my {s} {o}?",
             "Can you explain how to {v} the {s} {o} step by step?", "Why does my {s} {o} fail when I {v} it?",
             "{v} {s} {o} for beginners", "Give me tips to {v} the {o} of {s} quickly.",
             "What's the difference between {s} and {s2} for a {o}?", "My {s} keeps failing to {v} the {o}, any idea?")
PARAPHRASE = ("Please tell me: {p}", "{p} Thanks!", "Quick question. {p}", "Could you help? {p}", "{p} I am new to this.")


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def prompts(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct realistic prompts (a numbered detail keeps them distinct without changing their topic)."""
    out = []
    for index in range(count):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        pick = lambda words: words[int(rng.integers(len(words)))]  # noqa: E731
        text = template.format(v=pick(VERBS), o=pick(OBJECTS), s=pick(SUBJECTS), s2=pick(SUBJECTS))
        out.append(f"{text} (case {index})")
    return out


def make_vectors(count: int, dims: int, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    if kind == "random":
        return unit(rng.standard_normal((count, dims), dtype=np.float32)), []
    from aigw.mocks.embedder import embed

    texts = prompts(count, rng)
    return np.stack([embed(text, dims) for text in texts]).astype(np.float32), texts


def make_queries(stored: np.ndarray, texts: list[str], count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Half near-duplicates of stored rows, half unrelated; and the rows they copy (-1)."""
    dims = stored.shape[1]
    near = count // 2
    source = rng.choice(len(stored), size=near, replace=False)
    if texts:
        from aigw.mocks.embedder import embed

        duplicates = np.stack([embed(PARAPHRASE[int(rng.integers(len(PARAPHRASE)))].format(p=texts[row]), dims)
                               for row in source]).astype(np.float32)
        unrelated = np.stack([embed(text.replace("(case", "(other"), dims) for text in prompts(count - near, rng)])
        unrelated = unrelated.astype(np.float32)
    else:
        noise = unit(rng.standard_normal((near, dims), dtype=np.float32))
        duplicates = unit(stored[source] * 0.97 + noise * np.sqrt(1 - 0.97 ** 2))
        unrelated = unit(rng.standard_normal((count - near, dims), dtype=np.float32))
    return np.concatenate([duplicates, unrelated]), np.concatenate([source, np.full(count - near, -1)])


def percentiles(samples: list[float]) -> dict:
    values = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 4), "p99_ms": round(float(np.percentile(values, 99)), 4)}


def brute_force(matrix: np.ndarray, queries: np.ndarray) -> tuple[dict, list[int]]:
    timings, found = [], []
    with one_core():
        for query in queries:
            started = time.perf_counter()
            similarity = matrix @ query
            best = int(np.argmax(similarity))
            hit = best if 1.0 - float(similarity[best]) <= THRESHOLD else -1
            timings.append(time.perf_counter() - started)
            found.append(hit)
    return percentiles(timings), found


def indexed(matrix: np.ndarray, queries: np.ndarray) -> tuple[dict, list[int], dict]:
    index = VectorIndex(matrix.shape[1])
    now, expires = time.time(), time.time() + 3600
    inserts = []
    for row, vector in enumerate(matrix):
        index.add(vector, str(row), expires)
        started = time.perf_counter()
        index.flush(1)  # what the background task does per vector, off the request path
        inserts.append(time.perf_counter() - started)
    timings, found = [], []
    with one_core():
        for query in queries:
            started = time.perf_counter()
            match = index.nearest(query, THRESHOLD, now)
            timings.append(time.perf_counter() - started)
            found.append(int(match.key) if match else -1)
    info = {"insert_off_request_path": percentiles(inserts[len(inserts) // 2:]),
            "memory_mb": round(len(index) * index.vector_bytes / 2**20, 1)}
    return percentiles(timings), found, info


@contextlib.contextmanager
def one_core():
    """Pin the process to its first allowed core while timing lookups (builds may use every core)."""
    try:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(allowed)})
    except (AttributeError, OSError):
        yield
        return
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def run(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    results = []
    for size in args.sizes:
        matrix, texts = make_vectors(size, args.dims, args.vectors, rng)
        queries, sources = make_queries(matrix, texts, args.queries, rng)
        index_timing, index_found, info = indexed(matrix, queries)
        brute_timing, brute_found = brute_force(matrix, queries)
        near = sources >= 0
        agree = sum(1 for i in np.flatnonzero(near) if index_found[i] == brute_found[i])
        false_hits = sum(1 for i in np.flatnonzero(~near) if index_found[i] != -1)
        row = {"entries": size, "dims": args.dims, "brute_force": {**brute_timing, "memory_mb": round(matrix.nbytes / 2**20, 1)},
               "index": {**index_timing, **info}, "recall_near_duplicates": round(agree / max(1, int(near.sum())), 4),
               "false_hits_unrelated": false_hits}
        results.append(row)
        print(f"{size:>7,} entries × {args.dims}-d  brute force p50 {brute_timing['p50_ms']:7.3f} ms  p99 "
              f"{brute_timing['p99_ms']:7.3f} ms │ VectorIndex (HNSW) p50 "
              f"{index_timing['p50_ms']:6.3f} ms  p99 {index_timing['p99_ms']:6.3f} ms  recall {row['recall_near_duplicates']:.3f}"
              f"  false hits {false_hits}  insert (background) p50 {info['insert_off_request_path']['p50_ms']:.3f} ms"
              f"  (target: lookup p50 ≤ {TARGET_MS:g} ms at 100k)", flush=True)
        del matrix
    return {"benchmark": "semantic_cache_lookup", "threshold": THRESHOLD, "vectors": args.vectors, "queries": args.queries,
            "target_p50_ms_at_100k": TARGET_MS, "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "results": results}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", type=lambda s: [int(x) for x in s.split(",") if x.strip()])
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--vectors", choices=["mock", "random"], default="mock")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "bench" / "semantic_cache.json")
    args = parser.parse_args(argv)
    if not args.sizes or min(args.sizes) < 1 or args.dims < 1 or args.queries < 2:
        parser.error("--sizes, --dims and --queries must be positive (at least 2 queries)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def bench(console) -> int:
        write_report(console, args.json, run(args))
        return 0

    return run_main(bench, width=160)


if __name__ == "__main__":
    sys.exit(main())
