"""``aigw check`` never fails a compliant target: the unbroken mock and the embedded gateway pass with
zero failures, over three seeds.

The embedded default (``aigw check`` without ``--target``: three mock regions and the gateway with the
example config) runs in full for seed 0 — its time is printed (the issue's budget is five minutes on two
cores; not asserted, and measured while the other runs share the machine, so an upper bound) — and with
fewer generated examples for seeds 1 and 2. The mock runs alone with the backend profile and its admin
API (``python -m broken none-mock``: the same stack the mock's defects start, without a defect), in full
for seed 0 and reduced for 1 and 2. The six runs are independent and overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from broken.catalogue import run_check

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first test waits for every run
SEEDS = (0, 1, 2)
REDUCED_EXAMPLES = 5
PARALLEL_RUNS = 4  # three embedded runs (mostly waiting) and the mock runs one after another
# Every group applies to the embedded default; the mock alone has no gateway features.
EMBEDDED_GROUPS = {"schema", "streaming", "rate_limits", "caching", "failover", "safety", "auth", "metrics", "mcp", "a2a",
                   "robustness", "security"}
MOCK_GROUPS = {"schema", "streaming", "rate_limits", "mcp", "a2a", "robustness"}


@dataclass(frozen=True)
class Run:
    target: str  # embedded | mock
    seed: int
    max_examples: int | None  # None: the default (a full run)

    @property
    def name(self) -> str:
        return f"{self.target}-seed{self.seed}" + ("-full" if self.max_examples is None else f"-{self.max_examples}ex")


@dataclass
class Outcome:
    status: int
    card: dict | None
    stderr: str
    elapsed_s: float


RUNS = (Run("embedded", 0, None), Run("embedded", 1, None), Run("embedded", 2, REDUCED_EXAMPLES),
        Run("mock", 0, None), *(Run("mock", s, REDUCED_EXAMPLES) for s in SEEDS[1:]))


def execute(run: Run, report_dir: Path) -> Outcome:
    options = ["--seed", str(run.seed), "--report-dir", str(report_dir)]
    if run.max_examples is not None:
        options += ["--max-examples", str(run.max_examples)]
    started = time.monotonic()
    if run.target == "embedded":
        result = subprocess.run([sys.executable, "-m", "aigw.cli.main", "check", *options], capture_output=True,
                                text=True, timeout=600)
    else:
        result = run_check("none-mock", *options, timeout=600)
    elapsed = time.monotonic() - started
    card_path = report_dir / "scorecard.json"
    card = json.loads(card_path.read_text("utf-8")) if card_path.exists() else None
    return Outcome(result.returncode, card, result.stderr, elapsed)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    """Every run, PARALLEL_RUNS at a time: the embedded ones spend most of their time waiting (for a rate-limit
    window to end, for a Retry-After), so the three start together and the mock runs share the last slot."""
    root = tmp_path_factory.mktemp("compliant")
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {run.name: pool.submit(execute, run, root / run.name) for run in RUNS}
        results = {name: future.result() for name, future in futures.items()}
    full = results[RUNS[0].name]
    print(f"\nfull `aigw check` of the embedded default (seed {RUNS[0].seed}): {full.elapsed_s:.1f} s wall "
          f"({(full.card or {}).get('duration_s', '?')} s in the suite; {PARALLEL_RUNS - 1} other runs shared the 2 cores)"
          f"\n{len(RUNS)} runs in {time.monotonic() - started:.1f} s: "
          + ", ".join(f"{name} {outcome.elapsed_s:.1f} s" for name, outcome in results.items()))
    return results


@pytest.mark.parametrize("run", RUNS, ids=lambda r: r.name)
def test_compliant_target_passes_with_zero_failures(run: Run, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[run.name]
    assert outcome.card is not None, f"no scorecard (exit {outcome.status}):\n{outcome.stderr[-3000:]}"
    failures = [f"{group}: {f['test']}: {f['message'][:400]}" for group, entry in outcome.card["groups"].items()
                for f in entry["failures"]]
    assert not failures, "a compliant target failed:\n" + "\n".join(failures)
    unjudged = [f"{group}: {c['test']}: {c['message'][:400]}" for group, entry in outcome.card["groups"].items()
                for c in entry.get("inconclusive_checks", [])]
    assert not unjudged, "checks of a resettable target were inconclusive:\n" + "\n".join(unjudged)
    assert outcome.status == 0, f"exit {outcome.status}:\n{outcome.stderr[-3000:]}"
    assert outcome.card["verdict"] == "compliant" and outcome.card["seed"] == run.seed
    passed = {group for group, entry in outcome.card["groups"].items() if entry["status"] == "passed"}
    assert passed == (EMBEDDED_GROUPS if run.target == "embedded" else MOCK_GROUPS), (
        f"groups that passed: {sorted(passed)}; not applicable: "
        + str({g: e["not_applicable_reasons"] for g, e in outcome.card["groups"].items() if e["status"] != "passed"}))
