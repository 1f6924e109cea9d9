"""The run's summary: ``summary.json`` (figures, gates, verdict), ``summary.html`` (the same with the PNG
charts embedded, so the file stands alone) and the gate table printed on the terminal."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from aigw.load.sla import Gate


def write_json(path: Path, summary: dict[str, Any]) -> Path:
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n", "utf-8")
    return path


def _console() -> Console:
    console = Console(stderr=True)
    return console if console.is_terminal else Console(stderr=True, width=160)  # logs: no wrapping at 80


def print_gates(gates: list[Gate], console: Console | None = None) -> None:
    console = console or _console()
    table = Table(title="SLA gates", show_lines=False)
    for column in ("gate", "measured", "threshold", "verdict", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"pass": "green", "fail": "bold red", "n/a": "yellow"}
    for gate in gates:
        table.add_row(gate.name, str(gate.measured), gate.threshold,
                      f"[{colours[gate.verdict]}]{gate.verdict}[/]", gate.detail)
    console.print(table)


def print_overview(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or _console()
    o = summary["overall"]
    line = (f"{summary['scenario']}: {o['requests']} requests in {o['duration_s']:.1f}s ({o['rps']:.1f} req/s), "
            f"error rate {o['error_rate']:.2%}, p50 {o['p50_ms']} ms, p95 {o['p95_ms']} ms")
    if o.get("ttft_p95_ms") is not None:
        line += f", TTFT p95 {o['ttft_p95_ms']} ms"
    console.print(line)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def _scenario_section(metrics: dict[str, Any]) -> str:
    """Scalars as one table, every list/dict of records as its own table."""
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    parts = [_table([{"figure": k, "value": v} for k, v in scalars.items()])] if scalars else []
    for name, value in metrics.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            parts.append(f"<h3>{html.escape(name)}</h3>" + _table([{"name": k, **v} for k, v in value.items()]))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(f"<h3>{html.escape(name)}</h3>" + _table(value))
        elif isinstance(value, dict) and value:
            parts.append(f"<h3>{html.escape(name)}</h3>" + _table([value]))
    return "".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#f3f3f3}
.pass{color:#1a7f37;font-weight:600}.fail{color:#c62828;font-weight:700}.n\\/a{color:#a66b00}
img{display:block;margin:.5em 0 1em;max-width:100%}.verdict{font-size:1.3em}"""


def write_html(path: Path, summary: dict[str, Any], charts: list[Path]) -> Path:
    gates = summary["gates"]
    gate_rows = "".join(
        f"<tr><td>{html.escape(g['gate'])}</td><td>{html.escape(_cell(g['measured']))}</td>"
        f"<td>{html.escape(g['threshold'])}</td><td class=\"{g['verdict']}\">{g['verdict']}</td>"
        f"<td>{html.escape(g['detail'])}</td></tr>" for g in gates)
    images = "".join(f"<h3>{html.escape(p.stem.replace('_', ' '))}</h3><img alt=\"{p.stem}\" "
                     f"src=\"data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}\">" for p in charts)
    verdict = "PASSED" if summary["passed"] else "FAILED"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>aigw load {html.escape(summary['scenario'])}</title>
<style>{STYLE}</style></head><body>
<h1>aigw load — {html.escape(summary['scenario'])}</h1>
<p class="verdict {'pass' if summary['passed'] else 'fail'}">{verdict}</p>
<p>target {html.escape(str(summary['target']))} · {summary['settings'].get('users')} users · shape
{html.escape(str(summary['settings'].get('shape') or 'steady'))} · {summary['settings'].get('workers') or 0} workers ·
<a href="locust.html">Locust's report</a></p>
<h2>SLA gates</h2><table><thead><tr><th>gate</th><th>measured</th><th>threshold</th><th>verdict</th><th>detail</th></tr></thead>
<tbody>{gate_rows}</tbody></table>
<h2>Overall</h2>{_table([summary['overall']])}
<h2>Scenario: {html.escape(summary['scenario'])}</h2>{_scenario_section(summary['metrics'])}
<h2>Charts</h2>{images or '<p>no observations to chart</p>'}
<h2>Per request name</h2>{_table(summary['per_name'])}
</body></html>"""
    path.write_text(page, "utf-8")
    return path
