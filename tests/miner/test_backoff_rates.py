"""Reconnect delays spread out (full jitter, capped); rates are measured over their windows."""

from __future__ import annotations

import random

from miner.backoff import Backoff
from protocol.rates import RateMeter


def test_full_jitter_within_doubling_bounds_and_cap() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(7))
    bounds, delays = [], []
    for _ in range(8):
        bounds.append(backoff.bound())
        delays.append(backoff.next_delay())
    assert bounds == [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True))
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not a fixed pause
    backoff.reset()
    assert backoff.bound() == 1


def test_many_miners_do_not_reconnect_in_lock_step() -> None:
    first_delays = [Backoff(1.0, 60.0, rng=random.Random(seed)).next_delay() for seed in range(200)]
    # Uniform over [0, 1): the 200 miners are spread over the whole first second.
    assert min(first_delays) < 0.05 and max(first_delays) > 0.95
    assert sum(d < 0.5 for d in first_delays) in range(70, 131)


def test_rate_windows() -> None:
    meter = RateMeter()
    assert meter.rate(10) is None
    for second in range(0, 121):
        meter.sample(second * 20 if second < 60 else 1200 + (second - 60) * 10, now=float(second))
    assert meter.rate(10) == 10.0
    assert meter.rate(60) == 10.0
    # the 15-minute window is not covered yet: rate over what exists (120 s)
    assert meter.rate(900) == (1200 + 600) / 120
    assert meter.highest == 20.0


def test_rate_meter_memory_is_bounded() -> None:
    meter = RateMeter()
    for second in range(5000):
        meter.sample(second, now=float(second))
    assert len(meter._samples) <= 910
    assert meter.rate(900) == 1.0


def test_rate_series_for_the_chart() -> None:
    meter = RateMeter()
    assert meter.series() == []
    for second in range(0, 61):
        meter.sample(second * 20 if second < 30 else 600 + (second - 30) * 10, now=float(second))
    points = meter.series(step=5.0, window=10.0)
    assert [t for t, _ in points] == [float(t) for t in range(2, 61, 5)]  # from the first 2 s covered, every 5 s
    assert points[0][1] == 20.0 and points[-1][1] == 10.0
    assert dict(points)[32.0] == (600 + 20 - 22 * 20) / 10  # a window across the change: the mean over it
