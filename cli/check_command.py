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

Without --target, starts the embedded default in-process (three mock regions and the gateway with
the example config, as `aigw up` does, on free ports) and checks it with the gateway profile.

examples:
  aigw check                                          # the embedded default: mocks + gateway
  aigw check --include schema,robustness --seed 7     # two groups, another seed
  aigw check --target http://localhost:8000 --profile backend --mock-admin http://localhost:8000
  aigw check --target https://contoso.azure-api.net --profile gateway \\
             --api-key $TENANT_A_KEY --api-key $TENANT_B_KEY --capabilities gateway-caps.yaml
  aigw check --target http://localhost:8080 --capability caching=true --exclude failover

capabilities file (YAML, any field overrides the profile):
  streaming: true          caching: true          metrics: /metrics      rate_limit_tpm: 20000
  embeddings: true         content_safety: false  mcp: false             request_id_header: apim-request-id

the same suite under pytest (markers aigw_schema, aigw_streaming, ...):
  pytest --pyargs aigw.contract_tests.suite --aigw-target http://localhost:8000 -m aigw_schema

exit status: 0 compliant, 1 contract violations found, 2 the run could not proceed.
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
    if args.mock_admin and not args.target:
        return "--mock-admin is for an explicit --target; the embedded default wires its own mocks"
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
             api_keys: list[str], fuzz_key: str | None, mock_admins: list[str], metrics_key: str | None = None) -> dict:
    return {
        "target": target, "profile": profile, "api_key": api_keys, "fuzz_key": fuzz_key,
        "deployment": args.deployment, "embeddings_deployment": args.embeddings_deployment,
        "completions_deployment": args.completions_deployment, "api_version": args.api_version, "paths": args.paths,
        "mock_admin": mock_admins, "mock_token": args.mock_token, "capabilities": args.capabilities,
        "capability": [*extra_capabilities, *args.capability], "include": args.include, "exclude": args.exclude,
        "max_examples": args.max_examples, "seed": args.seed, "metrics_key": metrics_key or args.metrics_key,
    }


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
            options = _options(args, args.target, args.profile or "backend", [], args.api_key, args.fuzz_key, args.mock_admin)
            status = runner.run_pytest(options, report_dir, RichProgress(console))
        else:
            console.print("aigw check: starting the embedded default (3 mock regions + gateway, example config)")
            with runner.embedded_default(args.seed) as embedded:
                runner.probe(embedded.gateway_url, "embedded gateway")
                declared = [f"{name}={'null' if value is None else json.dumps(value)}" for name, value in embedded.capabilities.items()]
                options = _options(args, embedded.gateway_url, args.profile or "gateway", declared,
                                   args.api_key or list(runner.EMBEDDED_KEYS), args.fuzz_key or runner.EMBEDDED_FUZZ_KEY,
                                   embedded.mock_urls, embedded.metrics_key)
                status = runner.run_pytest(options, report_dir, RichProgress(console))
    except runner.CannotRun as exc:
        return _fail(str(exc))
    card_path = report_dir / "scorecard.json"
    if card_path.exists():
        card = json.loads(card_path.read_text("utf-8"))
        console.print(summary_table(card))
        for name, entry in card["groups"].items():
            for failure in entry["failures"][:5]:
                console.print(f"[red]✗ {name}[/] {failure['test'].rsplit('::', 1)[-1]}\n  {failure['message'].splitlines()[0][:300]}")
                if failure["requests"]:
                    console.print(f"  [dim]{failure['requests'][-1][:400]}[/]", soft_wrap=True)
    console.print(f"reports: {report_dir}/junit.xml, scorecard.json, report.html ({time.monotonic() - started:.1f} s)")
    return status
