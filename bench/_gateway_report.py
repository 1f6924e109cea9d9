"""The targets bench/gateway.py prints verdicts for, and the table and lines it prints them in.

Targets are judged and printed, never asserted: a benchmark's figures depend on the machine and what else
runs on it, so a missed target is a line in red, not a failed run.
"""

from __future__ import annotations

from _gateway_systems import BACKEND_CORE, GATEWAY_CORE
from rich.console import Console
from rich.table import Table

TARGET_RPS = 4000  # per gateway core
TARGET_ADDED_P50_MS, TARGET_ADDED_P99_MS = 1.0, 5.0
POLICY_OVERHEAD = 0.15  # policies on: within 15 % of the plain figures
PEER_RATIOS = {"litellm": 30.0, "portkey": 4.0}



def judge(report: dict) -> list[str]:
    """The targets, each as one printed line with its verdict (never asserted)."""
    runs = report["systems"]
    plain = runs.get("ours")
    lines: list[str] = []

    def verdict(ok: bool | None) -> str:
        return {True: "[green]met[/]", False: "[red]not met[/]", None: "—"}[ok]

    if plain and "error" not in plain:
        per_core = plain.get("rps_per_cpu_second") or 0
        lines.append(f"ours ≥{TARGET_RPS:,} req/s per gateway core: {plain['rps']:,.0f} req/s wall, "
                     f"{per_core:,.0f} per CPU-second → {verdict(max(plain['rps'], per_core) >= TARGET_RPS)}")
        unsaturated = plain.get("saturated") is None
        for q, goal in (("p50", TARGET_ADDED_P50_MS), ("p99", TARGET_ADDED_P99_MS)):
            value = plain.get(f"added_{q}_ms")
            lines.append(f"ours added {q} ≤{goal:g} ms at {plain['latency_rate']:g} req/s (the highest rate tried at which "
                         f"the direct path was not saturated): {_added(plain, q)} ms → "
                         f"{verdict(value is not None and value <= goal and unsaturated)}")
        policies = runs.get("ours+policies")
        if policies and "error" not in policies and "skipped" not in policies:
            ratio = policies["rps"] / plain["rps"] if plain["rps"] else 0
            cpu_ratio = ((policies.get("rps_per_cpu_second") or 0) / per_core) if per_core else 0
            lines.append(f"policies on within {POLICY_OVERHEAD:.0%}: {ratio:.2f}× the plain req/s "
                         f"({cpu_ratio:.2f}× per CPU-second), added p50 {policies.get('added_p50_ms')} ms, "
                         f"p99 {policies.get('added_p99_ms')} ms → "
                         f"{verdict(max(ratio, cpu_ratio) >= 1 - POLICY_OVERHEAD)}")
        for peer, goal in PEER_RATIOS.items():
            other = runs.get(peer)
            if not other or "error" in other or "skipped" in other:
                continue
            ratio = plain["rps"] / other["rps"] if other["rps"] else None
            cpu_ratio = (per_core / other["rps_per_cpu_second"]) if other.get("rps_per_cpu_second") else None
            lower = (plain.get("added_p50_ms") is not None and other.get("added_p50_ms") is not None
                     and plain["added_p50_ms"] < other["added_p50_ms"])
            best = max(r for r in (ratio, cpu_ratio) if r is not None) if (ratio or cpu_ratio) else None
            lines.append(f"ours vs {other['label']}: {ratio:.1f}× req/s wall, "
                         f"{cpu_ratio:.1f}× per CPU-second (goal ≥{goal:g}×) → {verdict(best is not None and best >= goal)}; "
                         f"added p50 {plain.get('added_p50_ms')} vs {other.get('added_p50_ms')} ms → {verdict(lower)}")
    return lines


def _added(run: dict, q: str) -> str:
    """An added latency, with the measured difference beside it when noise made that negative (shown as 0)."""
    value, raw = run.get(f"added_{q}_ms"), run.get(f"added_{q}_raw_ms")
    if value is None:
        return "—"
    return f"{value:.3f}" + (f" (measured {raw:.3f})" if raw is not None and raw < 0 else "")


def _fmt(value, pattern: str = "{:,.0f}") -> str:
    return "—" if value is None else pattern.format(value)


def render(console: Console, report: dict) -> None:
    machine, settings = report["machine"], report["settings"]
    table = Table(title=f"Gateway benchmark — {machine['cpu_count']} cores, {machine['cpu_model']}")
    for column in ("system", "req/s", "req/s per CPU-s", "p50/p99 ms (closed loop)", "rate", "added p50 ms",
                   "added p99 ms", "direct p50/p99 ms", "direct idle p50"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name, run in report["systems"].items():
        if "skipped" in run or "error" in run:
            table.add_row(run.get("label", name), "[yellow]skipped[/]" if "skipped" in run else "[red]error[/]",
                          *["—"] * 7)
            continue
        direct = run["latency"]["direct"]
        table.add_row(run["label"], _fmt(run["rps"]) + (f" [yellow]({run['failures']} failed)[/]" if run["failures"] else ""),
                      _fmt(run["rps_per_cpu_second"]), f"{_fmt(run['p50_ms'], '{:.2f}')} / {_fmt(run['p99_ms'], '{:.2f}')}",
                      f"{run['latency_rate']:g}/s" + (" [red](saturated)[/]" if run.get("saturated") else ""),
                      _added(run, "p50"), _added(run, "p99"),
                      f"{_fmt(direct['p50_ms'], '{:.2f}')} / {_fmt(direct['p99_ms'], '{:.2f}')}",
                      _fmt(run["idle"]["direct_p50_ms"], "{:.2f}"))
    console.print(table)
    console.print(f"layout: system under test on core {GATEWAY_CORE}; mock + load generators on core {BACKEND_CORE}"
                  + ("" if machine["pinned"] else " [yellow](taskset unavailable or one core: NOT pinned)[/]")
                  + f"; {settings['generator']} closed loop, {settings['connections']} connections, "
                  f"{settings['duration']:g} s after {settings['warmup']:g} s warm-up; added latency: open loop, "
                  f"system and direct interleaved, {settings['latency_duration']:g} s at the rate shown — the highest "
                  f"rate tried (from {settings['rate']:g}/s down) at which the direct path's p50 stayed near its idle p50")
    console.print("other work on the machine (the load average below) lowers the wall figures; the per-CPU-second "
                  "column does not depend on it")
    for line in judge(report):
        console.print("  " + line)
    for name, run in report["systems"].items():
        if run.get("saturated"):
            console.print(f"[yellow]{run['label']}: the direct path was saturated even at {run['latency_rate']:g} req/s "
                          f"({run['saturated']}): its added latency is not meaningful[/]")
        if "skipped" in run:
            console.print(f"[yellow]{run.get('label', name)}: {run['skipped']}[/]")
        elif "error" in run:
            console.print(f"[red]{run.get('label', name)}:[/] {run['error']}")

