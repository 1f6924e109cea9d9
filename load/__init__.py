"""``aigw load``: Locust scenarios that verify a gateway's rate limiting, caching and failover under load.

    scenarios/   plain Locust locustfiles, one per scenario (usable with ``locust -f`` directly)
    shapes/      LoadTestShape files: steady, step, spike, soak (``locust -f SCENARIO.py,SHAPE.py``)
    locustlib    what the locustfiles share: options, bounded users, the observation recorder
    sse_client   reading a chat stream as it arrives (TTFT, inter-token gaps)
    target       the embedded target: three mocks and the gateway in a child process
    runner       one run: target, Locust processes (local or master + workers), analysis, report
    analysis     Locust's JSON statistics and the observations → figures
    metrics      each scenario's own figures (limit exactness, hit ratio, recovery times ...)
    sla          SLA gates from YAML, judged; charts / report: PNGs, summary.json, summary.html
    schedule     the failover scenario's fault schedule

Only the locustfiles, ``locustlib`` and ``shapes`` import Locust (and with it gevent's monkey patching);
they run in Locust's own processes, never in the runner's, a test's or a server's.
"""

SCENARIOS = {"rate-limit": "rate_limit.py", "caching": "caching.py", "failover": "failover.py",
             "streaming": "streaming.py", "mixed": "mixed.py"}
SHAPES = ("steady", "step", "spike", "soak")
