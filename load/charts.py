"""PNG charts of a run, per second: throughput, latency percentiles, 429 share, cache hit ratio, the
backends' shares during failover, and each key's admitted tokens against the declared limit.

matplotlib with the Agg backend (files only, no display); every chart is drawn from the observation
timeline (aigw.load.analysis.timeline), so all scenarios share one code path.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from aigw.load.analysis import RunData, percentile, timeline  # noqa: E402


def _seconds(rows: list[dict], start: float) -> dict[int, list[dict]]:
    buckets: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        buckets[int(row["t"] - start)].append(row)
    return dict(sorted(buckets.items()))


def _figure(title: str, ylabel: str):
    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
    axes.set_title(title, fontsize=11)
    axes.set_xlabel("seconds since start")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    return figure, axes


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def draw_all(run: RunData, folder: Path, metrics: dict[str, Any]) -> list[Path]:
    """Every chart that applies to this run, written into ``folder``; returns their paths."""
    rows = [r for r in timeline(run) if r["t"] is not None]
    if not rows:
        return []
    start = min(r["t"] for r in rows)
    buckets = _seconds(rows, start)
    xs = list(buckets)
    paths = [_throughput(buckets, xs, folder / "throughput.png"), _latency(buckets, xs, folder / "latency.png"),
             _throttled(buckets, xs, folder / "throttled.png")]
    if run.scenario == "caching":
        paths.append(_hit_ratio(buckets, xs, folder / "hit_ratio.png"))
    if run.scenario == "failover":
        paths.append(_backends(buckets, xs, run.rows("action"), start, folder / "backends.png"))
    if run.scenario == "rate-limit" and metrics.get("token_limit"):
        paths.append(_tokens(run, start, metrics, folder / "tokens.png"))
    return paths


def _throughput(buckets, xs, path: Path) -> Path:
    figure, axes = _figure("Throughput", "requests / s")
    axes.plot(xs, [sum(1 for r in buckets[x] if r["status"] == 200) for x in xs], label="2xx", color="tab:green")
    axes.plot(xs, [sum(1 for r in buckets[x] if r["status"] != 200) for x in xs], label="other", color="tab:red")
    axes.legend(loc="upper right", fontsize=8)
    return _save(figure, path)


def _latency(buckets, xs, path: Path) -> Path:
    figure, axes = _figure("Latency percentiles (streams: time to first token)", "ms")
    for share, color in ((0.5, "tab:blue"), (0.95, "tab:orange"), (0.99, "tab:red")):
        axes.plot(xs, [percentile([r["ms"] for r in buckets[x]], share) for x in xs], label=f"p{int(share * 100)}",
                  color=color)
    axes.legend(loc="upper right", fontsize=8)
    return _save(figure, path)


def _throttled(buckets, xs, path: Path) -> Path:
    figure, axes = _figure("Throttled (429) share", "share of requests")
    axes.plot(xs, [sum(1 for r in buckets[x] if r["status"] == 429) / len(buckets[x]) for x in xs], color="tab:purple")
    axes.set_ylim(0, 1.05)
    return _save(figure, path)


def _hit_ratio(buckets, xs, path: Path) -> Path:
    figure, axes = _figure("Cache hit ratio", "hits / answered")
    ratios = []
    for x in xs:
        answered = [r for r in buckets[x] if r["status"] == 200]
        ratios.append(sum(1 for r in answered if r["label"] == "hit") / len(answered) if answered else None)
    axes.plot(xs, ratios, color="tab:green")
    axes.set_ylim(0, 1.05)
    return _save(figure, path)


def _backends(buckets, xs, actions: list[dict], start: float, path: Path) -> Path:
    figure, axes = _figure("Answers per backend (failover schedule marked)", "requests / s")
    names = sorted({r["label"] for rows in buckets.values() for r in rows if r["status"] == 200})
    series = [[sum(1 for r in buckets[x] if r["status"] == 200 and r["label"] == name) for x in xs] for name in names]
    if series:
        axes.stackplot(xs, *series, labels=names, alpha=0.8)
    for action in actions:
        at = action["t"] - start
        if at > xs[-1] + 1:
            continue  # the restores at the end of the run
        axes.axvline(at, color="black", linestyle=":", linewidth=0.8)
        axes.annotate(f"{action['action']} {action['backend']}", (at, axes.get_ylim()[1] * 0.95), fontsize=6,
                      rotation=90, va="top", ha="right")
    axes.legend(loc="lower left", fontsize=8)
    return _save(figure, path)


def _tokens(run: RunData, start: float, metrics: dict, path: Path) -> Path:
    """Admitted tokens per key, accumulated within each window, against limit and limit + reservation."""
    figure, axes = _figure("Admitted tokens per key within the window", "tokens")
    window, offset = metrics["window_s"], float(run.options.get("window_offset") or 0.0)
    by_key: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(run.rows("request"), key=lambda r: r["t1"]):
        if row["status"] == 200:
            by_key[row["key"]].append(row)
    for key, rows in by_key.items():
        xs, ys, total, current = [], [], 0, None
        for row in rows:
            index = int((row["t1"] + offset) // window)
            if index != current:
                if current is not None:  # a new window: break the line instead of drawing the drop
                    xs.append(row["t1"] - start)
                    ys.append(float("nan"))
                current, total = index, 0
            total += row["tokens"]
            xs.append(row["t1"] - start)
            ys.append(total)
        axes.plot(xs, ys, label=key[:4] + "…" + key[-4:], linewidth=1)
    axes.axhline(metrics["token_limit"], color="red", linestyle="--", linewidth=1, label="declared limit")
    axes.legend(loc="upper left", fontsize=8)
    return _save(figure, path)
