"""Kernels of Qubic's bpp9000 scorer: a ternary lookup-table network graded over sliding windows.

Model (trits 0, 1, 2 with 2 = UNKNOWN): ``P`` neurons; the ``N`` input neurons hold what the
feeder writes, every other ("updated") neuron has three neighbours and a 27-entry LUT,
``next[n] = lut[n, s[nb0] + 3*s[nb1] + 9*s[nb2]]``, all updated synchronously. A window is fed
``W`` input rows, one whenever the signal neuron is UNKNOWN, and graded on the output neuron
against the next row's target; a window still running after ``max_ticks`` ticks voids the whole
evaluation (:data:`INFINITE_ERROR`). The walk rewrites ``L`` LUT entries per step for ``S`` steps
and keeps a step unless its error count got worse; the score is the best count.

Two implementations with identical integer results:

* :func:`errors_per_window` / :func:`walk_per_window`: one window and one tick at a time (the
  baseline, easy to audit);
* :func:`errors_sliced` / :func:`walk_sliced`: 64 windows per uint64 bit-plane, ``64 * n_words``
  lanes in lockstep (a lane takes the next window as soon as its window ends), only neurons that
  can reach the signal or output neuron, explicit vector code (see :mod:`engine._bpp9000_sliced`).
  Needs ``N <= MAX_SLICED_INPUTS``.

Every kernel releases the GIL. Array conventions are in :mod:`engine._bpp9000_window`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._bpp9000_sliced import MAX_SLICED_INPUTS, errors_sliced, walk_sliced
from engine._bpp9000_window import (
    INFINITE_ERROR,
    LUT_SIZE,
    MAX_CHANGES_PER_STEP,
    UNKNOWN,
    apply_mutation,
    errors_per_window,
    mutation_entry,
    walk_per_window,
)

__all__ = [
    "INFINITE_ERROR",
    "LUT_SIZE",
    "MAX_CHANGES_PER_STEP",
    "MAX_SLICED_INPUTS",
    "UNKNOWN",
    "apply_mutation",
    "errors_per_window",
    "errors_sliced",
    "mutation_entry",
    "network_cone",
    "row_codes",
    "walk_per_window",
    "walk_sliced",
]


def network_cone(nbr: npt.NDArray[np.int32], is_input: npt.NDArray[np.bool_], signal: int,
                 output: int) -> npt.NDArray[np.int32]:
    """The updated neurons whose value can reach the signal or output neuron, ascending int32[C].

    ``nbr``: int32[P, 3]; ``is_input``: bool[P]. Follows neighbour edges back from the signal and
    output neurons, stopping at input neurons (the feeder sets those). Neurons outside this cone
    never influence a score, so kernels skip them.
    """
    seen = np.zeros(nbr.shape[0], dtype=np.bool_)
    stack = [int(signal), int(output)]
    while stack:
        n = stack.pop()
        if seen[n] or is_input[n]:
            continue
        seen[n] = True
        stack.extend(int(m) for m in nbr[n])
    return np.flatnonzero(seen).astype(np.int32)


def row_codes(inputs: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Pack input rows (uint8[T, N] trits) into uint64[T]: bit k = (t_k == 1), bit N+k = (t_k == 2)."""
    n_in = inputs.shape[1]
    if 2 * n_in > 63:
        raise ValueError(f"row codes hold at most 31 inputs, got {n_in}")
    weights = np.uint64(1) << np.arange(n_in, dtype=np.uint64)
    ones = ((inputs == 1).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    twos = ((inputs == 2).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return np.ascontiguousarray(ones | (twos << np.uint64(n_in)))
