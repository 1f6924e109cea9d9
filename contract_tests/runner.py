"""``aigw check`` under the hood: probe the target, run pytest, read the verdict.

``aigw check`` is a thin wrapper over ``pytest.main`` running ``aigw.contract_tests.suite`` with the
plugin's ``--aigw-*`` options, a rich progress line instead of pytest's terminal output, and a summary
table from the scorecard. The target is a URL with keys (and optionally the admin URLs of the mocks
behind it and a reset hook); without ``--target`` the CLI starts the embedded default (``aigw.stack``)
and passes its endpoints here — this package never imports the mock or the gateway.

Exit status: 0 compliant, 1 contract violations, 2 the run could not proceed (bad flags, unreachable
target, nothing selected, an internal error), 3 inconclusive (no violation found, but some checks could
not be judged: the target stayed throttled or unavailable).
"""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import requests

COMPLIANT, VIOLATIONS, CANNOT_RUN, INCONCLUSIVE = 0, 1, 2, 3


class CannotRun(Exception):
    """The run could not start; ``str()`` says why, for a person."""


def probe(url: str, what: str) -> None:
    """Any HTTP answer means reachable; no answer is exit 2, before a single check runs."""
    try:
        requests.get(url, timeout=10)
    except requests.RequestException as exc:
        reason = str(exc).split("Caused by")[-1].strip(" ()'\"")[:200]
        raise CannotRun(f"{what} {url} is unreachable: {reason}") from None


def probe_reset(url: str, token: str | None) -> None:
    """A reset hook must work before the run relies on it: exit 2 with the reason, not a run of inconclusive groups."""
    from aigw.contract_tests.target import ResetHook

    try:
        ResetHook(url, token).reset()
    except AssertionError as exc:
        raise CannotRun(f"{exc} (is --reset-token right?)") from None


def plugin_args(plugin_loaded: bool) -> list[str]:
    if plugin_loaded:
        return []
    return ["-p", "aigw.contract_tests.plugin"]


def plugin_autoloads() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == "aigw.contract_tests.plugin" for ep in entry_points(group="pytest11"))


def suite_dir() -> Path:
    import aigw.contract_tests.suite as suite

    return Path(suite.__file__).resolve().parent


def pytest_args(options: dict[str, Any], report_dir: Path) -> list[str]:
    """The pytest command line for ``options`` (``--aigw-*`` names without the prefix)."""
    args = [str(suite_dir()), "-p", "no:cacheprovider", "-p", "no:terminal", "-c", os.devnull,
            "--rootdir", str(suite_dir()), "-o", "python_files=test_*.py", f"--junitxml={report_dir / 'junit.xml'}",
            "-o", "junit_suite_name=aigw-contract", "-o", "junit_family=xunit2", "-W", "ignore::pytest.PytestConfigWarning",
            f"--aigw-report-dir={report_dir}", *plugin_args(plugin_autoloads())]
    for name, value in options.items():
        flag = "--aigw-" + name.replace("_", "-")
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and item is not False:
                args.append(flag if item is True else f"{flag}={item}")
    return args


def run_pytest(options: dict[str, Any], report_dir: Path, progress: Any) -> int:
    import pytest

    report_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("scorecard.json", "report.html", "junit.xml"):
        (report_dir / stale).unlink(missing_ok=True)
    status = pytest.main(pytest_args(options, report_dir), plugins=[progress])
    if status == pytest.ExitCode.OK:
        card = report_dir / "scorecard.json"
        if card.exists() and json.loads(card.read_text("utf-8")).get("verdict") == "inconclusive":
            return INCONCLUSIVE
        return COMPLIANT
    if status == pytest.ExitCode.TESTS_FAILED:
        return VIOLATIONS
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise CannotRun("no checks were selected (see --include/--exclude)")
    if status == pytest.ExitCode.USAGE_ERROR:
        raise CannotRun(getattr(progress, "usage_error", None) or "bad options (see above)")
    raise CannotRun(f"the run was interrupted or failed internally (pytest exit status {int(status)}); see the messages above")
