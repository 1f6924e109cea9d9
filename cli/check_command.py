"""``aigw check``: run the contract suite against a target, or against the embedded default."""

from __future__ import annotations

import argparse

from aigw.cli.argtypes import positive_int
import json
import sys
import time
from pathlib import Path

CHECK_HELP = """\
Check that a target (an Azure OpenAI-compatible backend or an API Management-like AI gateway)
keeps the contract: schemathesis over specs/openapi.yaml plus usage/id/finish_reason rules,
streaming, rate limits, caching, failover, content safety, auth, metrics, MCP, A2A, robustness, security.
Groups a target does not declare are reported "not applicable", never failed.

Without --target, starts the embedded default in a child process (three mock regions and the gateway
with the example config, as `aigw up` does, on free ports; its log goes to DIR/stack.log) and checks it
with the gateway profile.

Every group starts from a known state: the mocks behind the target (--mock-admin) and the target itself
(--reset-url, e.g. the reference gateway's /_aigw/reset) are reset first. A target that cannot be reset
and is throttled (429) or unavailable (503) is given the Retry-After it asks for (at most --max-wait
seconds, shown on the progress line); if it is still throttled, the affected checks are reported
"inconclusive" with the evidence, never failed.

examples:
  aigw check                                          # the embedded default: mocks + gateway
  aigw check --include schema,robustness --seed 7     # two groups, another seed
  aigw check --target http://localhost:8000 --profile backend --mock-admin http://localhost:8000
  aigw check --target https://contoso.azure-api.net --profile gateway \\
             --api-key $TENANT_A_KEY --api-key $TENANT_B_KEY --capabilities gateway-caps.yaml
  aigw check --target http://localhost:8080 --capability caching=true --exclude failover
  aigw check --target http://localhost:8080 --api-key tenant-a-key-0001 --mock-admin http://localhost:8081 \
             --reset-url http://localhost:8080/_aigw/reset --reset-token $AIGW_ADMIN_TOKEN   # after `aigw up`

capabilities file (YAML, any field overrides the profile):
  streaming: true          caching: true          metrics: /metrics      rate_limit_tpm: 20000
  embeddings: true         content_safety: false  mcp: false             request_id_header: apim-request-id
  max_completion_tokens: 16384   context_window: 128000   (the chat deployment's model limits)

the same suite under pytest (markers aigw_schema, aigw_streaming, ...):
  pytest --pyargs aigw.contract_tests.suite --aigw-target http://localhost:8000 -m aigw_schema

exit status: 0 compliant, 1 contract violations found, 2 the run could not proceed,
             3 inconclusive (no violation, but some checks could not be judged: target throttled/unavailable).
reports: DIR/junit.xml, DIR/scorecard.json, DIR/report.html (default DIR: reports/contract).
"""


def register(commands) -> None:
    check = commands.add_parser("check", help="run the contract suite against a target (default: the embedded one)",
                                description=CHECK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = check.add_argument
    add("--target", metavar="URL", help="base URL of the target (default: start the embedded mocks + gateway)")
    add("--api-key", metavar="KEY", action="append", default=[], help="API key; repeat: the second is another tenant")
    add("--fuzz-key", metavar="KEY", help="an unthrottled key for the schema and robustness groups")
    add("--profile", choices=("backend", "gateway"),
        help="capability defaults (default: gateway for the embedded target, backend with --target)")
    add("--deployment", metavar="NAME", default="gpt-4o", help="chat deployment (default: %(default)s)")
    add("--embeddings-deployment", metavar="NAME", default="text-embedding-3-small", help="(default: %(default)s)")
    add("--completions-deployment", metavar="NAME", default="gpt-35-turbo-instruct", help="'none' if there is none (default: %(default)s)")
    add("--api-version", metavar="V", default="2024-10-21", help="(default: %(default)s)")
    add("--paths", choices=("azure", "v1", "seed"), default="azure", help="path style of the requests (default: %(default)s)")
    add("--metrics-key", metavar="KEY", help="sent as Authorization: Bearer KEY when reading the metrics endpoint")
    add("--mock-admin", metavar="URL", action="append", default=[], help="admin URL of a mock behind the target; repeat")
    add("--mock-token", metavar="TOKEN", default="mock-admin", help="the mocks' admin token (default: %(default)s)")
    add("--reset-url", metavar="URL", action="append", default=[],
        help="POSTed before each group to reset the target (counters, breakers, caches); repeat for each replica")
    add("--reset-token", metavar="TOKEN", help="bearer token for --reset-url")
    add("--max-wait", metavar="SECONDS", type=float, default=65.0,
        help="longest wait for a throttled target before its checks are inconclusive (default: %(default)s)")
    add("--capabilities", metavar="FILE", help="YAML capability overrides")
    add("--capability", metavar="NAME=VALUE", action="append", default=[], help="one override, e.g. caching=false; repeat")
    add("--include", metavar="GROUPS", action="append", default=[], help="only these groups, comma-separated")
    add("--exclude", metavar="GROUPS", action="append", default=[], help="leave these groups out, comma-separated")
    add("--max-examples", metavar="N", type=positive_int, default=25, help="generated examples per scenario (default: %(default)s)")
    add("--seed", metavar="N", type=int, default=0, help="makes the run reproducible (default: %(default)s)")
    add("--report-dir", metavar="DIR", default="reports/contract", help="(default: %(default)s)")
    add("--workers", metavar="N", type=positive_int, default=1,
        help="only 1: the groups share the target's state (rate-limit windows, faults, cache) and would interfere")
    check.set_defaults(run=run_check)


def _fail(message: str) -> int:
    print(f"aigw check: {message}", file=sys.stderr)
    return 2


def _validate(args: argparse.Namespace) -> str | None:
    from aigw.contract_tests.capabilities import CapabilityError, load_capabilities
    from aigw.contract_tests.groups import parse_groups
    from aigw.contract_tests.plugin import capability_overrides

    if args.workers > 1:
        return ("--workers N>1 is not supported: the groups share one target's state (rate-limit windows, injected "
                "faults, the cache) and would make each other fail. Run subsets (--include) against separate targets instead.")
    if (args.mock_admin or args.reset_url) and not args.target:
        return "--mock-admin and --reset-url are for an explicit --target; the embedded default wires its own"
    if not args.max_wait >= 0:
        return f"--max-wait must be 0 seconds or more (got {args.max_wait:g})"
    if args.target and not args.target.startswith(("http://", "https://")):
        return f"--target must be an http(s) URL (got {args.target!r})"
    try:
        parse_groups(args.include)
        parse_groups(args.exclude)
        load_capabilities(args.profile or ("backend" if args.target else "gateway"), args.capabilities,
                          capability_overrides(args.capability))
    except (CapabilityError, ValueError) as exc:
        return str(exc)
    return None


def _options(args: argparse.Namespace, target: str, profile: str, extra_capabilities: list[str],
             api_keys: list[str], fuzz_key: str | None, mock_admins: list[str], mock_token: str,
             reset_urls: list[str], reset_token: str | None, metrics_key: str | None = None) -> dict:
    return {
        "target": target, "profile": profile, "api_key": api_keys, "fuzz_key": fuzz_key,
        "deployment": args.deployment, "embeddings_deployment": args.embeddings_deployment,
        "completions_deployment": args.completions_deployment, "api_version": args.api_version, "paths": args.paths,
        "mock_admin": mock_admins, "mock_token": mock_token, "reset_url": reset_urls, "reset_token": reset_token,
        "max_wait": args.max_wait, "capabilities": args.capabilities,
        "capability": [*extra_capabilities, *args.capability], "include": args.include, "exclude": args.exclude,
        "max_examples": args.max_examples, "seed": args.seed, "metrics_key": metrics_key or args.metrics_key,
    }


def _embedded(args: argparse.Namespace, report_dir: Path, console) -> int:
    """Start the embedded default (aigw.stack) in a child process and check it with what it declares."""
    import secrets

    from aigw.contract_tests import runner
    from aigw.contract_tests.progress import RichProgress
    from aigw.protocol.serving import PortInUse
    from aigw.stack.plan import StackPlan
    from aigw.stack.run import StackError, in_process

    console.print("aigw check: starting the embedded default (3 mock regions + gateway, example config)")
    plan = StackPlan(seed=args.seed, latency="off", admin_token=secrets.token_urlsafe(18))
    report_dir.mkdir(parents=True, exist_ok=True)
    try:
        with in_process(plan, report_dir / "stack.log") as stack:
            runner.probe(stack.gateway, "embedded gateway")
            capabilities = stack.declared_capabilities(args.deployment, args.completions_deployment, args.embeddings_deployment)
            declared = [f"{name}={'null' if value is None else json.dumps(value)}" for name, value in capabilities.items()]
            options = _options(args, stack.gateway, args.profile or "gateway", declared, args.api_key or stack.keys,
                               args.fuzz_key or stack.fuzz_key, list(stack.mocks.values()), stack.mock_token,
                               stack.reset_urls, stack.admin_token, stack.metrics_key)
            return runner.run_pytest(options, report_dir, RichProgress(console))
    except (StackError, PortInUse) as exc:
        raise runner.CannotRun(str(exc)) from None


def run_check(args: argparse.Namespace) -> int:
    problem = _validate(args)
    if problem:
        return _fail(problem)
    from rich.console import Console

    from aigw.contract_tests import runner
    from aigw.contract_tests.progress import RichProgress, summary_table

    console = Console(stderr=True)
    report_dir = Path(args.report_dir)
    started = time.monotonic()
    try:
        if args.target:
            runner.probe(args.target, "target")
            for url in args.mock_admin:
                runner.probe(url.rstrip("/") + "/_mock/health", "mock admin")
            for url in args.reset_url:
                runner.probe_reset(url, args.reset_token)
            options = _options(args, args.target, args.profile or "backend", [], args.api_key, args.fuzz_key,
                               args.mock_admin, args.mock_token, args.reset_url, args.reset_token)
            status = runner.run_pytest(options, report_dir, RichProgress(console))
        else:
            status = _embedded(args, report_dir, console)
    except runner.CannotRun as exc:
        return _fail(str(exc))
    card_path = report_dir / "scorecard.json"
    if card_path.exists():
        card = json.loads(card_path.read_text("utf-8"))
        console.print(summary_table(card))
        for name, entry in card["groups"].items():
            for kind, mark in (("failures", "[red]✗"), ("inconclusive_checks", "[yellow]?")):
                for failure in entry.get(kind, [])[:5]:
                    console.print(f"{mark} {name}[/] {failure['test'].rsplit('::', 1)[-1]}\n  {failure['message'].splitlines()[0][:300]}")
                    if failure["requests"]:
                        console.print(f"  [dim]{failure['requests'][-1][:400]}[/]", soft_wrap=True)
    console.print(f"reports: {report_dir}/junit.xml, scorecard.json, report.html ({time.monotonic() - started:.1f} s)")
    return status
