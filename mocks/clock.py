"""A virtual clock: real time plus an offset the admin API can advance.

Rate-limit windows and ``created`` timestamps read this clock, so a test can roll a one-minute
window with ``POST /_mock/clock/advance`` instead of sleeping.
"""

import time


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0
