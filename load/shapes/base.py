"""The abstract shape every aigw shape file subclasses; imports Locust (load it only inside Locust)."""

from __future__ import annotations

from locust import LoadTestShape, events

DEFAULT_SECONDS = 60.0


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw shapes")
    group.add_argument("--steps", type=int, default=4, help="step shape: number of equal steps up to -u")
    group.add_argument("--spike-start", type=float, default=0.4, help="spike shape: when the spike starts (share of -t)")
    group.add_argument("--spike-length", type=float, default=0.2, help="spike shape: how long it lasts (share of -t)")
    group.add_argument("--base-share", type=float, default=0.25, help="spike shape: users outside the spike (share of -u)")
    group.add_argument("--ramp-share", type=float, default=0.1, help="soak shape: ramp-up time (share of -t)")


class AigwShape(LoadTestShape):
    """Reads -u/-r/-t; subclasses say how many users there should be ``at`` seconds into ``total``."""

    abstract = True
    use_common_options = True

    def tick(self):
        options = self.runner.environment.parsed_options
        users = max(1, int(options.num_users or 1))
        rate = float(options.spawn_rate or users)
        total = float(options.run_time or getattr(options, "max_seconds", DEFAULT_SECONDS))
        now = self.get_run_time()
        if now >= total:
            return None
        count, spawn_rate = self.users_at(now, total, users, rate, options)
        return max(1, int(round(count))), spawn_rate

    def users_at(self, now: float, total: float, users: int, rate: float, options) -> tuple[float, float]:
        raise NotImplementedError
