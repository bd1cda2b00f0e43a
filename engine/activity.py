"""Activity measures over a run, from the per-step counts a kernel records.

``counts`` is int64[T, 3]: per step, the number of active neurons at +1, at -1, and the number of
active neurons updated (see :class:`engine.neuraxon.RunRecord`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ActivityMeasures", "activity_measures"]


@dataclass(frozen=True)
class ActivityMeasures:
    """Fractions are over all neuron-steps of active neurons; ``nan`` when undefined.

    ``branching_ratio`` is ``Σ A[t+1] / Σ A[t]`` over the steps t with ``A[t] > 0``, where ``A`` is
    the number of firing (non-zero) neurons: the mean number of firing neurons one firing neuron is
    followed by. 1 is the critical point; below it activity dies out, above it grows.
    """

    steps: int
    fraction_pos: float
    fraction_zero: float
    fraction_neg: float
    active_fraction: float
    branching_ratio: float


def activity_measures(counts: npt.NDArray[np.int64]) -> ActivityMeasures:
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] != 3:
        raise ValueError(f"counts must have shape (T, 3), got {counts.shape}")
    pos, neg, alive = counts[:, 0], counts[:, 1], counts[:, 2]
    total = int(alive.sum())
    firing = pos + neg
    if total == 0:
        fp = fn = fz = af = float("nan")
    else:
        fp = int(pos.sum()) / total
        fn = int(neg.sum()) / total
        af = int(firing.sum()) / total
        fz = 1.0 - af
    ancestors = firing[:-1]
    mask = ancestors > 0
    denom = int(ancestors[mask].sum())
    br = int(firing[1:][mask].sum()) / denom if denom else float("nan")
    return ActivityMeasures(int(counts.shape[0]), fp, fz, fn, af, br)
