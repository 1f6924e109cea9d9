"""Load generator benchmark: requests/s one Locust worker process generates against the mock, beside the
mock's own capacity.

    python bench/load.py [--duration 10] [--users 64] [--json reports/bench/load.json]

The mock (`aigw mock --latency off`, limits raised out of reach: bench/mock.py's write_ours_config) runs
pinned to core 0, the Locust worker (one process, headless, FastHttpUser) to core 1. Two generators:
``bare`` (bench/_locust_bare.py: a fixed chat request, nothing else) and ``aigw-mixed`` (the mixed scenario,
chat only, with its observation recording — what `aigw load` itself costs per request). Each figure is the
steady-state rate (Locust's per-second counts without the first and last seconds) and requests per CPU
second of the Locust process (its user+system time), the "per worker core" figure; target ≥3,000 req/s
per worker core. The mock's capacity is measured with the bench's own generator (wrk, else aiohttp) on
the same core: when Locust's rate is close to it, the mock — not Locust — was the limit.

Prints figures and writes a JSON report; never asserts a time. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cli import run_main, write_report  # noqa: E402
from _loadgen import pin_prefix, wrk_available  # noqa: E402
from _servers import ServerPool, ServerStartError  # noqa: E402
from mock import SCENARIOS, cpu_model, measure, ours_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MOCK_CORE, LOCUST_CORE = 0, 1
TARGET_PER_CORE = 3000


def locust_rps(base_url: str, name: str, argv_tail: list[str], args: argparse.Namespace, work: Path) -> dict:
    """One headless Locust process pinned to LOCUST_CORE; its steady rate and its CPU seconds."""
    stats = work / f"{name}.json"
    command = pin_prefix(LOCUST_CORE) + [sys.executable, "-m", "locust", "--headless", "-u", str(args.users), "-r",
                                         str(args.users), "-t", f"{args.duration + 3:g}s", "--host", base_url,
                                         "--json-file", str(work / name), "--only-summary", "--loglevel", "ERROR",
                                         "--stop-timeout", "2"] + argv_tail
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 60, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": "Locust did not finish in time"}
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not stats.exists():
        return {"error": f"Locust wrote no statistics (exit {done.returncode}): {done.stderr.strip()[-500:]}"}
    entries = [e for e in json.loads(stats.read_text()) if e["method"] not in ("TTFT", "ITL")]
    per_second: dict[int, int] = {}
    for entry in entries:
        for second, count in entry["num_reqs_per_sec"].items():
            per_second[int(second)] = per_second.get(int(second), 0) + count
    steady = [per_second[s] for s in sorted(per_second)[2:-1]]
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    return {"rps": round(statistics.mean(steady), 1) if steady else None, "requests": requests, "failures": failures,
            "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
            "cpu_share": round(cpu / wall, 2) if wall else None,  # below 1: the worker's core had room left
            "rps_per_cpu_second": round(requests / cpu, 1) if cpu else None}


def run(args: argparse.Namespace, console: Console) -> dict:
    report = {"benchmark": "load", "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "python": sys.version.split()[0]},
              "settings": {"duration_s": args.duration, "users": args.users, "target_per_core": TARGET_PER_CORE,
                           "pinned": bool(pin_prefix(LOCUST_CORE))},
              "locust": {}}
    with tempfile.TemporaryDirectory(prefix="aigw-bench-load-") as folder, ServerPool(Path(folder), MOCK_CORE) as pool:
        work = Path(folder)
        bench_args = argparse.Namespace(ours_cmd=None, generator="wrk" if wrk_available() else "python",
                                        duration=args.duration, warmup=2.0, connections=64)
        console.print(f"mock capacity ({bench_args.generator} generator) …")
        report["mock_capacity"] = {"generator": bench_args.generator,
                                   **measure(pool, ours_spec(bench_args, work), SCENARIOS["chat-repeat"], bench_args)}
        generators = {
            "bare": ["-f", str(REPO / "bench" / "_locust_bare.py")],
            "aigw-mixed": ["-f", str(REPO / "load" / "scenarios" / "mixed.py"), "--mix", "chat=1", "--max-tokens", "20",
                           "--keys", ""],
        }
        for name, tail in generators.items():
            console.print(f"Locust worker, {name} …")
            try:
                server = pool.start(ours_spec(bench_args, work))
            except ServerStartError as error:
                report["locust"][name] = {"error": str(error)}
                continue
            try:
                report["locust"][name] = locust_rps(server.base_url, name, tail, args, work)
            finally:
                pool.stop(server)
    render(console, report)
    return report


def render(console: Console, report: dict) -> None:
    table = Table(title=f"Locust worker vs the mock — {report['machine']['cpu_count']} cores, {report['machine']['cpu_model']}")
    for column in ("generator", "req/s", "req / CPU-s (per worker core)", "failures", "target", "met?", "vs mock capacity"):
        table.add_column(column)
    capacity = report["mock_capacity"].get("rps")
    for name, figures in report["locust"].items():
        if "error" in figures:
            table.add_row(name, "[red]error[/]", figures["error"][:60], "", "", "", "")
            continue
        per_core = figures["rps_per_cpu_second"] or 0
        share = f"{figures['rps'] / capacity:.0%}" if capacity and figures["rps"] else "—"
        table.add_row(name, f"{figures['rps']:,.0f}", f"{per_core:,.0f}", str(figures["failures"]),
                      f"≥{TARGET_PER_CORE:,}/core", "yes" if per_core >= TARGET_PER_CORE else "no", share)
    console.print(table)
    console.print(f"mock capacity: {capacity:,.0f} req/s ({report['mock_capacity']['generator']} generator, "
                  f"mock pinned to core {MOCK_CORE})" if capacity else f"mock capacity: {report['mock_capacity']}")
    console.print("a Locust rate near the mock's capacity means the mock, not the worker, was the limit; "
                  "req / CPU-s is what one worker core generates either way")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--users", type=int, default=64, help="Locust users (connections) (default 64)")
    parser.add_argument("--json", type=Path, default=REPO / "reports" / "bench" / "load.json", help="report path")
    args = parser.parse_args(argv)

    def bench(console: Console) -> int:
        write_report(console, args.json, run(args, console))
        return 0

    return run_main(bench, width=120)


if __name__ == "__main__":
    sys.exit(main())
