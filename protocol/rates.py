"""Rates of a growing total over sliding windows (10 s, 60 s, 15 min), as xmrig reports hash rates.

Used by the miner (iterations per second, overall and per worker thread) and by the work server's
page (verifications per second); it lives here, below both.

:class:`RateMeter` keeps one ``(time, total)`` sample per :meth:`sample` call (the daemon calls it
once a second) in a bounded ring, so memory stays constant however long the miner runs. A window's
rate is the increase of the total over the newest sample span that fits the window; a window that
is not yet covered by samples reports ``None`` until at least its first 2 s are (the rate is then
taken over what exists, as xmrig does for its longer windows).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["WINDOWS", "RateMeter"]

#: Window labels and their lengths in seconds.
WINDOWS: dict[str, float] = {"10s": 10.0, "60s": 60.0, "15m": 900.0}


class RateMeter:
    """Rates of a monotonically increasing total (e.g. iterations) over :data:`WINDOWS`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_window: float = 900.0,
                 resolution: float = 1.0) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque(maxlen=int(max_window / resolution) + 8)
        self.highest: float = 0.0

    def sample(self, total: int, now: float | None = None) -> None:
        """Record the current ``total``."""
        t = self._clock() if now is None else now
        self._samples.append((t, total))
        rate = self.rate(10.0)
        if rate is not None:
            self.highest = max(self.highest, rate)

    def rate(self, window: float) -> float | None:
        """Per-second increase over the last ``window`` seconds, or ``None`` with too few samples."""
        if len(self._samples) < 2:
            return None
        t_now, v_now = self._samples[-1]
        start = None
        for t, v in reversed(self._samples):
            if t_now - t > window + 1e-6:
                break
            start = (t, v)
        if start is None or t_now - start[0] < min(2.0, window) - 1e-6:
            return None
        span = t_now - start[0]
        return (v_now - start[1]) / span if span > 0 else None

    def series(self, step: float = 5.0, window: float = 10.0) -> list[tuple[float, float]]:
        """``(time, rate)`` about every ``step`` seconds over the samples kept, oldest first: each rate
        is the increase over the ``window`` seconds before that sample (a hash-rate chart's points)."""
        samples = list(self._samples)
        points: list[tuple[float, float]] = []
        start = 0
        for t, v in samples:
            if points and t - points[-1][0] < step - 1e-6:
                continue
            while samples[start][0] < t - window - 1e-6:
                start += 1
            t0, v0 = samples[start]
            if t - t0 >= min(2.0, window) - 1e-6:
                points.append((t, (v - v0) / (t - t0)))
        return points

    def rates(self) -> dict[str, float | None]:
        """Every window of :data:`WINDOWS` by label."""
        return {label: self.rate(seconds) for label, seconds in WINDOWS.items()}
