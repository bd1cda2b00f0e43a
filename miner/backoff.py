"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").

The *bound* of the n-th delay is ``min(cap, initial * 2**n)`` and the delay itself is drawn
uniformly from ``[0, bound]``, so a fleet of miners that lost the same server spreads its
reconnects over the whole window instead of arriving in lock-step (xmrig uses a fixed 5 s pause).
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for consecutive failures; :meth:`reset` after a success."""

    def __init__(self, initial: float, cap: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0 or cap < initial:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def bound(self) -> float:
        """Upper bound (seconds) of the next delay."""
        return min(self.cap, self.initial * (2.0 ** min(self.failures, 62)))

    def next_delay(self) -> float:
        """The next delay in seconds (uniform in ``[0, bound]``); counts one more failure."""
        delay = self._rng.uniform(0.0, self.bound())
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Forget the failures (after a successful login)."""
        self.failures = 0
