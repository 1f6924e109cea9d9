"""What bench/mock.py concludes from its runs, and the tables it prints.

Each scenario is measured in rounds, ours and aimock one after the other in the same round (the order
alternating between rounds), so a ratio compares two servers under the same conditions. On a shared machine
the conditions drift between rounds, so every ratio is reported as the median of the rounds' ratios with
their range, both in wall-clock req/s and in requests per CPU-second of each server's processes (the figure a
busy neighbour on the server's core cannot bend). Targets are printed beside the figures, never asserted.
"""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.table import Table

BOUND_FRACTION = 0.8  # a figure above this share of the generator ceiling is (nearly) generator-bound


def _median_run(runs: list[dict]) -> dict:
    """The run with the median req/s (an actual run, so its latencies and probe belong to it)."""
    ok = sorted((r for r in runs if "error" not in r), key=lambda r: r["rps"])
    if not ok:
        return runs[0]
    chosen = dict(ok[(len(ok) - 1) // 2])
    chosen["rps_runs"] = [r["rps"] for r in ok]
    return chosen


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def summarise(scenario, ours_runs: list[dict], peer_runs: list[dict] | None) -> dict:
    """One table row: each side's median run, the per-round ratios' median and range, the targets' verdict."""
    ours = _median_run(ours_runs)
    peer = _median_run(peer_runs) if peer_runs else None
    wall, per_cpu = [], []
    for mine, theirs in zip(ours_runs, peer_runs or []):
        if "error" in mine or "error" in theirs:
            continue
        if theirs["rps"]:
            wall.append(mine["rps"] / theirs["rps"])
        if mine.get("rps_per_cpu_second") and theirs.get("rps_per_cpu_second"):
            per_cpu.append(mine["rps_per_cpu_second"] / theirs["rps_per_cpu_second"])
    ratio, cpu_ratio = _spread(wall), _spread(per_cpu)
    goals, met = [], []
    if scenario.floor_rps is not None:
        goals.append(f"≥{scenario.floor_rps:,.0f}/s/core")
        met.append("error" not in ours and ours["rps"] >= scenario.floor_rps)
    if peer is not None and scenario.min_ratio:
        goals.append(f"≥{scenario.min_ratio:.1f}× aimock")
        met.append(ratio is not None and ratio["median"] >= scenario.min_ratio)
    return {"scenario": scenario.name, "distinct": scenario.distinct, "ours": ours, "aimock": peer,
            "ratio": ratio, "ratio_per_cpu_second": cpu_ratio, "target": " & ".join(goals) or "—",
            "met": all(met) if met else None}


def _rate(run: dict | None) -> str:
    if run is None:
        return "skipped"
    if "error" in run:
        return "[red]error[/]"
    runs = run.get("rps_runs") or [run["rps"]]
    text = f"{run['rps']:,.0f}" + (f" ({min(runs):,.0f}–{max(runs):,.0f})" if len(runs) > 1 else "")
    return text + (f" [yellow]({run['failures']} failed)[/]" if run["failures"] else "")


def _ratio(spread: dict | None) -> str:
    if spread is None:
        return "—"
    if spread["min"] == spread["max"]:
        return f"{spread['median']:.2f}×"
    return f"{spread['median']:.2f}× ({spread['min']:.2f}–{spread['max']:.2f})"


def _latency(run: dict | None) -> str:
    if not run or "error" in run or run.get("p50_ms") is None:
        return "—"
    return f"{run['p50_ms']:.2f} / {run['p99_ms']:.2f}"


def _shape(run: dict | None) -> str:
    probe_ = (run or {}).get("probe")
    if not probe_:
        return "—"
    parts = []
    if "sse_events" in probe_:
        parts.append(f"{probe_['sse_events']} events ({probe_['content_events']} with content)")
    if "completion_tokens" in probe_:
        parts.append(f"{probe_['completion_tokens']} tokens")
    if "embedding_dimensions" in probe_:
        parts.append(f"{probe_['embedding_dimensions']}-d")
    parts.append(f"{probe_['http_chunks']} writes" if "http_chunks" in probe_ else "content-length")
    parts.append(f"{probe_['body_bytes']:,} B")
    return ", ".join(parts)


def render(console: Console, report: dict, server_core: int, load_core: int) -> None:
    machine, ceiling, settings = report["machine"], report["generator_ceiling"], report["settings"]
    peer = report.get("peer") or {}
    rounds = settings["rounds"]
    table = Table(title=f"Mock backend benchmark — {machine['cpu_count']} cores, {machine['cpu_model']}"
                        + (f" — median of {rounds} rounds (range)" if rounds > 1 else ""))
    for column in ("scenario", "prompts", "ours req/s", "aimock req/s", "ratio", "ratio per CPU-s", "ours p50/p99 ms",
                   "aimock p50/p99 ms", "target", "met?"):
        table.add_column(column, justify="right" if "req/s" in column or column.startswith("ratio") else "left",
                         no_wrap=column in ("scenario", "target", "met?"))
    shapes = Table(title="One response (probe): SSE events incl. [DONE], chunked writes, body bytes")
    for column in ("scenario", "ours", "aimock"):
        shapes.add_column(column)
    ceiling_rps = ceiling.get("rps")
    for row in report["scenarios"]:
        ours, theirs = row["ours"], row.get("aimock")
        verdict = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[row["met"]]
        if ceiling_rps and ours.get("rps", 0) >= BOUND_FRACTION * ceiling_rps:
            verdict += " [yellow](gen-bound)[/]"
        table.add_row(row["scenario"], "distinct" if row["distinct"] else "repeated", _rate(ours), _rate(theirs),
                      _ratio(row["ratio"]), _ratio(row["ratio_per_cpu_second"]), _latency(ours), _latency(theirs),
                      row["target"], verdict)
        shapes.add_row(row["scenario"], _shape(ours), _shape(theirs))
    console.print(table)
    console.print(shapes)
    console.print(f"load: {settings['generator']} on core {load_core}, {settings['connections']} connections, "
                  f"{settings['duration']:g} s after {settings['warmup']:g} s warm-up; servers on core {server_core}"
                  + ("" if machine["pinned"] else " [yellow](taskset unavailable or one core: NOT pinned)[/]")
                  + f"; {rounds} round{'s' if rounds > 1 else ''}, ours and aimock side by side in each")
    console.print("distinct: every request a new prompt (\"… (request N)\"), so our answer memo never hits — what a "
                  "load test sends; repeated: one request over and over, served by the memo")
    if "error" in ceiling:
        console.print(f"[red]generator ceiling not measured:[/] {ceiling['error']}")
    else:
        console.print(f"generator ceiling: {ceiling['rps']:,.0f} req/s ({settings['generator']} against a trivial "
                      f"raw-ASGI uvicorn app); a figure above {BOUND_FRACTION:.0%} of it is mostly generator-bound")
    if peer:
        console.print(f"peer: aimock {peer['version']} on node {peer['node_version']} "
                      f"(SSE chunk size {peer['chunk_size'] or 'default, 20'} chars)")
    for row in report["scenarios"]:
        for who in ("ours", "aimock"):
            if row.get(who) and "error" in row[who]:
                console.print(f"[red]{row['scenario']} / {who}:[/] {row[who]['error']}")
