"""``aigw load``: Locust scenarios that check a gateway's rate limits, cache and failover under load."""

import argparse

from aigw.cli.argtypes import port, positive_int
import re
import sys
from pathlib import Path

LOAD_HELP = """\
Load a gateway (ours or a vendor's) with Locust and check, under load, that its limits, cache and
failover hold — not only how fast it is. Locust runs headless in child processes; the verdict is a
table of SLA gates, and the exit code is 1 when one is missed.

scenarios:
  rate-limit  several subscriptions at different rates against a token limit: no key is admitted more
              than --token-limit tokens per window (+ one reservation), every 429 has Retry-After,
              clients that honour it recover
  caching     repeats and paraphrases (--repeat-ratio, --paraphrase-ratio): hit ratio, hits faster
  failover    steady load while the mocks are failed, slowed, throttled and restored on a schedule:
              client-visible error rate per phase, time to recover, traffic per backend
  streaming   chat streams: TTFT and inter-token latency (Locust request types TTFT / ITL), tokens/s
  mixed       chat / stream / embeddings / MCP in proportions (--mix chat=6,stream=2,embeddings=1,mcp=1)

Without --target, the embedded target starts first: three mocks (latency "fast", their own limits
lifted) and the gateway with the example config plus /cached/openai (semantic cache) and /mcp.
Scenario options go after `--` and are Locust options of the scenario's locustfile.

examples:
  aigw load rate-limit                                  # 60 s against the embedded target
  aigw load caching --users 20 --duration 30s -- --repeat-ratio 0.6 --paraphrase-ratio 0.2
  aigw load failover --duration 2m --sla sla.yaml       # exit 1 if a gate in sla.yaml is missed
  aigw load mixed --shape spike --users 40 --workers 2  # Locust master + 2 worker processes
  aigw load streaming --target https://apim.example.net -- --api-path /openai --keys $APIM_KEY
  aigw load rate-limit --target http://gw:8080 -- --rate-keys K1:40,K2:10 --token-limit 5000
  locust -f $(aigw load --print-locustfile caching) --host http://127.0.0.1:8080   # plain Locust
  aigw load rate-limit --analyze reports/load/rate-limit   # gates for a run made with plain Locust

reports (--report-dir, default reports/load/SCENARIO/): summary.html (gates, figures, charts),
summary.json, observations.json, Locust's locust.html, locust_*.csv and locust.json, PNG charts.
"""


def _duration(text: str) -> float:
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    if not text or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 90, 90s, 2m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return total


def register(commands) -> None:
    load = commands.add_parser("load", help="Locust scenarios: rate limits, caching, failover under load",
                               description=LOAD_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_options(load)
    # argparse hands everything after a positional to a REMAINDER; run_load parses our options out of it
    # again and passes what follows `--` to Locust, so options may come before or after the scenario.
    load.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    load.set_defaults(run=run_load)


def _add_options(load: argparse.ArgumentParser) -> None:
    from aigw.load import SCENARIOS, SHAPES

    load.add_argument("scenario", nargs="?", choices=list(SCENARIOS), metavar="SCENARIO",
                      help=f"one of: {', '.join(SCENARIOS)}")
    load.add_argument("--target", metavar="URL", help="the gateway's base URL (default: start the embedded target)")
    load.add_argument("--users", type=positive_int, default=10, help="(peak) concurrent users (default: %(default)s)")
    load.add_argument("--spawn-rate", type=float, metavar="R", help="users started per second (default: all at once)")
    load.add_argument("--duration", type=_duration, default=60.0, metavar="TIME", help="run time: 60s, 2m, 1h (default: 60s)")
    load.add_argument("--shape", choices=SHAPES, help="load shape: steady, step, spike or soak (default: constant users)")
    load.add_argument("--workers", type=int, default=0, metavar="N", help="Locust distributed mode: master + N local workers")
    load.add_argument("--sla", metavar="FILE", help="SLA gates (YAML); see `aigw load --print-sla-example`")
    load.add_argument("--report-dir", default="reports/load", metavar="DIR", help="where reports go (default: %(default)s)")
    load.add_argument("--ui", action="store_true", help="Locust's web UI instead of headless (starts at once)")
    load.add_argument("--web-port", type=port, default=8089, help="web UI port with --ui (default: %(default)s)")
    load.add_argument("--seed", type=int, default=0, help="workload seed (default: %(default)s)")
    embedded = load.add_argument_group("embedded target (without --target)")
    embedded.add_argument("--gateway-config", metavar="FILE", help="gateway config (default: the example + load APIs)")
    embedded.add_argument("--latency", default="fast", help="mock latency: off | fast | realistic | slow (default: fast)")
    embedded.add_argument("--window-reset-after", type=_duration, metavar="TIME",
                          help="rate-limit: shift the gateway clock so its minute window rolls this long into the run "
                               "(default: half the run, for runs under 2 minutes)")
    files = load.add_argument_group("locustfiles, for plain `locust -f`")
    files.add_argument("--print-locustfile", choices=list(SCENARIOS), metavar="SCENARIO", help="print its path and exit")
    files.add_argument("--print-shapefile", choices=SHAPES, metavar="SHAPE", help="print its path and exit")
    files.add_argument("--print-sla-example", action="store_true", help="print an SLA file with every gate and exit")
    files.add_argument("--analyze", metavar="DIR", help="judge an earlier run from its files (locust.json, "
                                                        "observations.json), e.g. a multi-machine `locust --master` run")


def _split_rest(args: argparse.Namespace) -> list[str]:
    """Parse our options that came after the scenario; return the Locust arguments after ``--``."""
    rest = list(args.rest or [])
    ours, locust = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
    if ours:
        again = argparse.ArgumentParser(prog="aigw load")
        _add_options(again)
        scenario = args.scenario
        again.parse_args(ours, namespace=args)
        if args.scenario is not None and scenario is not None:
            again.error(f"one scenario at a time (got {scenario} and {args.scenario}); "
                        "put scenario options after `--`")
        args.scenario = args.scenario or scenario
    return locust


def run_load(args: argparse.Namespace) -> int:
    from aigw.load import runner
    from aigw.load.schedule import ScheduleError
    from aigw.load.sla import SlaError
    from aigw.protocol.serving import PortInUse
    from aigw.stack.run import StackError, load_target

    extra = _split_rest(args)
    if args.print_locustfile:
        print(runner.locustfile(args.print_locustfile))
        return 0
    if args.print_shapefile:
        print(runner.shapefile(args.print_shapefile))
        return 0
    if args.print_sla_example:
        from aigw.load import sla

        print(sla.__doc__.split("\n\n")[1].replace("\n    ", "\n").strip())
        return 0
    if not args.scenario:
        print("aigw load: name a scenario (rate-limit, caching, failover, streaming, mixed); see aigw load --help",
              file=sys.stderr)
        return 2
    if args.workers < 0:
        print("aigw load: --workers must be 0 or more", file=sys.stderr)
        return 2
    plan = runner.LoadRun(scenario=args.scenario, target=args.target, users=args.users, spawn_rate=args.spawn_rate,
                          duration=args.duration, shape=args.shape, workers=args.workers, sla=args.sla,
                          report_dir=Path(args.report_dir), ui=args.ui, web_port=args.web_port, locust_args=extra,
                          gateway_config=args.gateway_config, latency=args.latency,
                          window_reset_after=args.window_reset_after, seed=args.seed)
    echo = lambda line: print(line, file=sys.stderr)  # noqa: E731
    try:
        if args.analyze:
            outcome = runner.analyze(plan, Path(args.analyze))
        else:
            embedded = load_target(plan.gateway_config, plan.latency, plan.seed)
            outcome = runner.run(plan, echo, embedded)
    except (runner.LoadError, SlaError, ScheduleError, StackError, PortInUse) as error:
        print(f"aigw load: {error}", file=sys.stderr)
        return 2
    echo(f"aigw load: {'PASSED' if outcome.exit_code == 0 else 'FAILED'} — report {outcome.folder / 'summary.html'}")
    return outcome.exit_code
