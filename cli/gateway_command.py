"""``aigw gateway`` and ``aigw up``: the reference gateway, alone or with mock backends."""

import argparse
import sys

from aigw.cli.argtypes import port

GATEWAY_HELP = """\
Run the reference AI gateway: API Management's AI-gateway policies (llm-token-limit,
rate-limit-by-key, quota-by-key, semantic cache, content safety, token metrics, retry,
backend pools with circuit breakers) in front of Azure OpenAI / OpenAI-compatible backends.

examples:
  aigw gateway --config gateway.yaml                # your config on 127.0.0.1:8080
  aigw gateway --print-example > gateway.yaml       # start from the shipped example
  aigw gateway --config gateway.yaml --check        # validate the config and exit

health: GET /status-0123456789abcdef     metrics: GET /metrics (Prometheus)
"""

UP_HELP = """\
Start the embedded default: three mock Azure OpenAI backends ("regions" eastus,
swedencentral, westus) and the gateway in front of them with the example config.

  gateway  http://HOST:PORT          e.g. POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
  mocks    http://HOST:PORT+1..+3    admin API /_mock/* with Authorization: Bearer mock-admin
  keys     tenant-a-key-0001, tenant-b-key-0002 (product starter), ops-key-000000003 (unlimited)
  reset    POST http://HOST:PORT/_aigw/reset with Authorization: Bearer <token printed at start>
           (or $AIGW_ADMIN_TOKEN): counters, breakers and cache back to start

examples:
  aigw up                                   # gateway on 127.0.0.1:8080, mocks on 8081-8083
  aigw up --port 9000 --latency off
  curl -s 'localhost:8080/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21' \\
       -H 'api-key: tenant-a-key-0001' -H 'content-type: application/json' \\
       -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":20}'
"""


def register(commands) -> None:
    gateway = commands.add_parser("gateway", help="run the reference AI gateway", description=GATEWAY_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    gateway.add_argument("--config", metavar="FILE", help="gateway.yaml (default: the shipped example)")
    gateway.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    gateway.add_argument("--port", type=port, default=8080, help="TCP port (default: %(default)s)")
    gateway.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    gateway.add_argument("--check", action="store_true", help="validate the config and exit")
    gateway.add_argument("--print-example", action="store_true", help="print the example config and exit")
    gateway.set_defaults(run=run_gateway)

    up = commands.add_parser("up", help="run mock backends and the gateway together (the embedded default)",
                             description=UP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    up.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    up.add_argument("--port", type=port, default=8080, help="gateway port; mocks take the next three (default: %(default)s)")
    up.add_argument("--config", metavar="FILE", help="gateway config (default: the shipped example)")
    up.add_argument("--seed", type=int, help="mock seed")
    up.add_argument("--latency", metavar="PROFILE", help="mock latency: off | fast | realistic | slow")
    up.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    up.set_defaults(run=run_up)


def _load(path: str | None):
    from aigw.gateway.config import example_config_path, load_config
    from aigw.protocol.yamlconfig import ConfigError

    try:
        return load_config(path or example_config_path())
    except ConfigError as exc:
        print(f"aigw: config error:\n{exc}", file=sys.stderr)
        return None


def run_gateway(args: argparse.Namespace) -> int:
    if args.print_example:
        from aigw.gateway.config import example_config_path

        print(example_config_path().read_text("utf-8"), end="")
        return 0
    config = _load(args.config)
    if config is None:
        return 2
    if args.check:
        from aigw.gateway.app import GatewayApp

        try:
            GatewayApp(config)  # builds every policy: catches references only checkable at start-up
        except (ValueError, KeyError) as exc:
            print(f"aigw: config error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.config or 'example config'}: OK ({len(config.apis)} APIs, {len(config.backends)} backends, "
              f"{len(config.subscriptions)} subscriptions)")
        return 0
    from aigw.gateway.server import serve
    from aigw.protocol.serving import PortInUse

    try:
        serve(config, args.host, args.port, args.log_level,
              announce=lambda: print(f"aigw gateway: http://{args.host}:{args.port} ({len(config.apis)} APIs)", file=sys.stderr))
    except PortInUse as exc:
        print(f"aigw gateway: {exc}", file=sys.stderr)
        return 2
    return 0


def run_up(args: argparse.Namespace) -> int:
    import os
    import secrets

    from aigw.protocol.serving import PortInUse
    from aigw.protocol.yamlconfig import ConfigError
    from aigw.stack.plan import StackPlan
    from aigw.stack.run import StackError, run_foreground

    token = os.environ.get("AIGW_ADMIN_TOKEN") or secrets.token_urlsafe(18)
    try:
        plan = StackPlan(gateway_config=args.config, seed=args.seed, latency=args.latency, admin_token=token,
                         host=args.host, port=args.port, log_level=args.log_level)
    except ValueError as exc:
        print(f"aigw up: {exc}", file=sys.stderr)
        return 2

    def ready(endpoints) -> None:
        print(f"aigw up: gateway {endpoints.gateway}; mocks "
              + ", ".join(f"{region} {url}" for region, url in endpoints.mocks.items()), file=sys.stderr)
        if endpoints.reset_urls:
            print(f"aigw up: admin reset POST {endpoints.reset_urls[0]} (Authorization: Bearer {endpoints.admin_token})",
                  file=sys.stderr)

    try:
        run_foreground(plan, ready)
    except ConfigError as exc:
        print(f"aigw up: config error:\n{exc}", file=sys.stderr)
        return 2
    except (PortInUse, StackError) as exc:
        print(f"aigw up: {exc}", file=sys.stderr)
        return 2
    return 0
