"""``aigw mock``: run the mock backend, print its config, or self-test it."""

import argparse
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
    parser.add_argument("--port", type=_port, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument("--config", metavar="FILE", help="mock.yaml; default: the embedded default deployments")
    parser.add_argument("--seed", type=int, help="seed for answers, latencies and faults (default: the config's, 0)")
    parser.add_argument("--latency", metavar="PROFILE", help="off | fast | realistic | slow | a profile of the config")
    parser.add_argument("--workers", type=_positive, default=1,
                        help="worker processes (default: 1; state such as counters and limits is per worker)")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--print-config", action="store_true", help="print the effective config as YAML and exit")
    parser.add_argument("--selftest", action="store_true", help="start on a free port, exercise every operation, exit 0/1")
    parser.set_defaults(run=run)


def _port(text: str) -> int:
    value = _int(text, "port")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def _positive(text: str) -> int:
    value = _int(text, "value")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from aigw.mocks.server import resolve_config, serve
    from aigw.protocol.yamlconfig import ConfigError

    try:
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
    print(f"aigw mock: serving {len(config.deployments)} deployments on http://{args.host}:{args.port} "
          f"(seed {config.seed}, latency {config.latency}, admin token via config)", file=sys.stderr)
    serve(args.host, args.port, args.config, args.seed, args.latency, args.workers, args.log_level, args.access_log)
    return 0
