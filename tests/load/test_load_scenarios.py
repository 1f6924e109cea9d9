"""Every scenario for a few seconds against the embedded target (mocks + gateway in a child process, Locust
in child processes), judged by the verdicts it writes — including a target whose token limit is missing,
which the rate-limit scenario must flag, and an SLA that is missed on purpose."""

import json

import pytest
import yaml

from aigw.cli.main import main
from aigw.gateway.config import example_config_path
from aigw.load.runner import LoadRun, run as run_plan
from aigw.stack.configs import load_target_config
from aigw.stack.run import load_target

TOKEN_LIMIT = 2000  # per minute and subscription: reached within a couple of seconds


def _gateway_config(tmp_path, token_limit: int | None) -> str:
    """The load target's config with the starter product's token limit set to ``token_limit`` (None: removed)."""
    config = load_target_config(example_config_path().read_text("utf-8"))
    for product in config["products"]:
        inbound = product.get("policies", {}).get("inbound", [])
        if token_limit is None:
            inbound[:] = [p for p in inbound if "llm-token-limit" not in p]
        for policy in inbound:
            if "llm-token-limit" in policy:
                policy["llm-token-limit"]["tokens-per-minute"] = token_limit
    path = tmp_path / f"gateway-{token_limit}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def run(plan: LoadRun, echo=None):
    """The runner against the embedded target the plan describes, as `aigw load` starts it."""
    return run_plan(plan, echo or (lambda line: None), load_target(plan.gateway_config, plan.latency, plan.seed))


def _gates(outcome) -> dict:
    return {g["gate"]: g for g in outcome.summary["gates"]}


def test_rate_limit_holds_on_a_gateway_with_the_limit(tmp_path):
    plan = LoadRun("rate-limit", users=8, duration=12, report_dir=tmp_path / "reports",
                   gateway_config=_gateway_config(tmp_path, TOKEN_LIMIT), window_reset_after=6,
                   locust_args=["--token-limit", str(TOKEN_LIMIT)])
    outcome = run(plan, echo=lambda line: None)
    figures, gates = outcome.summary["metrics"], _gates(outcome)
    assert outcome.exit_code == 0, outcome.summary["gates"]
    assert figures["throttled"] > 0, "the limit was never reached: the run proved nothing"
    for key in figures["keys"].values():
        assert key["worst_window_tokens"] <= key["allowed"]
        assert key["throttled_without_retry_after"] == 0
    assert gates["limit_exact"]["verdict"] == "pass" and gates["retry_after"]["verdict"] == "pass"
    assert gates["recovery"]["verdict"] == "pass", "the window rolled mid-run: throttled clients must recover"
    folder = outcome.folder
    for name in ("locust.html", "locust_stats.csv", "locust_stats_history.csv", "summary.json", "summary.html",
                 "observations.json", "throughput.png", "latency.png", "throttled.png", "tokens.png"):
        assert (folder / name).stat().st_size > 0, name
    html = (folder / "summary.html").read_text("utf-8")
    assert "data:image/png;base64," in html and "limit_exact" in html
    # the same verdict again from the files alone (how a multi-machine run is judged)
    assert main(["load", "rate-limit", "--analyze", str(folder), "--report-dir", str(tmp_path)]) == 0


def test_rate_limit_flags_a_gateway_without_the_declared_limit(tmp_path, capsys):
    code = main(["load", "rate-limit", "--users", "8", "--duration", "6s", "--report-dir", str(tmp_path),
                 "--gateway-config", _gateway_config(tmp_path, None), "--", "--token-limit", str(TOKEN_LIMIT)])
    assert code == 1
    summary = json.loads((tmp_path / "rate-limit" / "summary.json").read_text())
    gates = {g["gate"]: g for g in summary["gates"]}
    assert gates["limit_exact"]["verdict"] == "fail"
    assert gates["limit_exact"]["measured"] > 2 * TOKEN_LIMIT
    assert summary["metrics"]["throttled"] == 0
    err = capsys.readouterr().err
    assert "limit_exact" in err and "fail" in err and "FAILED" in err


def test_caching_hits_are_counted_and_faster(tmp_path):
    outcome = run(LoadRun("caching", users=4, duration=6, report_dir=tmp_path,
                          locust_args=["--repeat-ratio", "0.5", "--paraphrase-ratio", "0.2"]), echo=lambda line: None)
    figures = outcome.summary["metrics"]
    assert outcome.exit_code == 0, outcome.summary["gates"]
    assert figures["header_seen"] and figures["hits_faster"]
    assert figures["kinds"]["repeat"]["hit_ratio"] > 0.9
    assert figures["kinds"]["fresh"]["requests"] > 0
    assert 0.45 <= figures["hit_ratio"] <= 0.9
    names = {row["name"] for row in outcome.summary["per_name"]}
    assert {"chat [hit]", "chat [miss]"} <= names
    assert (outcome.folder / "hit_ratio.png").exists()


def test_failover_schedule_runs_and_traffic_moves_between_backends(tmp_path):
    outcome = run(LoadRun("failover", users=4, duration=8, report_dir=tmp_path), echo=lambda line: None)
    figures = outcome.summary["metrics"]
    assert outcome.exit_code == 0, outcome.summary["gates"]
    assert figures["actions_failed"] == []
    phases = {p["phase"]: p for p in figures["phases"]}
    assert "outage eastus" in phases and "throttle swedencentral" in phases
    assert phases["baseline"]["backends"].get("eastus", 0) > 0.3  # weight 2 of 3 when all are healthy
    outage = next(p for p in figures["phases"] if p["phase"] == "outage eastus")
    assert outage["backends"].get("eastus", 0) < 0.2  # the breaker opens within the first few requests
    assert [r["disruption"] for r in figures["recoveries"]] == ["outage eastus", "throttle swedencentral", "slow eastus"]
    assert (outcome.folder / "backends.png").exists()


def test_streaming_reports_ttft_and_a_missed_sla_exits_1(tmp_path, capsys):
    sla = tmp_path / "sla.yaml"
    sla.write_text("p95_ms: 0.001        # no real gateway answers this fast: must fail\n"
                   "ttft_p95_ms: 10000\nerror_rate: 0.0\nstreams_complete: 1.0\n")
    code = main(["load", "streaming", "--users", "4", "--duration", "5s", "--sla", str(sla), "--report-dir", str(tmp_path)])
    assert code == 1
    summary = json.loads((tmp_path / "streaming" / "summary.json").read_text())
    gates = {g["gate"]: g for g in summary["gates"]}
    assert gates["p95_ms"]["verdict"] == "fail"
    assert all(gates[name]["verdict"] == "pass" for name in ("ttft_p95_ms", "error_rate", "streams_complete"))
    types = {row["type"] for row in summary["per_name"]}
    assert {"TTFT", "ITL"} <= types
    figures = summary["metrics"]
    assert figures["complete"] == figures["streams"] > 0 and figures["tokens_per_s_p50"] > 0
    assert summary["overall"]["ttft_p95_ms"] is not None
    assert "p95_ms" in capsys.readouterr().err


def test_mixed_with_a_shape_on_two_distributed_workers(tmp_path):
    outcome = run(LoadRun("mixed", users=6, spawn_rate=6, duration=8, shape="step", workers=2, report_dir=tmp_path,
                          locust_args=["--mix", "chat=3,stream=2,embeddings=2,mcp=2", "--steps", "2"]),
                  echo=lambda line: None)
    figures = outcome.summary["metrics"]
    assert outcome.exit_code == 0, outcome.summary["gates"]
    assert set(figures["operations"]) == {"chat", "stream", "embeddings", "mcp"}
    assert all(op["errors"] == 0 for op in figures["operations"].values())
    # the observations came from the workers to the master (report_to_master), the stats too
    assert sum(op["requests"] for op in figures["operations"].values()) == pytest.approx(
        outcome.summary["overall"]["requests"], rel=0.5)
    names = {row["name"] for row in outcome.summary["per_name"]}
    assert {"mcp initialize", "mcp tools/call", "embeddings", "chat stream"} <= names


def test_bad_runner_options_are_refused(capsys):
    assert main(["load", "caching", "--workers", "-1"]) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["load", "caching", "--shape", "zigzag"])
    assert "invalid choice" in capsys.readouterr().err
