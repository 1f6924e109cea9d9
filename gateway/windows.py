"""Fixed time windows aligned to UTC, as APIM's limits use them.

Per-minute limits roll every 60 s; quotas roll on calendar boundaries (top of the hour, midnight
UTC, Monday, the 1st of the month, January 1st), so a window is computed, not a fixed length.
"""

import calendar
import datetime as dt

PERIODS = ("Hourly", "Daily", "Weekly", "Monthly", "Yearly")


def fixed_window(now: float, length: float) -> tuple[float, float]:
    start = now - (now % length)
    return start, start + length


def period_window(period: str, now: float) -> tuple[float, float]:
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    if period == "Hourly":
        start = t.replace(minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(hours=1)
    elif period == "Daily":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
    elif period == "Weekly":
        start = (t - dt.timedelta(days=t.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=7)
    elif period == "Monthly":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(t.year, t.month)[1]
        end = start + dt.timedelta(days=days)
    elif period == "Yearly":
        start = t.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=t.year + 1)
    else:
        raise ValueError(f"unknown quota period {period!r}; one of {', '.join(PERIODS)}")
    return start.timestamp(), end.timestamp()
