"""The pytest plugin and capability profiles: inert without --aigw-target, clear errors for bad input."""

import subprocess
import sys

import pytest

from aigw.contract_tests.capabilities import CapabilityError, load_capabilities
from aigw.contract_tests.groups import GROUPS, parse_groups


def test_without_a_target_the_suite_is_skipped_with_a_reason() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "aigw.contract_tests.suite", "-q", "-rs",
                             "-p", "no:cacheprovider", "-m", "aigw_robustness"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "needs --aigw-target URL" in result.stdout
    assert " passed" not in result.stdout and "skipped" in result.stdout


def test_group_names_are_validated() -> None:
    assert parse_groups("schema, rate-limits") == ("schema", "rate_limits")
    assert parse_groups(["mcp", "a2a,mcp"]) == ("mcp", "a2a")
    with pytest.raises(ValueError, match="unknown group caches; groups are: schema"):
        parse_groups("caches")
    assert len(GROUPS) == 12 and GROUPS[-1] == "security"


def test_profiles_and_yaml_overrides(tmp_path) -> None:
    backend, gateway = load_capabilities("backend"), load_capabilities("gateway")
    assert gateway.security and not backend.security  # the security group probes gateways
    assert backend.v1_paths and backend.mcp == "/mcp" and not backend.auth
    assert gateway.auth and gateway.metrics == "/metrics" and not gateway.v1_paths and not gateway.caching
    caps = tmp_path / "caps.yaml"
    caps.write_text("caching: true\nmetrics: /prom\nrate-limit-tpm: 20000\nmcp: false\n")
    loaded = load_capabilities("gateway", caps, {"streaming": False})
    assert loaded.caching and loaded.metrics == "/prom" and loaded.rate_limit_tpm == 20000 and loaded.mcp is None
    assert not loaded.streaming


@pytest.mark.parametrize(("text", "message"), [
    ("caching: [", "invalid YAML"),
    ("- caching\n", "a capabilities file is a mapping"),
    ("cachng: true\n", "unknown capability cachng"),
    ("rate_limit_tpm: -5\n", "rate_limit_tpm"),
    ("metrics: prom\n", "a path starting with /"),
])
def test_bad_capability_files_are_clear_errors(tmp_path, text, message) -> None:
    caps = tmp_path / "caps.yaml"
    caps.write_text(text)
    with pytest.raises(CapabilityError, match=message):
        load_capabilities("backend", caps)
