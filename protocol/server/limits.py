"""Flow control: token buckets (per connection, per key) and the strike counter of the close policy.

A token bucket also measures abuse: a flooding connection spends a bucket of *rate-limit strikes*,
an account or address a bucket of *wrong claims* (:mod:`protocol.server.abuse`); an empty one closes
the connection or bans its sender.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from protocol.errors import CLOSE_POLICY, ErrorCode

__all__ = ["BucketTable", "StrikeCounter", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` spends one if available."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def available(self) -> float:
        """Tokens in the bucket now (refilled up to ``burst``)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._tokens

    def take(self) -> bool:
        """Spend one token; ``False`` (and nothing spent) when the bucket is empty."""
        if self.available() >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class BucketTable:
    """Token buckets by key (e.g. client address for HTTP), least recently used evicted first."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def full(self, key: str) -> bool:
        """Whether ``key``'s bucket holds its whole burst (nothing spent that has not refilled)."""
        bucket = self._buckets.get(key)
        return bucket is None or bucket.available() >= bucket.burst

    def take(self, key: str) -> bool:
        """Spend one token of ``key``'s bucket."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._clock)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()


class StrikeCounter:
    """Consecutive malformed frames (``CLOSE_POLICY.strike_codes``); a valid message resets the count."""

    __slots__ = ("count", "limit")

    def __init__(self, limit: int = CLOSE_POLICY.max_strikes) -> None:
        self.limit = limit
        self.count = 0

    def strike(self, code: ErrorCode) -> bool:
        """Count ``code`` if it is a strike code; returns whether the connection must now close."""
        if code.counts_as_strike:
            self.count += 1
        return self.count >= self.limit

    def reset(self) -> None:
        """A valid message arrived."""
        self.count = 0
