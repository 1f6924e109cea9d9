"""aigw.stack builds the embedded default everyone uses, and a taken port is one clear line with exit 2."""

import subprocess
import sys
import time

import httpx
import pytest

from aigw.protocol.serving import PortInUse, free_port, free_port_run, listening_socket
from aigw.stack.plan import Endpoints, StackPlan
from aigw.stack.run import StackError, in_process, in_thread

AIGW = [sys.executable, "-m", "aigw.cli.main"]
CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


def test_the_child_process_stack_serves_reports_its_endpoints_and_stops(tmp_path):
    log = tmp_path / "stack.log"
    with in_process(StackPlan(seed=3, latency="off", admin_token="a-token-of-twenty-chars"), log) as endpoints:
        assert set(endpoints.mocks) == {"eastus", "swedencentral", "westus"}
        assert endpoints.keys == ["tenant-a-key-0001", "tenant-b-key-0002"] and endpoints.fuzz_key == "ops-key-000000003"
        assert endpoints.capabilities["rate_limit_tpm"] == 20000
        assert endpoints.declared_capabilities()["max_completion_tokens"] == 16384
        assert endpoints.declared_capabilities("gpt-4")["context_window"] == 8192
        answer = httpx.post(endpoints.gateway + CHAT, json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
                            headers={"api-key": endpoints.keys[0]}, timeout=30)
        assert answer.status_code == 200
        assert httpx.get(endpoints.mocks["westus"] + "/_mock/config", headers={"authorization": "Bearer mock-admin"}
                         ).json()["seed"] == 3
        endpoints.reset()  # every mock and the gateway, with their tokens
        assert endpoints.log == str(log)
        gateway = endpoints.gateway
    with pytest.raises(httpx.TransportError):
        httpx.get(gateway + "/status-0123456789abcdef", timeout=2)


def test_endpoints_and_plans_travel_as_json():
    plan = StackPlan(regions=("eastus",), variant="load", seed=4, clock_offset=12.5, port=None)
    assert StackPlan.from_json(plan.to_json()) == plan
    endpoints = Endpoints("http://g", {"eastus": "http://m"}, ["k"], "f", reset_urls=["http://g/_aigw/reset"])
    assert Endpoints.from_json(endpoints.to_json()) == endpoints
    with pytest.raises(ValueError, match="variant"):
        StackPlan(variant="production")


def test_the_load_variant_lifts_the_mocks_limits_and_adds_the_cached_api():
    with in_thread(StackPlan(variant="load", latency="off", log_level="error")) as endpoints:
        assert endpoints.cached_api_path == "/cached/openai" and endpoints.mcp_path == "/mcp"
        limits = httpx.get(endpoints.mocks["eastus"] + "/_mock/limits", headers={"authorization": "Bearer mock-admin"}).json()
        assert limits["deployments"]["gpt-4o"]["tokens_limit"] == 10**12


def test_a_taken_port_is_named_before_anything_starts():
    port = free_port_run(4)
    with listening_socket("127.0.0.1", port + 2):
        with pytest.raises(PortInUse) as raised, in_thread(StackPlan(port=port, latency="off")):
            pass
        assert str(raised.value) == f"port {port + 2} on 127.0.0.1 (mock swedencentral) is already in use"
        with pytest.raises(PortInUse, match="mock swedencentral"), in_process(StackPlan(port=port, latency="off")):
            pass
    # nothing was left listening on the other three
    for offset in (0, 1, 3):
        listening_socket("127.0.0.1", port + offset).close()


def test_a_bad_gateway_config_is_a_stack_error(tmp_path):
    bad = tmp_path / "gateway.yaml"
    bad.write_text("backends: []\n")
    with pytest.raises(StackError, match="gateway.yaml"), in_process(StackPlan(gateway_config=str(bad))):
        pass


@pytest.mark.parametrize("command", [["mock"], ["gateway"], ["up"]])
def test_commands_on_a_taken_port_print_one_line_and_exit_2(command):
    port = free_port_run(4)
    taken = port + 1 if command == ["up"] else port  # `aigw up --port P` when P+1 is busy
    with listening_socket("127.0.0.1", taken):
        result = subprocess.run([*AIGW, *command, "--port", str(port)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {taken} on 127.0.0.1" in lines[0] and "in use" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_the_child_stack_ends_with_its_parent(tmp_path):
    """A parent killed without cleaning up (SIGKILL) must not leave the servers running."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "from aigw.stack.plan import StackPlan\n"
        "from aigw.stack.run import in_process\n"
        "with in_process(StackPlan(latency='off')) as endpoints:\n"
        "    print(endpoints.gateway, flush=True)\n"
        "    time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        gateway = parent.stdout.readline().strip()
        assert httpx.get(gateway + "/status-0123456789abcdef", timeout=5).status_code == 200
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(gateway + "/status-0123456789abcdef", timeout=1)
        except httpx.TransportError:
            return
        time.sleep(0.2)
    pytest.fail(f"the stack at {gateway} still answers 20 s after its parent died")
