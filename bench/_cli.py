"""What every bench does around its measurements: write the JSON report with its provenance, and stop cleanly
on Ctrl-C/SIGTERM.

Figures from a shared machine mean little without two facts beside them: which code made them (the git
commit, and whether the tree had uncommitted changes) and how busy the machine was (the load average when
the run started and when it ended). Both go into every report and are printed under every run's figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
_started: dict[str, Any] = {}  # what run_main saw before the bench began


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_commit() -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the repository the bench runs from (None when git cannot say)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def write_report(console: Console, path: Path, report: dict[str, Any]) -> None:
    """Add the provenance (commit, load average at start and end), print it under the figures, write JSON."""
    provenance = {**git_commit(), "load_average_start": _started.get("load_average"), "load_average_end": load_average()}
    report["provenance"] = provenance
    commit = (provenance["commit"] or "unknown")[:12] + (" + uncommitted changes" if provenance["dirty"] else "")
    console.print(f"commit {commit}; load average (1/5/15 min) {_shown(provenance['load_average_start'])} at start, "
                  f"{_shown(provenance['load_average_end'])} at end (on {os.cpu_count()} cores)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"report: {path}")


def _shown(values: list[float] | None) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "unknown"


def _terminate(signum, frame):  # SIGTERM → the same clean-up path as Ctrl-C
    raise KeyboardInterrupt


def run_main(run: Callable[[Console], int], width: int) -> int:
    """Run a bench with a console ``width`` wide when piped (tables keep one line per row)."""
    signal.signal(signal.SIGTERM, _terminate)
    _started["load_average"] = load_average()
    console = Console()
    if not console.is_terminal:
        console = Console(width=width)
    try:
        return run(console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers stopped, no report written[/]")
        return 130
