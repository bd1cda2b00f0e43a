"""bpp9000 model rules and the straightforward kernels (one window, one tick at a time).

Self-contained on purpose: numba's on-disk cache keys a kernel on its own source file only, so
these cached kernels call nothing outside this file. The batched kernels build on the rules
defined here (:mod:`engine._bpp9000_sliced`); :mod:`engine.bpp9000` is the public surface.

Model (trits 0, 1, 2 with 2 = UNKNOWN). ``P`` neurons; the ``N`` input neurons hold whatever the
feeder writes, every other ("updated") neuron ``n`` has three neighbours and a 27-entry LUT:
``next[n] = lut[n, s[nb0] + 3*s[nb1] + 9*s[nb2]]``, all updated neurons synchronously.

Window ``w`` (``0 <= w < T - W``): every neuron starts UNKNOWN; each tick, if the signal neuron is
UNKNOWN the next input row ``w + fed`` is written to the input neurons (or, once ``W`` rows are in,
the window ends), otherwise the inputs are set UNKNOWN; then the network ticks. The window's
prediction (the output neuron) is graded against target row ``w + W``. A window that has not ended
within ``max_ticks`` ticks makes the whole evaluation :data:`INFINITE_ERROR`.

The mutation walk (``walk_*``): ``S`` steps, each rewriting ``L`` LUT entries of updated neurons;
a step is kept when its error count is not worse, otherwise rolled back; the best count is the score.

Array conventions used by every kernel here:

* ``lut``: uint8[P, 27] trits (rows of input neurons are ignored).
* ``nbr``: int32[P, 3] neighbour indices (rows of input neurons are ignored).
* ``updated``: int32[U] the non-input neurons in ascending order (U = P - N).
* ``input_idx``: int32[N]; ``signal``/``output``: neuron indices.
* ``inputs``: uint8[T, N] input trits; ``targets``: uint8[T] output trits.
* ``seeds``: uint64[>= S*10] mutation seeds, step ``s`` uses ``seeds[s*10 : s*10 + L]``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._jit import njit

__all__ = [
    "INFINITE_ERROR",
    "LUT_SIZE",
    "MAX_CHANGES_PER_STEP",
    "UNKNOWN",
    "apply_mutation",
    "errors_per_window",
    "mutation_entry",
    "walk_per_window",
    "window_error",
]

#: The UNKNOWN trit.
UNKNOWN = 2
#: Entries of one neuron's lookup table (3 neighbours, 3 values each).
LUT_SIZE = 27
#: Mutation seeds reserved per walk step (L <= 10).
MAX_CHANGES_PER_STEP = 10
#: Error count of an evaluation in which some window timed out (also Qubic's "invalid score").
INFINITE_ERROR = 0xFFFFFFFF


@njit(alloc=False)
def mutation_entry(updated: npt.NDArray[np.int32], seed: np.uint64) -> int:
    """Flat LUT index ``n*27 + line`` that mutation ``seed`` rewrites.

    Bits 1.. of ``seed`` pick the entry among the updated neurons' ``U*27`` entries (neurons in
    ascending order).
    """
    total = np.uint64(updated.shape[0] * LUT_SIZE)
    flat = np.int64((seed >> np.uint64(1)) % total)
    return updated[flat // LUT_SIZE] * LUT_SIZE + flat % LUT_SIZE


@njit(alloc=False)
def apply_mutation(lut: npt.NDArray[np.uint8], updated: npt.NDArray[np.int32], seed: np.uint64) -> int:
    """Rewrite one LUT entry of an updated neuron in place; return its flat index ``n*27 + line``.

    The entry is :func:`mutation_entry`; bit 0 of ``seed`` picks +1 or +2 (mod 3), so the trit
    always changes.
    """
    flat = mutation_entry(updated, seed)
    n = flat // LUT_SIZE
    line = flat % LUT_SIZE
    delta = np.int64(seed & np.uint64(1))
    lut[n, line] = np.uint8((np.int64(lut[n, line]) + 1 + delta) % 3)
    return flat


@njit(alloc=False)
def window_error(lut, nbr, updated, input_idx, signal, output, inputs, targets,  # type: ignore[no-untyped-def]
                 w, window_width, max_ticks, state, nxt):
    """Window ``w`` of one network: 1 if its prediction is wrong, 0 if right, -1 if it timed out.

    Arrays as :func:`errors_per_window` takes them; ``state`` uint8[P] and ``nxt`` uint8[U] are
    caller-provided scratch (nothing is allocated here, so the CUDA kernel runs this very function,
    one window per thread).
    """
    n_pop = lut.shape[0]
    n_upd = updated.shape[0]
    n_in = input_idx.shape[0]
    for n in range(n_pop):
        state[n] = UNKNOWN
    fed = 0
    tick = 0
    while tick < max_ticks:
        if state[signal] == UNKNOWN:
            if fed >= window_width:
                break
            for i in range(n_in):
                state[input_idx[i]] = inputs[w + fed, i]
            fed += 1
        else:
            for i in range(n_in):
                state[input_idx[i]] = UNKNOWN
        for j in range(n_upd):
            n = updated[j]
            idx = state[nbr[n, 0]] + 3 * state[nbr[n, 1]] + 9 * state[nbr[n, 2]]
            nxt[j] = lut[n, idx]
        for j in range(n_upd):
            state[updated[j]] = nxt[j]
        tick += 1
    if tick == max_ticks:
        return -1
    return 1 if state[output] != targets[w + fed] else 0


@njit
def errors_per_window(
    lut: npt.NDArray[np.uint8],
    nbr: npt.NDArray[np.int32],
    updated: npt.NDArray[np.int32],
    input_idx: npt.NDArray[np.int32],
    signal: int,
    output: int,
    inputs: npt.NDArray[np.uint8],
    targets: npt.NDArray[np.uint8],
    window_width: int,
    max_ticks: int,
) -> np.int64:
    """Error count of one network over all ``T - W`` windows, one window and one tick at a time.

    The straightforward kernel (the baseline the batched kernels are measured against). Returns
    the number of wrong predictions, or :data:`INFINITE_ERROR` if any window times out.
    """
    state = np.empty(lut.shape[0], dtype=np.uint8)
    nxt = np.empty(updated.shape[0], dtype=np.uint8)
    fails = 0
    for w in range(inputs.shape[0] - window_width):
        e = window_error(lut, nbr, updated, input_idx, signal, output, inputs, targets, w, window_width, max_ticks,
                         state, nxt)
        if e < 0:
            return np.int64(INFINITE_ERROR)
        fails += e
    return np.int64(fails)


@njit
def walk_per_window(
    lut: npt.NDArray[np.uint8],
    seeds: npt.NDArray[np.uint64],
    changes: int,
    steps: int,
    nbr: npt.NDArray[np.int32],
    updated: npt.NDArray[np.int32],
    input_idx: npt.NDArray[np.int32],
    signal: int,
    output: int,
    inputs: npt.NDArray[np.uint8],
    targets: npt.NDArray[np.uint8],
    window_width: int,
    max_ticks: int,
) -> np.int64:
    """The mutation walk with :func:`errors_per_window`; ``lut`` (the root) is modified in place.

    ``changes`` is L (1..10), ``steps`` is S. Returns the best error count seen (or
    :data:`INFINITE_ERROR` if every evaluation timed out).
    """
    cur = errors_per_window(lut, nbr, updated, input_idx, signal, output, inputs, targets,
                            window_width, max_ticks)
    best = cur
    saved = np.empty_like(lut)
    for s in range(steps):
        saved[:, :] = lut
        for i in range(changes):
            apply_mutation(lut, updated, seeds[s * MAX_CHANGES_PER_STEP + i])
        r = errors_per_window(lut, nbr, updated, input_idx, signal, output, inputs, targets,
                              window_width, max_ticks)
        if r <= cur:
            cur = r
        else:
            lut[:, :] = saved
        best = min(best, cur)
    return best

