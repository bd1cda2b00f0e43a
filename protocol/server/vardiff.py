"""Variable share difficulty ("vardiff"): a per-worker ``ShareThreshold`` aimed at a target share rate.

Pools measure a worker's speed from its shares: if a share is a walk whose score reaches the share
bar with probability ``p``, a worker that sends ``n`` shares in ``t`` seconds computes about
``n / (p t)`` walks per second. Hash-based pools know ``p`` from the difficulty; a score has no closed
form, so the server *samples* each task's score distribution (a few dozen calibration walks at
start-up, cached in the ledger) and works in probability space:

* start: ``p = 1 / (target_interval · threads / seconds_per_walk)`` from the login's ``Threads`` and
  the server's own measured time per walk;
* every retarget window (or early, when shares arrive at 4× the target rate): estimate the rate
  ``w = n / (p_eff · t)`` and set ``p = 1 / (target_interval · w)``, at most 4× easier or harder per
  step; no share in a whole window halves the difficulty (``p`` doubles);
* ``p`` is kept within what the samples resolve (``1/n``, refined below that by verified shares,
  see :class:`ScoreDistribution`) and 1, and the bar is never harder than the solution
  ``Threshold``; a change below 25 % is ignored so jobs are not re-sent for noise.

``ShareThreshold`` is then the sampled score that a fraction ``p`` of walks reach.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable

__all__ = ["ScoreDistribution", "ShareDifficulty"]


class ScoreDistribution:
    """A task's sampled walk scores (best first), the server's measured seconds per walk, and a tail
    learned from verified submissions.

    The calibration samples resolve probabilities down to ``r/n`` with the anchor rank
    ``r = max(ANCHOR, n/8)``: the best few samples are too noisy to lean on (the chance of beating the
    single best of ``n`` samples is anything from a fraction to a multiple of ``1/n``; at rank ``r``
    the relative error is about ``1/sqrt(r)``). Beyond the anchor — the ``r``-th best sample — verified
    submissions extend the tail: a submission made against a bar no harder than the anchor is, when it
    reaches the anchor, an unbiased draw from the top ``ANCHOR/n`` of the distribution (the miner
    submits every such score). With ``k`` such draws, probabilities resolve down to ``r/(n k)``.
    """

    #: Smallest rank of the calibration sample that anchors the tail (at least an eighth of the samples).
    ANCHOR = 8
    #: Tail draws needed before the tail is used.
    MIN_TAIL = 8
    #: Tail draws kept.
    MAX_TAIL = 4096

    def __init__(self, scores: tuple[int, ...], higher_is_better: bool, seconds_per_walk: float) -> None:
        if not scores:
            raise ValueError("a score distribution needs at least one sample")
        self.scores = scores
        self.higher_is_better = higher_is_better
        self.seconds_per_walk = max(seconds_per_walk, 1e-6)
        self.tail: list[int] = []  # best first

    @classmethod
    def from_samples(cls, scores: Iterable[int], *, higher_is_better: bool,
                     seconds_per_walk: float) -> ScoreDistribution:
        """Build from unordered samples (at least one)."""
        return cls(tuple(sorted(scores, reverse=higher_is_better)), higher_is_better, seconds_per_walk)

    @property
    def size(self) -> int:
        """Number of calibration samples."""
        return len(self.scores)

    @property
    def _anchor_rank(self) -> int:
        return min(max(self.ANCHOR, self.size // 8), self.size)

    @property
    def anchor(self) -> int:
        """The calibration score whose probability (``ANCHOR/n``) the tail is measured from."""
        return self.scores[self._anchor_rank - 1]

    @property
    def _has_tail(self) -> bool:
        return len(self.tail) >= self.MIN_TAIL

    @property
    def min_probability(self) -> float:
        """The smallest probability this distribution resolves."""
        top = self._anchor_rank / self.size
        return top / len(self.tail) if self._has_tail else top

    def meets(self, score: int, bar: int) -> bool:
        """Whether ``score`` reaches ``bar`` in the algorithm's direction."""
        return score >= bar if self.higher_is_better else score <= bar

    def _order(self, score: int) -> int:
        return -score if self.higher_is_better else score

    def observe(self, score: int, bar: int) -> None:
        """Learn from a verified submission of ``score`` that was made against ``bar``."""
        anchor = self.anchor
        if self.meets(anchor, bar) and self.meets(score, anchor) and len(self.tail) < self.MAX_TAIL:
            bisect.insort(self.tail, score, key=self._order)

    def probability(self, bar: int) -> float:
        """Estimated chance that one walk reaches ``bar`` (never 0: half a sample at worst)."""
        rank = self._anchor_rank
        if self._has_tail and not self.meets(self.anchor, bar):
            hits = sum(1 for s in self.tail if self.meets(s, bar))
            return (rank / self.size) * max(hits, 0.5) / len(self.tail)
        hits = sum(1 for s in self.scores if self.meets(s, bar))
        return max(hits, 0.5) / self.size

    def bar_for(self, p: float) -> int:
        """The score that about a fraction ``p`` of walks reach."""
        rank = self._anchor_rank
        if self._has_tail and p * self.size < rank:
            k = round(p * self.size / rank * len(self.tail))
            if k < len(self.tail):
                return self.tail[max(k, 1) - 1]
        k = min(self.size, max(1, round(p * self.size)))
        return self.scores[k - 1]

    def closest_bar(self, p: float) -> int:
        """The sampled score whose sample frequency of being reached is nearest ``p`` (by ratio).

        Unlike :meth:`bar_for`, ties count: when many samples share a score (walks that end where they
        started), the score at rank ``p·n`` may be reached far more often than ``p``.
        """
        best, best_err = self.scores[0], math.inf
        for rank, score in enumerate(self.scores, start=1):
            if rank < self.size and self.scores[rank] == score:
                continue  # the last of a run of ties: every one of them reaches it
            err = abs(math.log(rank / self.size / p))
            if err < best_err:
                best, best_err = score, err
        return best


class ShareDifficulty:
    """One worker's share bar: see the module docstring for the rule."""

    #: Largest change of ``p`` in one retarget.
    MAX_STEP = 4.0
    #: Smallest relative change of ``p`` that is applied.
    HYSTERESIS = 1.25
    #: Windows that the speed estimate looks back over.
    HISTORY = 8

    def __init__(self, distribution: ScoreDistribution, *, target_interval: float, retarget_seconds: float,
                 threads: int, now: float) -> None:
        self.distribution = distribution
        self.target_interval = target_interval
        self.retarget_seconds = retarget_seconds
        guess = max(threads, 1) / distribution.seconds_per_walk
        self.p = self._clamp(1.0 / (target_interval * guess), distribution.min_probability)
        self.window_start = now
        self.window_shares = 0
        self._history: deque[tuple[int, float]] = deque(maxlen=self.HISTORY)  # (shares, p_eff * seconds)

    @staticmethod
    def _clamp(p: float, low: float) -> float:
        return min(1.0, max(low, p))

    def share_threshold(self, threshold: int) -> int:
        """The current bar, never harder than ``threshold``."""
        bar = self.distribution.bar_for(self.p)
        harder = bar > threshold if self.distribution.higher_is_better else bar < threshold
        return threshold if harder else bar

    @property
    def walks_per_second(self) -> float | None:
        """Estimated walks per second over the last windows (``None`` before a window with shares):
        shares divided by the sum of ``p · seconds`` of those windows."""
        shares = sum(n for n, _ in self._history)
        exposure = sum(e for _, e in self._history)
        return shares / exposure if shares and exposure > 0 else None

    def record_share(self) -> None:
        """Count one verified share (or solution) in the current window."""
        self.window_shares += 1

    def due(self, now: float) -> bool:
        """Whether a retarget is due: a full window passed, or shares come 4× too fast."""
        elapsed = now - self.window_start
        expected = elapsed / self.target_interval
        return elapsed >= self.retarget_seconds or (self.window_shares >= 4 and self.window_shares >= 4 * expected)

    def retarget(self, now: float, threshold: int) -> bool:
        """Adjust ``p`` from the window just ended; returns whether the share bar changed."""
        elapsed = max(now - self.window_start, 1e-6)
        shares = self.window_shares
        old_bar = self.share_threshold(threshold)
        p_eff = self.distribution.probability(old_bar)
        floor = max(self.distribution.min_probability, self.distribution.probability(threshold))
        self._history.append((shares, p_eff * elapsed))
        if shares == 0:
            wanted = self.p * 2.0
        else:
            rate = shares / (p_eff * elapsed)
            wanted = 1.0 / (self.target_interval * rate)
            wanted = min(self.p * self.MAX_STEP, max(self.p / self.MAX_STEP, wanted))
        wanted = self._clamp(wanted, floor)
        self.window_start = now
        self.window_shares = 0
        if abs(math.log(wanted / self.p)) < math.log(self.HYSTERESIS):
            return False
        self.p = wanted
        return self.share_threshold(threshold) != old_bar
