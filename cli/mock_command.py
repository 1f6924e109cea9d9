"""``aigw mock``: run the mock backend, print its config, or self-test it."""

import argparse

from aigw.cli.argtypes import port, positive_int
import sys

HELP = """\
Run a mock Azure OpenAI / OpenAI-compatible backend that behaves like the real service:
exact token counts, streaming, tools, JSON mode, meaningful embeddings, Azure's 429s with
retry-after / retry-after-ms, content-filter annotations, and injectable faults — all
deterministic for a given --seed.

paths served:
  POST /openai/deployments/{deployment}/chat/completions?api-version=2024-10-21   (Azure)
  POST /deployments/{deployment}/chat/completions                                (APIM suffix)
  POST /v1/chat/completions  (model in the body)      GET /v1/models
  ... and the same for /completions and /embeddings.
admin API (Authorization: Bearer <admin_token>, default "mock-admin"):
  /_mock/counters  /_mock/reset  /_mock/faults/{deployment}  /_mock/outage/{deployment}
  /_mock/clock/advance  /_mock/limits  /_mock/config  /_mock/health

examples:
  aigw mock                                   # embedded default on 127.0.0.1:8000
  aigw mock --port 9000 --latency off         # no simulated latency (benchmarks)
  aigw mock --config mock.yaml --seed 7       # your deployments, reproducible answers
  aigw mock --print-config > mock.yaml        # start your own config from the default
  aigw mock --selftest                        # start on a free port, exercise it, exit 0/1

record / replay (cassettes are JSON Lines files, one exchange per line, secrets redacted):
  aigw mock --record chat.jsonl --upstream https://my-resource.openai.azure.com
      # a recording proxy on :8000: send your requests (with the real key) here; each exchange is
      # forwarded, passed back unchanged (streams chunk by chunk) and appended to chat.jsonl
  aigw mock --replay chat.jsonl --ignore-field user --ignore-field seed
      # serve the recordings offline; streams keep their recorded pacing; a request that was not
      # recorded gets a 404 naming its key and the nearest recorded key
  aigw mock --replay chat.jsonl --on-miss generate --no-timing
      # unrecorded requests are answered by the mock itself; streams are sent at once

  curl -s localhost:8000/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 \\
       -H 'content-type: application/json' -H 'api-key: any' \\
       -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":20}'
  curl -s -X PUT localhost:8000/_mock/faults/gpt-4o -H 'authorization: Bearer mock-admin' \\
       -d '{"error_rates":{"503":0.5}}'
"""


def register(commands) -> None:
    parser = commands.add_parser("mock", help="run the mock backend", description=HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=port, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument("--config", metavar="FILE", help="mock.yaml; default: the embedded default deployments")
    parser.add_argument("--seed", type=int, help="seed for answers, latencies and faults (default: the config's, 0)")
    parser.add_argument("--latency", metavar="PROFILE", help="off | fast | realistic | slow | a profile of the config")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes (default: 1; state such as counters and limits is per worker)")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--print-config", action="store_true", help="print the effective config as YAML and exit")
    parser.add_argument("--selftest", action="store_true", help="start on a free port, exercise every operation, exit 0/1")
    tape = parser.add_argument_group("record / replay")
    tape.add_argument("--record", metavar="CASSETTE", help="forward every request to --upstream and append each exchange "
                      "to CASSETTE (created, or appended to if it exists)")
    tape.add_argument("--upstream", metavar="URL", help="base URL to record from, e.g. https://my-resource.openai.azure.com "
                      "or another aigw mock (with --record)")
    tape.add_argument("--upstream-timeout", metavar="SECONDS", type=_seconds, default=300.0,
                      help="give up on an upstream silent this long: 504 (default: %(default)s)")
    tape.add_argument("--replay", metavar="CASSETTE", help="answer from the exchanges recorded in CASSETTE")
    tape.add_argument("--on-miss", choices=["error", "generate"], default="error",
                      help="a request not in the cassette gets a 404 naming the nearest recorded key (error, the "
                           "default) or the mock's own answer (generate)")
    tape.add_argument("--ignore-field", metavar="FIELD", action="append", default=[],
                      help="body field (dotted path, e.g. user or metadata.trace_id) or query parameter left out of "
                           "request matching; repeatable")
    tape.add_argument("--redact-field", metavar="FIELD", action="append", default=[],
                      help="body field whose value is replaced by <redacted> in the cassette (a query parameter of "
                           "that name is dropped); left out of matching; repeatable")
    tape.add_argument("--redact-header", metavar="NAME", action="append", default=[],
                      help="header redacted in the cassette besides api-key, Authorization, Ocp-Apim-Subscription-Key, "
                           "Cookie, X-Api-Key; repeatable")
    tape.add_argument("--replay-speed", metavar="FACTOR", type=_speed, default=1.0,
                      help="replay recorded timing this many times faster (default: %(default)s, as recorded)")
    tape.add_argument("--no-timing", action="store_true", help="replay without any recorded delay")
    parser.set_defaults(run=run)


def _speed(text: str) -> float:
    value = _float(text, "--replay-speed")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 (2 = twice as fast), got {text}")
    return value


def _seconds(text: str) -> float:
    value = _float(text, "timeout")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 seconds, got {text}")
    return value


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None


def _cassette_options(args: argparse.Namespace):
    """The --record/--replay options, checked for combinations that cannot work (ValueError)."""
    from aigw.mocks.cassette import CassetteOptions

    if args.record and args.replay:
        raise ValueError("--record and --replay exclude each other")
    if args.record and not args.upstream:
        raise ValueError("--record needs --upstream URL (the endpoint to record from)")
    if args.upstream and not args.record:
        raise ValueError("--upstream is only used with --record CASSETTE")
    if args.record and args.workers > 1:
        raise ValueError("--record writes one cassette from one process: use --workers 1")
    if not args.replay and (args.on_miss != "error" or args.no_timing or args.replay_speed != 1.0):
        raise ValueError("--on-miss, --no-timing and --replay-speed apply to --replay CASSETTE")
    if not (args.record or args.replay):
        if args.ignore_field or args.redact_field or args.redact_header:
            raise ValueError("--ignore-field, --redact-field and --redact-header apply to --record or --replay")
        return None
    return CassetteOptions(record=args.record, upstream=args.upstream, replay=args.replay, on_miss=args.on_miss,
                           ignore_fields=tuple(args.ignore_field), redact_fields=tuple(args.redact_field),
                           redact_headers=tuple(args.redact_header),
                           speed=None if args.no_timing else args.replay_speed, upstream_timeout_s=args.upstream_timeout)


def run(args: argparse.Namespace) -> int:
    from aigw.mocks.server import resolve_config, serve
    from aigw.protocol.yamlconfig import ConfigError

    try:
        cassette = _cassette_options(args)
        config = resolve_config(args.config, args.seed, args.latency)
    except ConfigError as exc:
        print(f"aigw mock: config error:\n{exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic re-validation of command-line overrides
        print(f"aigw mock: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=False), sort_keys=False), end="")
        return 0
    if args.selftest:
        from aigw.mocks.selftest import run_selftest

        return run_selftest(config)
    app = None
    if cassette is not None:
        from aigw.mocks.cassette import CassetteError
        from aigw.mocks.server import build_app

        try:
            app = build_app(config, cassette)  # opens the cassette now: a bad file is reported before serving
        except (CassetteError, ValueError) as exc:
            print(f"aigw mock: {exc}", file=sys.stderr)
            return 2
        for warning in getattr(app, "warnings", []):
            print(f"aigw mock: warning: {warning}", file=sys.stderr)
    from aigw.protocol.serving import PortInUse

    try:
        serve(args.host, args.port, args.config, args.seed, args.latency, args.workers, args.log_level, args.access_log,
              cassette=cassette, app=app if args.workers == 1 else None,
              announce=lambda: print(_banner(args, config, app), file=sys.stderr))
    except PortInUse as exc:
        print(f"aigw mock: {exc}", file=sys.stderr)
        return 2
    return 0


def _banner(args: argparse.Namespace, config, app) -> str:
    where = f"http://{args.host}:{args.port}"
    if args.record:
        return f"aigw mock: recording to {args.record}, forwarding {where} → {args.upstream}"
    if args.replay:
        misses = "the mock answers" if args.on_miss == "generate" else "404"
        timing = "no timing" if args.no_timing else f"timing ×{args.replay_speed:g}"
        return (f"aigw mock: replaying {len(app.cassette.exchanges)} exchanges from {args.replay} on {where} "
                f"({timing}; misses: {misses})")
    return (f"aigw mock: serving {len(config.deployments)} deployments on {where} "
            f"(seed {config.seed}, latency {config.latency}, admin token via config)")
