"""What every bench does around its measurements: write the JSON report, and stop cleanly on Ctrl-C/SIGTERM."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, Callable

from rich.console import Console


def write_report(console: Console, path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"report: {path}")


def _terminate(signum, frame):  # SIGTERM → the same clean-up path as Ctrl-C
    raise KeyboardInterrupt


def run_main(run: Callable[[Console], int], width: int) -> int:
    """Run a bench with a console ``width`` wide when piped (tables keep one line per row)."""
    signal.signal(signal.SIGTERM, _terminate)
    console = Console()
    if not console.is_terminal:
        console = Console(width=width)
    try:
        return run(console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers stopped, no report written[/]")
        return 130
