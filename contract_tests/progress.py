"""What ``aigw check`` shows while it runs (a rich progress line) and after (a summary table).

A pytest plugin object handed to ``pytest.main``: it replaces pytest's terminal output (``-p
no:terminal``) with the current group and test, counts so far (inconclusive ones too), any wait for a
throttled target with its countdown, and at the end one row per group. Messages pytest would have
printed for bad options are kept so the CLI can repeat them.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from aigw.contract_tests.state import INCONCLUSIVE, is_inconclusive


class RichProgress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.counts = {"passed": 0, "failed": 0, INCONCLUSIVE: 0, "not applicable": 0}
        self.current = ""
        self.progress: Progress | None = None
        self.task: Any = None
        self.usage_error: str | None = None
        self.collection_errors: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext.strip()[-1500:]}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("collecting", total=len(session.items), counts=self._counts())

    def _counts(self) -> str:
        inconclusive = f"[yellow]{self.counts[INCONCLUSIVE]} inconclusive[/] " if self.counts[INCONCLUSIVE] else ""
        return (f"[green]{self.counts['passed']} passed[/] [red]{self.counts['failed']} failed[/] {inconclusive}"
                f"[dim]{self.counts['not applicable']} N/A[/]")

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        if self.progress is not None:
            module, _, name = nodeid.rpartition("::")
            group = module.rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
            self.current = f"{group}: {name[:70]}"
            self.progress.update(self.task, description=self.current)

    def pytest_aigw_wait(self, seconds: float, reason: str) -> None:
        """Show the wait for a throttled target, counting down, then the current test again."""
        import time

        if self.progress is None:
            return
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.progress.update(self.task, description=f"[yellow]waiting {left:4.0f} s[/] — {reason}")
            time.sleep(min(1.0, left))
        self.progress.update(self.task, description=self.current)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        skipped = INCONCLUSIVE if is_inconclusive(report) else "not applicable"
        if report.when == "call":
            self._advance("failed" if report.failed else skipped if report.skipped else "passed", report)
        elif report.when == "setup" and (report.skipped or report.failed):
            self._advance(skipped if report.skipped else "failed", report)
        elif report.when == "teardown" and report.failed:
            self.console.print(f"[red]✗ teardown[/] {report.nodeid.rsplit('/', 1)[-1][:160]}")

    def _advance(self, outcome: str, report: pytest.TestReport) -> None:
        self.counts[outcome] += 1
        if self.progress is not None:
            self.progress.update(self.task, advance=1, counts=self._counts())
            if outcome == "failed":
                self.progress.console.print(f"[red]✗[/] {report.nodeid.rsplit('/', 1)[-1][:160]}")
            elif outcome == INCONCLUSIVE:
                self.progress.console.print(f"[yellow]?[/] {report.nodeid.rsplit('/', 1)[-1][:160]} (inconclusive)")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.progress is not None:
            self.progress.stop()

    @pytest.hookimpl(tryfirst=True)
    def pytest_internalerror(self, excrepr: Any) -> None:
        self.console.print(f"[red]internal error:[/] {str(excrepr)[-2000:]}")


def summary_table(card: dict[str, Any]) -> Table:
    table = Table(title=f"aigw check: {card.get('target')} ({card.get('profile')} profile, seed {card.get('seed')})")
    for column, justify in (("group", "left"), ("status", "left"), ("passed", "right"), ("failed", "right"),
                            ("inconclusive", "right"), ("N/A", "right"), ("note", "left")):
        table.add_column(column, justify=justify)
    styles = {"passed": "green", "compliant": "green", "failed": "bold red", "violations": "bold red",
              INCONCLUSIVE: "yellow", "not_applicable": "dim"}
    for name, entry in card["groups"].items():
        status = entry["status"]
        note = ""
        if status == "not_applicable" and entry["not_applicable_reasons"]:
            note = entry["not_applicable_reasons"][0].removeprefix("not applicable: ")
        elif status == INCONCLUSIVE and entry.get("inconclusive_checks"):
            note = entry["inconclusive_checks"][0]["message"].removeprefix(INCONCLUSIVE + ": ")
        table.add_row(name, f"[{styles[status]}]{status.replace('_', ' ')}[/]", str(entry["passed"]), str(entry["failed"]),
                      str(entry.get(INCONCLUSIVE, 0)), str(entry["not_applicable"]), note[:60])
    totals = card["totals"]
    table.add_row("[bold]total", f"[{styles[card['verdict']]}]{card['verdict']}[/]", str(totals["passed"]),
                  str(totals["failed"]), str(totals.get(INCONCLUSIVE, 0)), str(totals["not_applicable"]),
                  f"{card.get('duration_s')} s")
    return table

