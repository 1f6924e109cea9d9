"""``aigw check`` finds every deliberately broken rule, in the group that owns the rule.

Each defect of ``broken.catalogue.DEFECTS`` breaks one rule of the real mock or the real gateway. For
each, ``aigw check`` runs against the broken stack with ``--include`` limited to the group that must
catch it, and must exit 1 with the named check failed in that group and nowhere else. A run is
``python -m broken DEFECT ...``: the stack and the CLI in one subprocess, as ``aigw check`` runs its
embedded default (the CLI runs pytest and registers Schemathesis checks: that stays out of this
session; and one process per run lets two runs use both cores). The module starts every selected run
up front, two at a time, and each test judges its own.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from broken.catalogue import DEFECTS, run_check
from broken.wire import Defect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first test waits for every run
PARALLEL_RUNS = 2
SEED = 0


@dataclass
class Verdict:
    status: int
    card: dict | None
    stderr: str
    elapsed_s: float


def check_defect(defect: Defect, report_dir: Path) -> Verdict:
    started = time.monotonic()
    result = run_check(defect.name, "--include", defect.group, "--max-examples", str(defect.max_examples),
                          "--seed", str(SEED), "--report-dir", str(report_dir))
    card_path = report_dir / "scorecard.json"
    card = json.loads(card_path.read_text("utf-8")) if card_path.exists() else None
    return Verdict(result.returncode, card, result.stderr, time.monotonic() - started)


def _selected(session: pytest.Session, module: str) -> list[Defect]:
    names = {item.callspec.params["defect"].name for item in session.items
             if item.module.__name__ == module and hasattr(item, "callspec") and "defect" in item.callspec.params}
    return [defect for defect in DEFECTS if defect.name in names]


@pytest.fixture(scope="module")
def verdicts(request, tmp_path_factory) -> dict[str, Verdict]:
    """Every selected defect's run, started together (PARALLEL_RUNS at a time)."""
    defects = _selected(request.session, request.module.__name__)
    root = tmp_path_factory.mktemp("defects")
    started = time.monotonic()
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {d.name: pool.submit(check_defect, d, root / d.name) for d in defects}
        results = {name: future.result() for name, future in futures.items()}
    print(f"\n{len(results)} defect runs in {time.monotonic() - started:.1f} s "
          f"({PARALLEL_RUNS} at a time): " + ", ".join(f"{n} {v.elapsed_s:.1f} s" for n, v in results.items()))
    return results


def test_there_are_at_least_fifteen_distinct_defects_across_the_groups() -> None:
    assert len({d.name for d in DEFECTS}) == len(DEFECTS) >= 15
    assert {d.group for d in DEFECTS} >= {"schema", "streaming", "rate_limits", "caching", "failover", "safety", "auth",
                                          "metrics", "mcp", "a2a", "robustness", "security"}


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.name)
def test_aigw_check_catches_the_defect_in_its_group(defect: Defect, verdicts: dict[str, Verdict]) -> None:
    verdict = verdicts[defect.name]
    assert verdict.card is not None, f"no scorecard (exit {verdict.status}):\n{verdict.stderr[-3000:]}"
    failures = {group: entry["failures"] for group, entry in verdict.card["groups"].items() if entry["failures"]}
    summary = "\n".join(f"{g}: {f['test']}: {f['message'][:300]}" for g, fs in failures.items() for f in fs) or "none"
    assert verdict.status == 1, f"aigw check exited {verdict.status}, not 1; failures:\n{summary}\n{verdict.stderr[-2000:]}"
    assert set(failures) == {defect.group}, f"expected failures in {defect.group} only; got:\n{summary}"
    caught = [f for f in failures[defect.group] if defect.test in f["test"]]
    assert caught, f"{defect.test} did not fail; the failures were:\n{summary}"
    assert any(defect.message in f["message"] for f in caught), (
        f"{defect.test} failed, but no message mentions {defect.message!r}:\n{summary}")
    assert all(f["requests"] and f["requests"][0].startswith("curl ") for f in caught), "a failure without a reproducer"


def test_a_broken_run_can_be_reproduced_by_hand() -> None:
    listing = run_check("--list", timeout=60)
    assert listing.returncode == 0 and all(d.name in listing.stdout for d in DEFECTS), listing.stderr
    unknown = run_check("no-such-defect", timeout=60)
    assert unknown.returncode == 2 and "unknown defect 'no-such-defect'" in unknown.stderr
