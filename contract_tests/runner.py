"""``aigw check`` under the hood: start the embedded default if asked, probe the target, run pytest.

``aigw check`` is a thin wrapper over ``pytest.main`` running ``aigw.contract_tests.suite`` with the
plugin's ``--aigw-*`` options, a rich progress line instead of pytest's terminal output, and a summary
table from the scorecard. Without ``--target`` it starts the embedded default in this process — the
three mock regions and the gateway with ``gateway/example.yaml``, as ``aigw up`` does, on free ports,
latency off — and checks it with the gateway profile, with the mocks' admin APIs for fault injection.

Exit status: 0 compliant, 1 contract violations, 2 the run could not proceed (bad flags, unreachable
target, nothing selected, an internal error).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator

import requests

COMPLIANT, VIOLATIONS, CANNOT_RUN = 0, 1, 2
MOCK_TOKEN = "mock-admin"
EMBEDDED_KEYS = ("tenant-a-key-0001", "tenant-b-key-0002")
EMBEDDED_FUZZ_KEY = "ops-key-000000003"  # the example's "unlimited" product: fuzzing is not throttled


class CannotRun(Exception):
    """The run could not start; ``str()`` says why, for a person."""


@dataclass
class Embedded:
    gateway_url: str
    mock_urls: list[str]
    capabilities: dict[str, Any]
    servers: list[Any] = field(default_factory=list, repr=False)
    metrics_key: str | None = None


def _policy_names(config: Any) -> set[str]:
    scopes = [config.policies, *(a.policies for a in config.apis), *(p.policies for p in config.products),
              *(o.policies for a in config.apis for o in a.operations)]
    return {entry.name for policies in scopes for section in ("inbound", "backend", "outbound", "on-error")
            for entry in policies.section(section)}


def embedded_capabilities(config: Any) -> dict[str, Any]:
    """What the example gateway really offers, read from its config (so it stays true as the example grows)."""
    names = _policy_names(config)
    kinds = {api.kind for api in config.apis}
    return {
        "rate_limits": bool(names & {"llm-token-limit", "azure-openai-token-limit", "rate-limit-by-key"}),
        "quota": bool(names & {"llm-token-limit", "azure-openai-token-limit", "quota-by-key"}),
        "caching": bool(names & {"llm-semantic-cache-lookup", "azure-openai-semantic-cache-lookup"}),
        "content_safety": bool(names & {"llm-content-safety", "azure-openai-content-safety"}),
        "failover": any(backend.pool for backend in config.backends),
        "mcp": next((api.path for api in config.apis if api.kind == "mcp"), None),
        "a2a": (next((api.path for api in config.apis if api.kind == "a2a" and api.path.endswith("agent-card.json")),
                     "/.well-known/agent-card.json") if "a2a" in kinds else None),
        "rate_limit_tpm": _tenant_tokens_per_minute(config),
    }


def _tenant_tokens_per_minute(config: Any) -> int | None:
    """The per-minute token limit that applies to the first tenant key's product (the key the checks use)."""
    tenant = next(iter(config.subscriptions), None)
    product = next((p for p in config.products if tenant and p.id == tenant.product), None)
    for entry in product.policies.section("inbound") if product else []:
        if entry.name in ("llm-token-limit", "azure-openai-token-limit") and entry.config.tokens_per_minute:
            return entry.config.tokens_per_minute
    return None


@contextlib.contextmanager
def embedded_default(seed: int) -> Iterator[Embedded]:
    """aigw up's mocks and gateway on free ports in background threads, stopped on exit."""
    from aigw.gateway.app import GatewayApp
    from aigw.gateway.config import example_config_path, load_config
    from aigw.gateway.server import REGIONS, mock_config_for_region
    from aigw.mocks.app import MockApp
    from aigw.mocks.selftest import _free_port, start_in_thread

    servers, mock_urls, environment = [], [], {}
    try:
        for region in REGIONS:
            port = _free_port()
            servers.append(start_in_thread(MockApp(mock_config_for_region(region, seed, "off")), port))
            mock_urls.append(f"http://127.0.0.1:{port}")
            environment[f"AIGW_MOCK_{region.upper()}"] = mock_urls[-1]
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)  # the example config places its backends from these
        try:
            config = load_config(example_config_path())
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
        port = _free_port()
        servers.append(start_in_thread(GatewayApp(config), port))
        yield Embedded(f"http://127.0.0.1:{port}", mock_urls, embedded_capabilities(config), servers,
                       config.security.metrics_key)
    finally:
        for server in reversed(servers):
            server.should_exit = True
        time.sleep(0.1 if servers else 0)


def probe(url: str, what: str) -> None:
    """Any HTTP answer means reachable; no answer is exit 2, before a single check runs."""
    try:
        requests.get(url, timeout=10)
    except requests.RequestException as exc:
        reason = str(exc).split("Caused by")[-1].strip(" ()'\"")[:200]
        raise CannotRun(f"{what} {url} is unreachable: {reason}") from None


def plugin_args(plugin_loaded: bool) -> list[str]:
    if plugin_loaded:
        return []
    return ["-p", "aigw.contract_tests.plugin"]


def plugin_autoloads() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == "aigw.contract_tests.plugin" for ep in entry_points(group="pytest11"))


def suite_dir() -> Path:
    import aigw.contract_tests.suite as suite

    return Path(suite.__file__).resolve().parent


def pytest_args(options: dict[str, Any], report_dir: Path) -> list[str]:
    """The pytest command line for ``options`` (``--aigw-*`` names without the prefix)."""
    args = [str(suite_dir()), "-p", "no:cacheprovider", "-p", "no:terminal", "-c", os.devnull,
            "--rootdir", str(suite_dir()), "-o", "python_files=test_*.py", f"--junitxml={report_dir / 'junit.xml'}",
            "-o", "junit_suite_name=aigw-contract", "-o", "junit_family=xunit2", "-W", "ignore::pytest.PytestConfigWarning",
            f"--aigw-report-dir={report_dir}", *plugin_args(plugin_autoloads())]
    for name, value in options.items():
        flag = "--aigw-" + name.replace("_", "-")
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and item is not False:
                args.append(flag if item is True else f"{flag}={item}")
    return args


def run_pytest(options: dict[str, Any], report_dir: Path, progress: Any) -> int:
    import pytest

    report_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("scorecard.json", "report.html", "junit.xml"):
        (report_dir / stale).unlink(missing_ok=True)
    status = pytest.main(pytest_args(options, report_dir), plugins=[progress])
    if status == pytest.ExitCode.OK:
        return COMPLIANT
    if status == pytest.ExitCode.TESTS_FAILED:
        return VIOLATIONS
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise CannotRun("no checks were selected (see --include/--exclude)")
    if status == pytest.ExitCode.USAGE_ERROR:
        raise CannotRun(getattr(progress, "usage_error", None) or "bad options (see above)")
    raise CannotRun(f"the run was interrupted or failed internally (pytest exit status {int(status)}); see the messages above")
