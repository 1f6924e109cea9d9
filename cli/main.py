"""The ``aigw`` command: parse arguments, call into the packages, nothing more."""

import argparse
import sys

from aigw.cli import check_command, gateway_command, load_command, mock_command

DESCRIPTION = """\
aigw — contract tests, a faithful mock backend and a reference gateway for the
Azure API Management AI gateway.

commands:
  mock      run the mock Azure OpenAI / OpenAI-compatible backend
  gateway   run the reference AI gateway (APIM AI-gateway policies)
  up        run mock backends and the gateway together (the embedded default)
  check     run the contract suite against a target (default: the embedded one)
  load      Locust scenarios: rate limits, caching and failover under load

examples:
  aigw mock                              # embedded default deployments on 127.0.0.1:8000
  aigw mock --selftest                   # start, send a few requests, report, exit
  aigw mock --port 9000 --latency off    # fastest answers, for load tests
  aigw up                                # gateway on :8080 in front of three mock regions
  aigw check                             # contract-check the embedded default; exit 0 = compliant
  aigw load rate-limit --duration 30s    # load it and check its token limits hold
  aigw mock --help                       # everything about the mock

`aigw COMMAND --help` explains each command with examples.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aigw", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"aigw-suite {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    mock_command.register(commands)
    gateway_command.register(commands)
    check_command.register(commands)
    load_command.register(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aigw-suite")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
