"""The pytest plugin: ``pytest --aigw-target URL`` runs the contract suite with pytest's own output.

Registered as the ``pytest11`` entry point ``aigw``, so it is loaded in *every* pytest session on a
machine where aigw-suite is installed. It therefore does nothing visible unless asked: the markers are
registered (``--strict-markers`` stays happy), and only tests marked ``@pytest.mark.aigw(...)`` — the
suite's — are touched. Without ``--aigw-target`` those are skipped with a reason.

Per test, the plugin clears ``Target.exchanges`` before it runs and, when it fails (or is inconclusive),
attaches the exchanges as redacted ``curl`` reproducers to the report (``user_properties``: they appear
in the JUnit XML and the scorecard). Before the first test of each group it resets what can be reset and
lets a throttled target settle; a test failing on a throttled answer it does not judge is run once more
or reported inconclusive (``aigw.contract_tests.state``).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dataclasses import dataclass

from aigw.contract_tests import groups as groups_
from aigw.contract_tests import state
from aigw.contract_tests.capabilities import PROFILES, CapabilityError, load_capabilities
from aigw.contract_tests.target import Exchange, MockAdmin, ResetHook, Target

TARGET = pytest.StashKey[Target]()
GROUP = pytest.StashKey[str]()
GROUP_START = pytest.StashKey["GroupStart"]()
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
    add("--aigw-reset-url", metavar="URL", action="append", default=[],
        help="POSTed (with --aigw-reset-token) before each group to reset the target, e.g. the reference gateway's "
             "/_aigw/reset; repeat for each replica")
    add("--aigw-reset-token", metavar="TOKEN", help="bearer token for --aigw-reset-url")
    add("--aigw-max-wait", metavar="SECONDS", type=float, default=state.DEFAULT_MAX_WAIT_S,
        help=f"longest wait for a throttled target before its checks are inconclusive (default: {state.DEFAULT_MAX_WAIT_S:g})")
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
    if not option.aigw_max_wait >= 0:
        raise ValueError("--aigw-max-wait must be 0 seconds or more")
    completions = option.aigw_completions_deployment
    return Target(
        base_url=option.aigw_target, profile=option.aigw_profile, capabilities=capabilities, seed=option.aigw_seed,
        max_examples=option.aigw_max_examples, api_keys=list(option.aigw_api_key) or ["contract-test-key"],
        deployment=option.aigw_deployment, embeddings_deployment=option.aigw_embeddings_deployment,
        completions_deployment=None if completions in (None, "", "none") else completions,
        api_version=option.aigw_api_version, paths=option.aigw_paths,
        mock_admins=[MockAdmin(url, option.aigw_mock_token) for url in option.aigw_mock_admin],
        resets=[ResetHook(url, option.aigw_reset_token) for url in option.aigw_reset_url],
        fuzz_key=option.aigw_fuzz_key, metrics_key=option.aigw_metrics_key,
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from aigw.contract_tests import hooks

    pluginmanager.add_hookspecs(hooks)


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
    config.stash[GROUP_START] = GroupStart()



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


def notifier(config: pytest.Config) -> state.Notify:
    return lambda seconds, reason: config.hook.pytest_aigw_wait(seconds=seconds, reason=reason)


@dataclass
class GroupStart:
    """The group whose tests are running, and why its checks cannot be judged (None: they can)."""

    group: str | None = None
    blocked: str | None = None
    evidence: Exchange | None = None

    def enter(self, group: str, target: Target, config: pytest.Config) -> None:
        """Reset what can be reset; for groups with model traffic, wait for a throttled target to settle."""
        self.group, self.blocked, self.evidence = group, None, None
        problems = target.reset_state()
        if problems:
            self.blocked = "the target could not be reset before this group: " + "; ".join(problems)[:600]
            return
        if group in groups_.SETTLED_GROUPS:
            max_wait = config.option.aigw_max_wait
            key = (target.fuzz_key or target.main_key) if group in groups_.BULK_GROUPS else target.main_key
            self.evidence = state.settle(target, notifier(config), max_wait, key=key)
            if self.evidence is not None:
                self.blocked = state.unavailable_reason(max_wait) + " at the start of this group"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    target = configured_target(item.config)
    if target is None or GROUP not in item.stash:
        return
    target.exchanges.clear()
    if item.get_closest_marker("skip") is not None:
        return  # not applicable: nothing to prepare
    start = item.config.stash[GROUP_START]
    if start.group != item.stash[GROUP]:
        start.enter(item.stash[GROUP], target, item.config)
    if start.blocked:
        if start.evidence is not None:
            target.exchanges.append(start.evidence)
        state.inconclusive(start.blocked, start.evidence)


def _judged(item: pytest.Item) -> frozenset[int]:
    marker = item.get_closest_marker(groups_.MARKER)
    judges = marker.kwargs.get("judges") if marker is not None else None
    if judges is not None:
        return frozenset(judges)
    return groups_.JUDGED_STATUSES.get(item.stash.get(GROUP, None), frozenset())


def _throttled_failure(item: pytest.Item, target: Target) -> Exchange | None:
    """The throttled answer a failure happened on, if the test does not judge that status itself."""
    last = target.exchanges[-1] if target.exchanges else None
    if state.throttled(last) and last.status not in _judged(item):
        return last
    return None


def _key_of(exchange: Exchange) -> str | None:
    headers = {name.lower(): value for name, value in exchange.request_headers.items()}
    return headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ") or None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A failure on a 429/503 the test does not judge: settle, run once more; throttled again → inconclusive."""
    target = configured_target(item.config)
    try:
        return (yield)
    except (Exception, pytest.fail.Exception):
        if target is None or GROUP not in item.stash:
            raise
        throttled = _throttled_failure(item, target)
        if throttled is None:
            raise
    max_wait = item.config.option.aigw_max_wait
    blocked = state.settle(target, notifier(item.config), max_wait, key=_key_of(throttled), last=throttled)
    if blocked is not None:
        state.inconclusive(state.unavailable_reason(max_wait), blocked)
    target.exchanges.clear()
    item.user_properties.append(("aigw_note", f"run a second time: the first run met {state.evidence(throttled)[:300]}"))
    try:
        return item.runtest()
    except (Exception, pytest.fail.Exception):
        again = _throttled_failure(item, target)
        if again is None:
            raise
    state.inconclusive("throttled or unavailable again when the check was run a second time, after waiting", again)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    group = item.stash.get(GROUP, None)
    if group is None:
        return report
    report.user_properties.append(("aigw_group", group))
    target = configured_target(item.config)
    inconclusive = state.is_inconclusive(report)
    if inconclusive and ("aigw_verdict", state.INCONCLUSIVE) not in item.user_properties:
        item.user_properties.append(("aigw_verdict", state.INCONCLUSIVE))  # the teardown report carries it to JUnit
    if (report.failed or inconclusive) and target is not None and target.exchanges:
        shown = target.exchanges[-MAX_REPRODUCERS:]
        if len(target.exchanges) > len(shown):
            report.user_properties.append(("aigw_note", f"last {len(shown)} of {len(target.exchanges)} requests"))
        for exchange in shown:
            report.user_properties.append(("aigw_request", exchange.curl()))
            report.user_properties.append(("aigw_response", f"{exchange.status or 'no response'} {exchange.body[:300]!r}"))
    return report
