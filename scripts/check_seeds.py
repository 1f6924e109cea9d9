"""Run the README's first command — `aigw check` on the embedded default — for many seeds, one line each.

    .venv/bin/python scripts/check_seeds.py                 # seeds 0-9, one after another
    .venv/bin/python scripts/check_seeds.py --burn 2        # ... while two processes burn a CPU core each
    .venv/bin/python scripts/check_seeds.py --seeds 3,7 --max-examples 10

Each line: the seed, `aigw check`'s exit status and verdict, the counts from its scorecard and the wall
time. The exit status is 0 when every seed exited 0 (compliant), else 1. Reports go to
REPORT_DIR/seed-N (default reports/seeds). `--burn N` starts N busy-looping processes before the first
seed and stops them after the last, to show the suite holds on a machine that is busy with other work.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import time
from pathlib import Path


def burn() -> None:
    while True:
        pass


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            seeds.extend(range(int(first), int(last or first) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f"seeds are numbers and ranges like 0-9,12 (got {text!r})") from None
    return seeds


def run_seed(seed: int, report_dir: Path, extra: list[str]) -> tuple[int, dict | None, float]:
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "aigw.cli.main", "check", "--seed", str(seed),
                             "--report-dir", str(report_dir), *extra], stdout=subprocess.DEVNULL,
                            stderr=open(report_dir / "check.log", "w"))
    elapsed = time.monotonic() - started
    card_path = report_dir / "scorecard.json"
    return result.returncode, json.loads(card_path.read_text("utf-8")) if card_path.exists() else None, elapsed


def line(seed: int, status: int, card: dict | None, elapsed: float, report_dir: Path) -> str:
    if card is None:
        return f"seed {seed}: exit {status}, no scorecard — see {report_dir / 'check.log'} ({elapsed:.1f} s wall)"
    totals = card["totals"]
    text = (f"seed {seed}: exit {status} {card['verdict']:<12} {totals['passed']:>3} passed, {totals['failed']} failed, "
            f"{totals.get('inconclusive', 0)} inconclusive, {totals['not_applicable']} N/A — {elapsed:6.1f} s wall")
    problems = [f"{group}: {item['test'].rsplit('::', 1)[-1]}" for group, entry in card["groups"].items()
                for item in entry["failures"] + entry.get("inconclusive_checks", [])]
    return text + ("" if not problems else "\n    " + "\n    ".join(problems[:8]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=parse_seeds, default=list(range(10)), help="e.g. 0-9 or 1,4,7 (default: 0-9)")
    parser.add_argument("--burn", type=int, default=0, metavar="N", help="CPU-burning processes alongside (default: 0)")
    parser.add_argument("--max-examples", type=int, metavar="N", help="passed to aigw check (default: its own)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports/seeds"), metavar="DIR")
    args = parser.parse_args(argv)
    extra = ["--max-examples", str(args.max_examples)] if args.max_examples else []
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(max(0, args.burn))]
    for process in burners:
        process.start()
    print(f"aigw check on the embedded default, seeds {args.seeds[0]}..{args.seeds[-1]} ({len(args.seeds)} runs), "
          f"{len(burners)} CPU burner(s), {multiprocessing.cpu_count()} cores", flush=True)
    results = []
    try:
        for seed in args.seeds:
            folder = args.report_dir / f"seed-{seed}"
            status, card, elapsed = run_seed(seed, folder, extra)
            results.append((status, elapsed))
            print(line(seed, status, card, elapsed, folder), flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
    finally:
        for process in burners:
            process.terminate()
            process.join(5)
    times = [elapsed for _, elapsed in results]
    passed = sum(1 for status, _ in results if status == 0)
    print(f"{passed}/{len(results)} seeds exited 0; wall time min {min(times):.1f} s, median {statistics.median(times):.1f} s, "
          f"max {max(times):.1f} s", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
