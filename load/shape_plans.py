"""How many users each load shape wants at a moment — plain functions, no Locust (tested without gevent).

Each takes ``(now, total, users, rate, options)`` — seconds into the run, run time, peak users (-u),
spawn rate (-r), Locust's parsed options — and returns ``(user count, spawn rate)``.
"""


def steady_users(now: float, total: float, users: int, rate: float, options) -> tuple[float, float]:
    return users, rate


def step_users(now: float, total: float, users: int, rate: float, options) -> tuple[float, float]:
    steps = max(1, int(options.steps))
    level = min(steps, int(now / (total / steps)) + 1)
    return users * level / steps, rate


def spike_users(now: float, total: float, users: int, rate: float, options) -> tuple[float, float]:
    start = options.spike_start * total
    inside = start <= now < start + options.spike_length * total
    return (users if inside else users * options.base_share), max(rate, float(users))  # a spike arrives at once


def soak_users(now: float, total: float, users: int, rate: float, options) -> tuple[float, float]:
    ramp = max(1.0, options.ramp_share * total)
    return users * min(1.0, (now + 1.0) / ramp), max(rate, users / ramp)
