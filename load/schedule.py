"""The failover scenario's fault schedule: which mock to break how, and when (no Locust import here).

The runner validates a schedule before any load starts; the failover locustfile executes it. A schedule is
a YAML list of steps; ``at`` is seconds from the start (``12`` or ``12s``) or a share of the run (``25%``)::

    - {at: 15%, backend: eastus, action: outage}          # the whole deployment answers 503
    - {at: 35%, backend: eastus, action: restore}          # no faults, no outage
    - {at: 45%, backend: swedencentral, action: throttle}  # 429 + Retry-After (rate: 1.0 by default)
    - {at: 65%, backend: eastus, action: slow, ms: 400}    # added before each answer
    - {at: 70%, backend: westus, action: fail, status: 500, rate: 0.5}
"""

from __future__ import annotations

from pathlib import Path

import yaml

DEFAULT_SCHEDULE = [
    {"at": "15%", "backend": "eastus", "action": "outage"},
    {"at": "35%", "backend": "eastus", "action": "restore"},
    {"at": "45%", "backend": "swedencentral", "action": "throttle"},
    {"at": "60%", "backend": "swedencentral", "action": "restore"},
    {"at": "65%", "backend": "eastus", "action": "slow", "ms": 400},
    {"at": "80%", "backend": "eastus", "action": "restore"},
]
ACTIONS = ("outage", "fail", "throttle", "slow", "restore")
DISRUPTIONS = ("outage", "fail", "throttle", "slow")


class ScheduleError(ValueError):
    """A schedule that cannot run; the message names the file and step."""


def load_schedule(path: str | None, run_seconds: float) -> list[dict]:
    """The steps with ``at`` resolved to seconds from the start, in time order."""
    source = path or "the default schedule"
    if path:
        try:
            steps = yaml.safe_load(Path(path).read_text("utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise ScheduleError(f"{path}: {error}") from None
    else:
        steps = DEFAULT_SCHEDULE
    if not isinstance(steps, list) or not steps:
        raise ScheduleError(f"{source}: the schedule must be a non-empty YAML list of steps")
    resolved = []
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict) or step.get("action") not in ACTIONS or not step.get("backend"):
            raise ScheduleError(f"{source}, step {number}: needs backend and action "
                                f"(one of {', '.join(ACTIONS)}); got {step!r}")
        resolved.append({**step, "at": _seconds(step.get("at", 0), run_seconds, f"{source}, step {number}")})
    return sorted(resolved, key=lambda s: s["at"])


def _seconds(at, run_seconds: float, where: str) -> float:
    text = str(at).strip()
    try:
        value = float(text[:-1]) / 100 * run_seconds if text.endswith("%") else float(text.rstrip("s"))
    except ValueError:
        raise ScheduleError(f"{where}: at={at!r} is not seconds (12, 12s) or a share of the run (25%)") from None
    if value < 0:
        raise ScheduleError(f"{where}: at={at!r} is negative")
    return value


def admin_calls(step: dict, deployment: str) -> list[tuple[str, str, dict | None]]:
    """``(method, path, body)`` against the mock admin API (aigw.mocks.admin) for one step."""
    outage, faults = f"/_mock/outage/{deployment}", f"/_mock/faults/{deployment}"
    action = step["action"]
    if action == "outage":
        return [("POST", outage, {"down": True})]
    if action == "fail":
        return [("PUT", faults, {"error_rates": {str(step.get("status", 500)): float(step.get("rate", 1.0))}})]
    if action == "throttle":
        return [("PUT", faults, {"error_rates": {"429": float(step.get("rate", 1.0))}})]
    if action == "slow":
        return [("PUT", faults, {"added_latency_ms": float(step.get("ms", 400))})]
    return [("DELETE", faults, None)]


def parse_mocks(spec: str) -> dict[str, str]:
    """``"eastus=http://h:1,westus=http://h:2"`` → ``{"eastus": "http://h:1", ...}``."""
    mocks = {}
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        region, _, url = item.partition("=")
        if not region or not url.startswith(("http://", "https://")):
            raise ScheduleError(f"--mock-admin: {item!r} is not REGION=http://HOST:PORT")
        mocks[region] = url
    return mocks


def check_backends(steps: list[dict], mocks: dict[str, str]) -> None:
    unknown = sorted({s["backend"] for s in steps} - set(mocks))
    if unknown:
        raise ScheduleError(f"the schedule names backends without a --mock-admin URL: {', '.join(unknown)}")
