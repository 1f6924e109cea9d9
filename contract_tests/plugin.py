"""The pytest plugin: ``pytest --aigw-target URL`` runs the contract suite with pytest's own output.

Registered as the ``pytest11`` entry point ``aigw``, so it is loaded in *every* pytest session on a
machine where aigw-suite is installed. It therefore does nothing visible unless asked: the markers are
registered (``--strict-markers`` stays happy), and only tests marked ``@pytest.mark.aigw(...)`` — the
suite's — are touched. Without ``--aigw-target`` those are skipped with a reason.

Per test, the plugin clears ``Target.exchanges`` before it runs and, when it fails, attaches the
exchanges as redacted ``curl`` reproducers to the report (``user_properties``: they appear in the
JUnit XML and the scorecard).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from aigw.contract_tests import groups as groups_
from aigw.contract_tests.capabilities import PROFILES, CapabilityError, load_capabilities
from aigw.contract_tests.target import MockAdmin, Target

TARGET = pytest.StashKey[Target]()
GROUP = pytest.StashKey[str]()
INCLUDE = pytest.StashKey[tuple]()
EXCLUDE = pytest.StashKey[tuple]()
MAX_REPRODUCERS = 6
NO_TARGET = "the aigw contract suite needs --aigw-target URL (or run `aigw check`)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aigw", "aigw contract suite (active only with --aigw-target)")
    add = group.addoption
    add("--aigw-target", metavar="URL", help="base URL of the target to check")
    add("--aigw-api-key", metavar="KEY", action="append", default=[],
        help="API key; repeat: the first is the main key, the second a second tenant for isolation checks")
    add("--aigw-fuzz-key", metavar="KEY", help="an unthrottled key for the bulk groups (schema, robustness); default: the main key")
    add("--aigw-profile", choices=PROFILES, default="backend", help="capability defaults (default: backend)")
    add("--aigw-deployment", metavar="NAME", default="gpt-4o", help="chat deployment (default: gpt-4o)")
    add("--aigw-embeddings-deployment", metavar="NAME", default="text-embedding-3-small")
    add("--aigw-completions-deployment", metavar="NAME", default="gpt-35-turbo-instruct",
        help="legacy completions deployment; 'none' if the target has none")
    add("--aigw-api-version", metavar="V", default="2024-10-21")
    add("--aigw-paths", choices=("azure", "v1", "seed"), default="azure", help="path style the groups send (default: azure)")
    add("--aigw-metrics-key", metavar="KEY", help="sent as Authorization: Bearer KEY to the metrics endpoint")
    add("--aigw-mock-admin", metavar="URL", action="append", default=[], help="a mock's admin base URL; repeat for every mock")
    add("--aigw-mock-token", metavar="TOKEN", default="mock-admin")
    add("--aigw-capabilities", metavar="FILE", help="YAML file of capability overrides")
    add("--aigw-capability", metavar="NAME=VALUE", action="append", default=[], help="one capability override, e.g. caching=true")
    add("--aigw-include", metavar="GROUPS", action="append", default=[], help="only these groups (comma-separated)")
    add("--aigw-exclude", metavar="GROUPS", action="append", default=[], help="skip these groups (comma-separated)")
    add("--aigw-max-examples", metavar="N", type=int, default=25, help="examples per generated test (default: 25)")
    add("--aigw-seed", metavar="N", type=int, default=0, help="seed for every generated example (default: 0)")
    add("--aigw-report-dir", metavar="DIR", help="write junit.xml, scorecard.json and report.html here")


def capability_overrides(items: list[str]) -> dict[str, Any]:
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CapabilityError(f"capability override {item!r} is not NAME=VALUE (e.g. caching=true)")
        overrides[name.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else None
    return overrides


def target_from_options(option: Any) -> Target:
    """A Target from parsed options (``config.option``); raises CapabilityError/ValueError on bad values."""
    capabilities = load_capabilities(option.aigw_profile, option.aigw_capabilities, capability_overrides(option.aigw_capability))
    if option.aigw_max_examples < 1:
        raise ValueError("--aigw-max-examples must be at least 1")
    completions = option.aigw_completions_deployment
    return Target(
        base_url=option.aigw_target, profile=option.aigw_profile, capabilities=capabilities, seed=option.aigw_seed,
        max_examples=option.aigw_max_examples, api_keys=list(option.aigw_api_key) or ["contract-test-key"],
        deployment=option.aigw_deployment, embeddings_deployment=option.aigw_embeddings_deployment,
        completions_deployment=None if completions in (None, "", "none") else completions,
        api_version=option.aigw_api_version, paths=option.aigw_paths,
        mock_admins=[MockAdmin(url, option.aigw_mock_token) for url in option.aigw_mock_admin],
        fuzz_key=option.aigw_fuzz_key, metrics_key=option.aigw_metrics_key,
    )


@pytest.hookimpl(tryfirst=True)  # before junitxml reads --junitxml, which --aigw-report-dir defaults
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "aigw(group, needs=()): a contract-suite test in GROUP needing the capabilities NEEDS")
    for name in groups_.GROUPS:
        config.addinivalue_line("markers", f"{groups_.group_marker(name)}: contract group {name}: {groups_.DESCRIPTIONS[name]}")
    try:
        config.stash[INCLUDE] = groups_.parse_groups(config.option.aigw_include)
        config.stash[EXCLUDE] = groups_.parse_groups(config.option.aigw_exclude)
        if config.option.aigw_target:
            config.stash[TARGET] = target_from_options(config.option)
    except (CapabilityError, ValueError) as exc:
        raise pytest.UsageError(f"aigw: {exc}") from None
    if config.option.aigw_report_dir:
        from aigw.contract_tests.reporting import ContractReport, default_junit_path

        if not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = str(default_junit_path(config.option.aigw_report_dir))
        config.pluginmanager.register(ContractReport(config), "aigw-contract-report")



def configured_target(config: pytest.Config) -> Target | None:
    return config.stash.get(TARGET, None)


def _needs_reason(target: Target, needs: tuple[str, ...]) -> str | None:
    for need in needs:
        if need == "mock_admin" or need == "failover":
            if need == "failover" and not target.capabilities.failover:
                return groups_.not_applicable_reason("failover")
            if not target.mock_admins:
                return groups_.not_applicable_reason("mock_admin")
            continue
        try:
            supported = target.capabilities.supports(need)
        except CapabilityError as exc:
            raise pytest.UsageError(f"aigw: a test needs {exc}") from None
        if not supported:
            return groups_.not_applicable_reason(need)
    return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = configured_target(config)
    include, exclude = config.stash.get(INCLUDE, ()), config.stash.get(EXCLUDE, ())
    kept, deselected = [], []
    for item in items:
        marker = item.get_closest_marker(groups_.MARKER)
        if marker is None:
            kept.append(item)
            continue
        group = marker.kwargs.get("group") or (marker.args[0] if marker.args else None)
        if group not in groups_.GROUPS:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.aigw needs group= one of {', '.join(groups_.GROUPS)} (got {group!r})")
        item.stash[GROUP] = group
        item.add_marker(groups_.group_marker(group))
        if not groups_.selected(group, include, exclude):
            deselected.append(item)
            continue
        kept.append(item)
        if target is None:
            item.add_marker(pytest.mark.skip(reason=NO_TARGET))
            continue
        reason = _needs_reason(target, tuple(marker.kwargs.get("needs", ())))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def aigw_target(pytestconfig: pytest.Config) -> Target:
    """The target under test (``--aigw-target``); the suite's tests take it as their only way out."""
    target = configured_target(pytestconfig)
    if target is None:
        pytest.skip(NO_TARGET)
    return target


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    target = configured_target(item.config)
    if target is not None and GROUP in item.stash:
        target.exchanges.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    group = item.stash.get(GROUP, None)
    if group is None:
        return report
    report.user_properties.append(("aigw_group", group))
    target = configured_target(item.config)
    if report.failed and target is not None and target.exchanges:
        shown = target.exchanges[-MAX_REPRODUCERS:]
        if len(target.exchanges) > len(shown):
            report.user_properties.append(("aigw_note", f"last {len(shown)} of {len(target.exchanges)} requests"))
        for exchange in shown:
            report.user_properties.append(("aigw_request", exchange.curl()))
            report.user_properties.append(("aigw_response", f"{exchange.status or 'no response'} {exchange.body[:300]!r}"))
    return report
