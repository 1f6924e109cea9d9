"""Reports of a contract run: JUnit XML (pytest's own), a JSON scorecard and a self-contained HTML page.

The scorecard is the machine-readable verdict: per group, how many checks passed, failed, were
inconclusive (the target stayed throttled or unavailable, see ``state``) or were not applicable, and for
each failure or inconclusive check the message and the requests that led to it as redacted ``curl``
lines, so a vendor can reproduce a violation without our tools. The verdict is ``violations`` when any
check failed, else ``inconclusive`` when any could not be judged, else ``compliant``. The HTML page
renders the same data with inline CSS only (it is mailed around and opened from disk; no external
assets). In JUnit an inconclusive check is a skip whose message starts ``inconclusive:`` and carries the
property ``aigw_verdict=inconclusive``.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aigw.contract_tests.groups import DESCRIPTIONS, GROUPS
from aigw.contract_tests.state import INCONCLUSIVE, is_inconclusive, skip_reason
from aigw.contract_tests.target import redact_url

SCORECARD = "scorecard.json"
HTML = "report.html"
JUNIT = "junit.xml"
MESSAGE_LIMIT = 2000


def default_junit_path(report_dir: str | Path) -> Path:
    return Path(report_dir) / JUNIT


@dataclass
class Outcome:
    test: str
    group: str
    outcome: str  # passed | failed | inconclusive | not_applicable
    duration_s: float = 0.0
    message: str = ""
    requests: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)


class ContractReport:
    """Collects each suite test's outcome; writes the scorecard and the HTML page when the session ends."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.report_dir = Path(config.option.aigw_report_dir)
        self.outcomes: dict[str, Outcome] = {}
        self.started = time.time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict((k, v) for k, v in report.user_properties if k == "aigw_group")
        group = properties.get("aigw_group")
        if group is None:
            return
        current = self.outcomes.get(report.nodeid) or Outcome(report.nodeid, group, "passed")
        self.outcomes[report.nodeid] = current
        current.duration_s += report.duration
        if report.skipped and current.outcome != "failed":
            current.outcome = INCONCLUSIVE if is_inconclusive(report) else "not_applicable"
            current.message = skip_reason(report)[:MESSAGE_LIMIT]
            if current.outcome == INCONCLUSIVE:
                current.requests = [v for k, v in report.user_properties if k == "aigw_request"]
                current.responses = [v for k, v in report.user_properties if k == "aigw_response"]
        elif report.failed:
            current.outcome = "failed"
            prefix = f"[{report.when}] " if report.when != "call" else ""
            current.message = (prefix + _failure_text(report))[:MESSAGE_LIMIT]
            current.requests = [v for k, v in report.user_properties if k == "aigw_request"]
            current.responses = [v for k, v in report.user_properties if k == "aigw_response"]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        target = session.config.stash.get(_target_key(), None)
        meta = {
            "target": redact_url(target.base_url) if target else None,
            "profile": target.profile if target else None,
            "capabilities": target.capabilities.declared() if target else {},
            "seed": session.config.option.aigw_seed,
            "max_examples": session.config.option.aigw_max_examples,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration_s": round(time.time() - self.started, 2),
        }
        card = scorecard(list(self.outcomes.values()), meta)
        write_reports(card, self.report_dir)


def _target_key():
    from aigw.contract_tests.plugin import TARGET

    return TARGET


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message
    return report.longreprtext.strip()


COUNTS = ("passed", "failed", INCONCLUSIVE, "not_applicable")


def scorecard(outcomes: list[Outcome], meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON scorecard: verdict, per-group counts with failures, and every test's outcome."""
    per_group: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        entry = per_group.setdefault(outcome.group, {"description": DESCRIPTIONS.get(outcome.group, ""),
                                                     **{count: 0 for count in COUNTS}, "failures": [],
                                                     "inconclusive_checks": [], "not_applicable_reasons": []})
        entry[outcome.outcome] += 1
        record = {"test": outcome.test, "message": outcome.message, "requests": outcome.requests,
                  "responses": outcome.responses}
        if outcome.outcome == "failed":
            entry["failures"].append(record)
        elif outcome.outcome == INCONCLUSIVE:
            entry["inconclusive_checks"].append(record)
        elif outcome.outcome == "not_applicable" and outcome.message not in entry["not_applicable_reasons"]:
            entry["not_applicable_reasons"].append(outcome.message)
    for entry in per_group.values():
        entry["status"] = ("failed" if entry["failed"] else INCONCLUSIVE if entry[INCONCLUSIVE]
                           else "passed" if entry["passed"] else "not_applicable")
    ordered = {name: per_group[name] for name in (*GROUPS, *sorted(per_group)) if name in per_group}
    totals = {key: sum(entry[key] for entry in ordered.values()) for key in COUNTS}
    return {
        **meta,
        "verdict": "violations" if totals["failed"] else INCONCLUSIVE if totals[INCONCLUSIVE] else "compliant",
        "totals": totals,
        "groups": ordered,
        "tests": [asdict(outcome) for outcome in outcomes],
    }


def merge_scorecards(cards: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """One scorecard from several (``--workers``: each worker process writes its own)."""
    outcomes = [Outcome(**test) for card in cards for test in card.get("tests", [])]
    return scorecard(outcomes, meta)


def write_reports(card: dict[str, Any], report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / SCORECARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (report_dir / HTML).write_text(render_html(card), "utf-8")


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}.meta{color:#5a6270;margin-bottom:1.2rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{padding:.4rem .6rem;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#f4f6f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:1rem;font-weight:600}
.passed,.compliant{background:#e3f5e8;color:#17692f}.failed,.violations{background:#fde7e7;color:#a31919}
.inconclusive{background:#fff4d6;color:#8a5a00}
.not_applicable{background:#eef0f3;color:#5a6270}
details{margin:.5rem 0 1rem;border:1px solid #e3e6ea;border-radius:6px;padding:.4rem .8rem}
summary{cursor:pointer;font-weight:600}pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}
"""


def render_html(card: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for name, entry in card["groups"].items():
        rows.append(f"<tr><td><b>{e(name)}</b><br><small>{e(entry['description'])}</small></td>"
                    f"<td><span class='verdict {e(entry['status'])}'>{e(entry['status'].replace('_', ' '))}</span></td>"
                    f"<td class=n>{entry['passed']}</td><td class=n>{entry['failed']}</td><td class=n>{entry[INCONCLUSIVE]}</td>"
                    f"<td class=n>{entry['not_applicable']}</td>"
                    f"<td><small>{'<br>'.join(e(r) for r in entry['not_applicable_reasons'][:5])}</small></td></tr>")
    def details(kind: str) -> list[str]:
        items = []
        for name, entry in card["groups"].items():
            for failure in entry[kind]:
                reproducers = "".join(f"<pre>{e(request)}</pre>" + (f"<pre>→ {e(response)}</pre>" if response else "")
                                      for request, response in zip(failure["requests"], failure["responses"] + [""] * len(failure["requests"])))
                items.append(f"<details><summary>{e(name)}: {e(failure['test'])}</summary><pre>{e(failure['message'])}</pre>"
                             f"{reproducers or '<p><i>no requests recorded</i></p>'}</details>")
        return items

    failures, unjudged = details("failures"), details("inconclusive_checks")
    capabilities = ", ".join(f"{k}={v}" if v is not True else k for k, v in card.get("capabilities", {}).items())
    totals = card["totals"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aigw contract report</title><style>{CSS}</style></head>
<body><h1>aigw contract report <span class="verdict {e(card['verdict'])}">{e(card['verdict'])}</span></h1>
<div class="meta">target <code>{e(str(card.get('target')))}</code> · profile {e(str(card.get('profile')))} · seed {e(str(card.get('seed')))}
· max examples {e(str(card.get('max_examples')))} · started {e(str(card.get('started')))} · {e(str(card.get('duration_s')))} s<br>
capabilities: {e(capabilities) or '—'}<br>
{totals['passed']} passed · {totals['failed']} failed · {totals[INCONCLUSIVE]} inconclusive · {totals['not_applicable']} not applicable</div>
<table><tr><th>group</th><th>status</th><th>passed</th><th>failed</th><th>inconclusive</th><th>N/A</th><th>why not applicable</th></tr>
{''.join(rows)}</table>
<h2>Failures</h2>{''.join(failures) or '<p>None.</p>'}
<h2>Inconclusive</h2><p>Checks the target could not be judged on: it stayed throttled or unavailable (see each for the evidence).</p>
{''.join(unjudged) or '<p>None.</p>'}
</body></html>
"""
