"""(4) openapi.yaml lints clean under the seed's Spectral ruleset, run with the real Spectral CLI.

Spectral is installed on first use into `$AIGW_TOOLS_DIR/spectral` (default `~/.cache/aigw-tools`) with
`npm install --prefix "$AIGW_TOOLS_DIR/spectral" --no-audit --no-fund @stoplight/spectral-cli@6`; the test skips
only when npm itself is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spec_support import SPECS_DIR

SPECTRAL_PACKAGE = "@stoplight/spectral-cli@6"
pytestmark = pytest.mark.needs_shared

SEVERITY = {0: "error", 1: "warn", 2: "info", 3: "hint"}

# Rules of the seed ruleset that fire on this document but do not apply, with the reason.
ALLOWED = {
    "azure-auth-scheme-defined": (
        "asks for an OAuth2 scheme literally named azure_auth (ARM convention); this data-plane API names its "
        "schemes api-key and bearer like Azure OpenAI's own inference contract (apiKey + bearer)"
    ),
}
# Rules that cannot fire on a data-plane document, for the record: azure-arm-path-pattern and
# azure-provider-namespace (ARM /subscriptions/... paths; both are written against `$.paths` as a whole and
# never match here), azure-management-server (only asks for https://, which the server URL is).


def _spectral() -> Path:
    tools = Path(os.environ.get("AIGW_TOOLS_DIR", Path.home() / ".cache" / "aigw-tools")) / "spectral"
    binary = tools / "node_modules" / ".bin" / "spectral"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so the Spectral CLI cannot be installed")
    tools.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(tools), "--no-audit", "--no-fund", SPECTRAL_PACKAGE],
        check=True, capture_output=True, timeout=600,
    )
    assert binary.exists(), f"npm installed {SPECTRAL_PACKAGE} but {binary} is missing"
    return binary


@pytest.fixture(scope="module")
def findings(shared_dir: Path) -> list[dict]:
    ruleset = shared_dir / "seed-specs" / "rules" / "microsoft-azure-api-management-rules.yaml"
    completed = subprocess.run(
        [str(_spectral()), "lint", str(SPECS_DIR / "openapi.yaml"), "--ruleset", str(ruleset), "--format", "json", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return json.loads(completed.stdout or "[]")


def test_no_findings_beyond_the_allow_list(findings: list[dict]) -> None:
    unexpected = [
        f"{SEVERITY[f['severity']]} {f['code']} at {'.'.join(map(str, f['path']))}: {f['message']}"
        for f in findings
        if f["code"] not in ALLOWED
    ]
    assert not unexpected, "\n".join(unexpected)


def test_allow_list_is_not_stale(findings: list[dict]) -> None:
    assert set(ALLOWED) <= {f["code"] for f in findings}
    assert all(f["severity"] >= 2 for f in findings if f["code"] in ALLOWED), "only info-level rules are waived"
