"""The peers bench/gateway.py measures ours against: LiteLLM proxy and Portkey's gateway, installed on demand.

Both install into the tools cache (``$AIGW_TOOLS_DIR``, default ``~/.cache/aigw-tools``), never into the repo
or our venv: LiteLLM into a venv of its own (its pins would fight ours), Portkey with ``npm install --prefix``.
A failed install raises `PeerUnavailable` with the reason, which the benchmark prints and moves past.
Each peer is pointed at the mock: LiteLLM with its azure provider, Portkey with the openai provider and a
custom host.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from _gateway_systems import API_VERSION, AZURE_PATH, OPENAI_PATH, PROMPT, System
from _peer import PeerUnavailable, tools_dir
from _servers import ServerSpec

LITELLM_MASTER_KEY = "sk-bench-master-key-0123456789"


def ensure_litellm() -> Path:
    """``litellm`` in its own venv under the tools dir (never in ours: its pins would fight ours)."""
    venv = tools_dir() / "litellm-venv"
    binary = venv / "bin" / "litellm"
    if binary.exists():
        return binary
    python = next((p for p in ("python3.11", "python3.12", "python3") if _which(p)), None)
    if python is None:
        raise PeerUnavailable("no python3 to create the LiteLLM venv with")
    for cmd in ([python, "-m", "venv", str(venv)], [str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise PeerUnavailable(f"{' '.join(cmd[:3])} … failed: {out.stderr.strip()[-800:]}")
    if not binary.exists():
        raise PeerUnavailable(f"litellm[proxy] installed but {binary} is missing")
    return binary


def litellm_system(binary: Path, mock_url: str, work: Path) -> System:
    config = {"model_list": [{"model_name": "gpt-4o", "litellm_params": {
                  "model": "azure/gpt-4o", "api_base": mock_url, "api_key": "mock-key", "api_version": API_VERSION}}],
              "litellm_settings": {"telemetry": False},
              "general_settings": {"master_key": LITELLM_MASTER_KEY}}
    path = work / "litellm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}
    spec = ServerSpec("litellm", [str(binary), "--config", str(path), "--host", "127.0.0.1", "--port", "{port}",
                                  "--num_workers", "1"], cwd=work, env=env)
    version = _package_version(binary.parent / "pip", "litellm")
    return System("litellm", f"LiteLLM proxy {version}", spec, AZURE_PATH, {"messages": PROMPT, "max_tokens": 20},
                  AZURE_PATH, {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"}, start_timeout=120.0)


def ensure_portkey() -> Path:
    script = tools_dir() / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if script.exists():
        return script
    npm = _which("npm")
    if npm is None:
        raise PeerUnavailable("npm is not installed (apt-get install -y nodejs npm)")
    out = subprocess.run([npm, "install", "--prefix", str(tools_dir()), "--no-audit", "--no-fund",
                          "@portkey-ai/gateway"], capture_output=True, text=True, timeout=600)
    if out.returncode != 0 or not script.exists():
        raise PeerUnavailable(f"npm install @portkey-ai/gateway failed: {out.stderr.strip()[-800:]}")
    return script


def portkey_system(script: Path, mock_url: str) -> System:
    node = _which("node")
    if node is None:
        raise PeerUnavailable("node is not installed")
    version = json.loads((script.parents[1] / "package.json").read_text()).get("version", "?")
    spec = ServerSpec("portkey", [node, str(script), "--port={port}", "--headless"], env={"NODE_ENV": "production"})
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{mock_url}/v1"}
    return System("portkey", f"Portkey gateway {version}", spec, OPENAI_PATH,
                  {"model": "gpt-4o", "messages": PROMPT, "max_tokens": 20}, OPENAI_PATH, headers)


def _which(name: str) -> str | None:
    from shutil import which

    return which(name)


def _package_version(pip: Path, package: str) -> str:
    try:
        out = subprocess.run([str(pip), "show", package], capture_output=True, text=True, timeout=60)
        return next((line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Version:")),
                    "?")
    except (OSError, subprocess.SubprocessError):
        return "?"
