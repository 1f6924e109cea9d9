"""aigw.load's pure parts, without Locust or servers: window accounting, SLA gates, schedules, the
target config, stream reading, shapes and the CLI's argument handling."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from aigw.cli.main import main
from aigw.load import SCENARIOS, SHAPES
from aigw.load.analysis import RunData, percentile, percentile_of_histogram
from aigw.load.metrics import caching, rate_limit, worst_window
from aigw.load.schedule import ScheduleError, admin_calls, check_backends, load_schedule, parse_mocks
from aigw.load.sla import Sla, SlaError, evaluate, load_sla, passed
from aigw.load.sse_client import StreamResult
from aigw.load.target import clock_offset_for
from aigw.stack.configs import CACHED_API_PATH, load_target_config


def _requests(key, times, tokens, latency=0.05):
    return [{"key": key, "t0": t, "t1": t + latency, "status": 200, "tokens": tokens, "reservation": 100,
             "retry_after": None, "cached": False} for t in times]


def _run(scenario, columns, rows, options):
    return RunData([], {"scenario": scenario, "columns": columns, "rows": rows, "options": options, "meta": {}})


RATE_COLUMNS = {"request": ["key", "t0", "t1", "status", "tokens", "reservation", "retry_after", "cached"],
                "wait": ["key", "ended", "waited", "status_after"]}


def test_fixed_window_gateway_passes_and_overshooting_one_is_flagged():
    # 1,000 tokens per minute: 10 requests of 100 in each of two UTC minutes (a correct gateway)...
    good = _requests("k", [600.0 + i for i in range(10)] + [660.0 + i for i in range(10)], 100)
    assert worst_window(good, 60.0, 0.0, "utc")["tokens"] == 1000
    # ...and 30 in one minute (a gateway that ignores the limit)
    bad = _requests("k", [600.0 + i for i in range(30)], 100)
    assert worst_window(bad, 60.0, 0.0, "utc")["tokens"] == 3000


def test_best_case_alignment_never_wrongs_a_gateway_with_another_phase():
    # windows start at :15 of each minute on the gateway; 'utc' alignment would see 2,000 in one minute
    rows = _requests("k", [665.0 + i / 2 for i in range(10)] + [675.0 + i for i in range(10)], 100)
    assert worst_window(rows, 60.0, 0.0, "utc")["tokens"] == 2000
    assert worst_window(rows, 60.0, 0.0, "any")["tokens"] == 1000
    # the same with the gateway clock offset declared
    assert worst_window(rows, 60.0, -15.0, "utc")["tokens"] == 1000


def test_requests_straddling_a_boundary_are_left_out_not_misattributed():
    rows = _requests("k", [659.98], 500, latency=0.1) + _requests("k", [600.0], 100)
    result = worst_window(rows, 60.0, 0.0, "utc")
    assert result == {"tokens": 100, "left_out": 1, "phase": 0.0}


def test_rate_limit_metrics_judge_exactness_retry_after_and_recovery():
    rows = _requests("tenant-a-key-0001", [600.0 + i / 10 for i in range(12)], 100)
    rows.append({"key": "tenant-a-key-0001", "t0": 602.0, "t1": 602.01, "status": 429, "tokens": 0,
                 "reservation": 100, "retry_after": None, "cached": False})
    rows += [{**r, "cached": True, "tokens": 500} for r in _requests("tenant-a-key-0001", [603.0], 0)]
    waits = [{"key": "tenant-a-key-0001", "ended": 640.0, "waited": 30.0, "status_after": 200}]
    run = _run("rate-limit", RATE_COLUMNS,
               {"request": [[r[c] for c in RATE_COLUMNS["request"]] for r in rows],
                "wait": [[w[c] for c in RATE_COLUMNS["wait"]] for w in waits]},
               {"token_limit": 1000, "window": 60, "window_offset": 0, "window_alignment": "utc"})
    figures = rate_limit(run)
    key = figures["keys"]["tena…0001"]
    assert key["worst_window_tokens"] == 1200 and key["allowed"] == 1100  # cached answers cost nothing
    assert figures["limit_exact"] is False and key["throttled_without_retry_after"] == 1
    assert figures["recovery"] == 1.0
    gates = {g.name: g for g in evaluate("rate-limit", Sla(), {"requests": 14}, [], figures)}
    assert gates["limit_exact"].verdict == "fail" and "1200 tokens" in gates["limit_exact"].detail
    assert gates["retry_after"].verdict == "fail" and gates["recovery"].verdict == "pass"


def test_caching_metrics_split_hits_and_misses():
    columns = {"request": ["t0", "ms", "status", "kind", "cache"]}
    rows = [[1.0, 90.0, 200, "fresh", "miss"]] * 4 + [[2.0, 2.0, 200, "repeat", "hit"]] * 5 + [[3.0, 3.0, 200, "paraphrase", "hit"]]
    figures = caching(_run("caching", columns, {"request": rows}, {"repeat_ratio": 0.5, "paraphrase_ratio": 0.1}))
    assert figures["hit_ratio"] == 0.6 and figures["hits_faster"] is True
    assert figures["kinds"]["fresh"]["hit_ratio"] == 0.0 and figures["kinds"]["repeat"]["hit_ratio"] == 1.0
    gates = {g.name: g for g in evaluate("caching", Sla(), {}, [], figures)}
    assert gates["min_hit_ratio"].verdict == "pass" and gates["min_hit_ratio"].threshold == "≥ 0.45"


def test_sla_file_gates_fail_with_reasons_and_unmeasured_asks_fail(tmp_path):
    path = tmp_path / "sla.yaml"
    path.write_text("p95_ms: {chat: 50}\nerror_rate: 0.01\nmin_rps: 100\nttft_p95_ms: 300\nlimit_exact: null\n")
    sla = load_sla(path)
    overall = {"requests": 100, "error_rate": 0.02, "rps": 150.0, "p95_ms": 80.0}
    per_name = [{"type": "POST", "name": "chat", "p95_ms": 80.0}]
    gates = {g.name: g for g in evaluate("rate-limit", sla, overall, per_name, {})}
    assert gates["p95_ms[chat]"].verdict == "fail" and gates["error_rate"].verdict == "fail"
    assert gates["min_rps"].verdict == "pass"
    assert gates["ttft_p95_ms"].verdict == "fail" and gates["ttft_p95_ms"].detail == "not measured in this run"
    assert "limit_exact" not in gates  # null switches a built-in gate off
    assert not passed(list(gates.values()))


def test_bad_sla_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "sla.yaml"
    path.write_text("error_rate: 0.01\nmin_hit_ratio: 3\n")
    with pytest.raises(SlaError, match=r"sla.yaml:2: min_hit_ratio"):
        load_sla(path)
    path.write_text("p99: 10\n")
    with pytest.raises(SlaError, match="p99"):
        load_sla(path)


def test_schedule_resolves_shares_and_rejects_bad_steps(tmp_path):
    steps = load_schedule(None, 20.0)
    assert steps[0] == {"at": 3.0, "backend": "eastus", "action": "outage"}
    assert admin_calls(steps[0], "gpt-4o") == [("POST", "/_mock/outage/gpt-4o", {"down": True})]
    assert admin_calls({"action": "throttle"}, "d") == [("PUT", "/_mock/faults/d", {"error_rates": {"429": 1.0}})]
    bad = tmp_path / "s.yaml"
    bad.write_text("- {at: soon, backend: eastus, action: outage}\n")
    with pytest.raises(ScheduleError, match="step 1: at='soon'"):
        load_schedule(str(bad), 10)
    bad.write_text("- {at: 1, backend: eastus, action: explode}\n")
    with pytest.raises(ScheduleError, match="one of outage, fail"):
        load_schedule(str(bad), 10)
    with pytest.raises(ScheduleError, match="westus"):
        check_backends([{"backend": "westus"}], parse_mocks("eastus=http://127.0.0.1:1"))
    with pytest.raises(ScheduleError, match="REGION=http"):
        parse_mocks("eastus")


def test_load_target_config_moves_the_cache_to_its_own_api():
    from aigw.gateway.config import GatewayConfig, example_config_path
    from aigw.protocol.yamlconfig import expand_env, parse_model

    config = load_target_config(example_config_path().read_text("utf-8"))
    apis = {api["path"]: api for api in config["apis"]}
    cache_names = ("llm-semantic-cache-lookup", "azure-openai-semantic-cache-lookup")
    assert not any(next(iter(p)) in cache_names for p in apis["/openai"].get("policies", {}).get("inbound", []))
    assert next(iter(apis[CACHED_API_PATH]["policies"]["inbound"][0])) in cache_names
    assert any(api.get("kind") == "mcp" for api in config["apis"])
    parse_model(GatewayConfig, expand_env(yaml.safe_dump(config)))  # and the gateway accepts it


def test_clock_offset_puts_the_window_boundary_where_asked():
    offset = clock_offset_for(7.0, now=1000.5)
    assert 0 <= offset < 60 and (1000.5 + 7.0 + offset) % 60 == pytest.approx(0.0, abs=1e-9)


class _FakeRaw:
    """Just enough of geventhttpclient's response for sse_client: a body buffer fed in pieces."""

    def __init__(self, pieces):
        self._pieces = list(pieces)
        self._body_buffer = bytearray()
        self.message_complete = False
        self._sock = self

    def recv(self, _n):
        return self._pieces.pop(0) if self._pieces else b""

    def feed(self, data):
        self._body_buffer += data
        self.message_complete = not self._pieces


def test_stream_result_times_tokens_and_needs_done():
    chunk = lambda text: b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"  # noqa: E731
    usage = b'data: {"choices":[],"usage":{"completion_tokens":3}}\n\n'
    result = StreamResult(started=0.0)
    result.consume(_FakeRaw([chunk("a") + chunk("b"), chunk("c") + usage, b"data: [DONE]\n\n"]), deadline=float("inf"))
    assert result.done and not result.error and len(result.token_times) == 3 and result.tokens == 3
    cut = StreamResult(started=0.0)
    cut.consume(_FakeRaw([chunk("a"), b"event: error\ndata: {}\n\n"]), deadline=float("inf"))
    assert not cut.done and cut.error


def test_shapes_follow_their_plan():
    from aigw.load.shape_plans import soak_users, spike_users, step_users

    options = SimpleNamespace(steps=4, spike_start=0.4, spike_length=0.2, base_share=0.25, ramp_share=0.1)
    assert [step_users(t, 40, 8, 2, options)[0] for t in (0, 10, 20, 39)] == [2, 4, 6, 8]
    assert [spike_users(t, 100, 20, 2, options)[0] for t in (10, 50, 70)] == [5, 20, 5]
    assert soak_users(0, 100, 10, 1, options)[0] < soak_users(50, 100, 10, 1, options)[0] == 10


def test_percentiles_follow_locust_and_nearest_rank():
    assert percentile_of_histogram({10.0: 90, 100.0: 10}, 0.95) == 100.0
    assert percentile_of_histogram({10.0: 96, 100.0: 4}, 0.95) == 10.0
    assert percentile(list(range(1, 101)), 0.95) == 95 and percentile([], 0.5) is None


def test_cli_help_prints_files_and_rejects_bad_input(capsys):
    with pytest.raises(SystemExit):
        main(["load", "--help"])
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and "aigw load rate-limit" in help_text and "--workers" in help_text
    for scenario in SCENARIOS:
        assert main(["load", "--print-locustfile", scenario]) == 0
        path = capsys.readouterr().out.strip()
        assert path.endswith(".py") and "class " in open(path).read()
    for shape in SHAPES:
        assert main(["load", "--print-shapefile", shape]) == 0
        assert "(AigwShape)" in open(capsys.readouterr().out.strip()).read()
    assert main(["load"]) == 2 and "name a scenario" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["load", "caching", "--duration", "soon"])
    assert "not a duration" in capsys.readouterr().err
    assert main(["load", "caching", "--sla", "/nonexistent/sla.yaml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_locust_is_never_imported_here():
    # the runner, analysis, report and CLI must stay free of gevent's monkey patching
    code = ("import sys, aigw.cli.main, aigw.load.runner; aigw.cli.main.build_parser(); "
            "print('locust' in sys.modules, 'gevent' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_worst_window_handles_many_requests_quickly():
    times = list(np.linspace(0, 600, 50_000))
    rows = _requests("k", times, 10)
    assert worst_window(rows, 60.0, 0.0, "any")["tokens"] > 0
