"""Bit-sliced bpp9000 evaluation: 64 windows per uint64, ``64 * B`` lanes, cone neurons only.

Encoding: a trit is two bit-planes, ``p1 = (t == 1)`` and ``p2 = (t == 2)``; bit ``i`` of word
``b`` is lane ``64*b + i``. All lanes tick in lockstep, each holding one window and reading its
own next input row (``ptr``: one vector gather of packed row codes, then a bit transpose into
planes), so windows drift apart in feed count freely. When a window ends, its lane takes the
next waiting window in the same step; a lane's own tick count is the step count since its
window started, which keeps the timeout rule exact.

A LUT is evaluated as a three-level multiplexer: for each value of the second and third
neighbour and each output plane, the set of first-neighbour values giving that output is one of
8 subsets, so that level is a load from 8 precomputed predicate planes (``sel`` holds the subset
codes); the other two levels are one-hot 3-way selects.

The last few windows, and any window older than a soft cap (a straggler or an endless loop),
are finished one at a time by the scalar resume, which also detects a repeated state within a
feed-free stretch (Brent's cycle finding): such a window can never end, so the evaluation is a
timeout without running to ``max_ticks``. Every shortcut here is exact: results equal
:func:`engine.bpp9000.errors_per_window`.

Caching: the kernels here are uncached building blocks compiled into the two cached entry points
(:func:`errors_sliced`, :func:`walk_sliced`); the cache directory is keyed by every engine source
(:func:`engine._jit.cache_dir`), so editing any of them never reuses stale machine code.

Shapes and dtypes (``P`` neurons, ``C`` cone neurons, ``B`` words, ``T`` rows):

* ``sel``: uint8[C, 2, 3, 3] subset codes ``[cone position, plane, v(nb2), v(nb1)]``.
* ``rowcode``: uint64[T]; bit ``k`` = input ``k`` is 1, bit ``N + k`` = input ``k`` is 2.
* state planes (current and next): uint64[P * 2 * B], plane ``p`` of neuron ``n`` at
  ``(2*n + p) * B``; ``B`` is a multiple of 8 (one explicit 8 x uint64 vector per 8 words,
  two when ``B`` is a multiple of 16).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._bpp9000_window import LUT_SIZE, MAX_CHANGES_PER_STEP, mutation_entry
from engine._jit import njit
from engine._simd import PLANE_BYTES, advance_lanes64, code_planes, feed_input8, update_neuron8, update_neuron16

__all__ = ["MAX_SLICED_INPUTS", "errors_sliced", "walk_sliced"]

U64 = np.uint64
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
INFINITE = np.int64(0xFFFFFFFF)
#: Largest input count the sliced kernel takes (2N + 1 flag bit must fit the 40 transposed bits).
MAX_SLICED_INPUTS = (8 * PLANE_BYTES - 1) // 2


@njit(cache=False, alloc=False)
def _neuron_subset_codes(lut: npt.NDArray[np.uint8], n: int, ci: int, sel: npt.NDArray[np.uint8]) -> None:
    # sel[ci] from neuron n's LUT row: per plane and (nb2, nb1) value, the first-neighbour subset
    for p in range(2):
        for k in range(3):
            for j in range(3):
                m = 0
                for x in range(3):
                    if lut[n, x + 3 * j + 9 * k] == p + 1:
                        m |= 1 << x
                sel[ci, p, k, j] = m


@njit(cache=False, alloc=False)
def lut_subset_codes(lut: npt.NDArray[np.uint8], cone: npt.NDArray[np.int32], sel: npt.NDArray[np.uint8]) -> None:
    """Fill ``sel`` (uint8[C, 2, 3, 3]) from ``lut`` (uint8[P, 27]) for the cone neurons."""
    for ci in range(cone.shape[0]):
        _neuron_subset_codes(lut, cone[ci], ci, sel)


@njit(cache=False, alloc=False)
def refresh_subset_codes(lut: npt.NDArray[np.uint8], cone_pos: npt.NDArray[np.int32], n: int,
                         sel: npt.NDArray[np.uint8]) -> None:
    """Recompute ``sel`` for neuron ``n`` after its LUT row changed (no-op outside the cone)."""
    if cone_pos[n] >= 0:
        _neuron_subset_codes(lut, n, cone_pos[n], sel)


@njit(cache=False, alloc=False)
def _tick_cone(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], cone: npt.NDArray[np.int32],
               state: npt.NDArray[np.uint8], nxt: npt.NDArray[np.uint8]) -> None:
    for ci in range(cone.shape[0]):
        n = cone[ci]
        nxt[ci] = lut[n, state[nbr[n, 0]] + 3 * state[nbr[n, 1]] + 9 * state[nbr[n, 2]]]
    for ci in range(cone.shape[0]):
        state[cone[ci]] = nxt[ci]


@njit(cache=False)
def resume_window(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], cone: npt.NDArray[np.int32],
                  input_idx: npt.NDArray[np.int32], signal: int, output: int,
                  inputs: npt.NDArray[np.uint8], targets: npt.NDArray[np.uint8], window: int,
                  window_width: int, max_ticks: int, state: npt.NDArray[np.uint8], fed: int, tick: int) -> int:
    """Run one window to its end from (``state``, ``fed``, ``tick``); -1 on timeout, else 0/1 error.

    ``state``: uint8[P] trits at the start of tick ``tick`` (only cone neurons matter; it is
    modified). A state seen twice within one feed-free stretch proves an endless loop.
    """
    n_in = input_idx.shape[0]
    n_cone = cone.shape[0]
    nxt = np.empty(n_cone, dtype=np.uint8)
    snap = np.empty(n_cone, dtype=np.uint8)
    have_snap = False
    power = 1
    lam = 0
    while tick < max_ticks:
        if state[signal] == 2:
            have_snap = False
            if fed >= window_width:
                return 1 if state[output] != targets[window + fed] else 0
            for i in range(n_in):
                state[input_idx[i]] = inputs[window + fed, i]
            fed += 1
        else:
            if have_snap:
                same = True
                for ci in range(n_cone):
                    if state[cone[ci]] != snap[ci]:
                        same = False
                        break
                if same:
                    return -1
            if not have_snap or lam == power:
                for ci in range(n_cone):
                    snap[ci] = state[cone[ci]]
                if have_snap:
                    power *= 2
                have_snap = True
                lam = 0
            lam += 1
            for i in range(n_in):
                state[input_idx[i]] = 2
        _tick_cone(lut, nbr, cone, state, nxt)
        tick += 1
    # the end is only tested at the top of a tick below max_ticks, as in the reference
    return -1


@njit(cache=False)
def probe_window(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], cone: npt.NDArray[np.int32],
                 input_idx: npt.NDArray[np.int32], signal: int, output: int,
                 inputs: npt.NDArray[np.uint8], targets: npt.NDArray[np.uint8], window: int,
                 window_width: int, max_ticks: int) -> int:
    """One window from its start, scalar: -1 on timeout, else its error (0/1)."""
    state = np.full(lut.shape[0], 2, dtype=np.uint8)
    return resume_window(lut, nbr, cone, input_idx, signal, output, inputs, targets, window,
                         window_width, max_ticks, state, 0, 0)


@njit(cache=False, alloc=False)
def _update_cone(sel_off: npt.NDArray[np.uint16], cone: npt.NDArray[np.int32], nbr: npt.NDArray[np.int32],
                 cur: npt.NDArray[np.uint64], nxt: npt.NDArray[np.uint64], n_words: int) -> None:
    # cur/nxt: uint64[P * 2 * n_words] flat planes; n_words is a multiple of 8 (16: wide calls);
    # sel_off: subset codes as byte offsets for the call width (see _subset_offsets).
    if n_words % 16 == 0:
        for ci in range(cone.shape[0]):
            n = cone[ci]
            for b0 in range(0, n_words, 16):
                update_neuron16(cur, nxt, sel_off, 18 * ci, n, nbr[n, 0], nbr[n, 1], nbr[n, 2], n_words, b0)
    else:
        for ci in range(cone.shape[0]):
            n = cone[ci]
            for b0 in range(0, n_words, 8):
                update_neuron8(cur, nxt, sel_off, 18 * ci, n, nbr[n, 0], nbr[n, 1], nbr[n, 2], n_words, b0)


@njit(cache=False)
def _subset_offsets(sel: npt.NDArray[np.uint8], n_words: int) -> npt.NDArray[np.uint16]:
    width = 16 if n_words % 16 == 0 else 8
    flat = sel.reshape(-1)
    out = np.empty(flat.shape[0], dtype=np.uint16)
    for i in range(flat.shape[0]):
        out[i] = np.uint16(flat[i] * 8 * width)
    return out


@njit(cache=False, alloc=False)
def _lane_state(cur: npt.NDArray[np.uint64], n_words: int, cone: npt.NDArray[np.int32], lane: int,
                state: npt.NDArray[np.uint8]) -> None:
    # one lane's cone trits out of the planes, for the scalar resume
    b = lane >> 6
    sh = U64(lane & 63)
    for ci in range(cone.shape[0]):
        n = cone[ci]
        p1 = (cur[2 * n * n_words + b] >> sh) & U64(1)
        p2 = (cur[(2 * n + 1) * n_words + b] >> sh) & U64(1)
        state[n] = np.uint8(p1 + U64(2) * p2)


@njit(cache=False, alloc=False)
def _start_window(lane: int, w: int, t: int, window_width: int, rowcode: npt.NDArray[np.uint64],
                  targets: npt.NDArray[np.uint8], flag: np.uint64, ptr: npt.NDArray[np.int64],
                  last: npt.NDArray[np.int64], start: npt.NDArray[np.int64], win: npt.NDArray[np.int64],
                  codes: npt.NDArray[np.uint64], tgt1: npt.NDArray[np.uint64], tgt2: npt.NDArray[np.uint64]) -> None:
    # lane takes window w at step t; its planes are reset by the caller
    ptr[lane] = w
    last[lane] = w + window_width - 1
    start[lane] = t
    win[lane] = w
    codes[lane] = rowcode[w] | (flag if window_width == 1 else U64(0))
    b = lane >> 6
    bit = U64(1) << U64(lane & 63)
    tv = targets[w + window_width]
    tgt1[b] = (tgt1[b] | bit) if tv == 1 else (tgt1[b] & ~bit)
    tgt2[b] = (tgt2[b] | bit) if tv == 2 else (tgt2[b] & ~bit)


@njit(cache=False, alloc=False)
def _oldest(alive: npt.NDArray[np.uint64], start: npt.NDArray[np.int64]) -> int:
    # lane with the earliest start among alive lanes (-1 if none)
    best = -1
    for lane in range(start.shape[0]):
        if (alive[lane >> 6] >> U64(lane & 63)) & U64(1) and (best < 0 or start[lane] < start[best]):
            best = lane
    return best


@njit(cache=False)
def _errors(lut: npt.NDArray[np.uint8], sel: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32],
            cone: npt.NDArray[np.int32], input_idx: npt.NDArray[np.int32],
            cone_inputs: npt.NDArray[np.int32], signal: int, output: int,
            inputs: npt.NDArray[np.uint8], targets: npt.NDArray[np.uint8],
            rowcode: npt.NDArray[np.uint64], window_width: int, max_ticks: int,
            bound: int, n_words: int, tail_lanes: int, suspect: npt.NDArray[np.int64]) -> np.int64:
    """Error count over all windows, or any value > ``bound`` once the count exceeds it.

    Returns :data:`INFINITE` (0xFFFFFFFF) when some window times out. ``cone_inputs``:
    int32[K] positions (into ``input_idx``) of the inputs cone neurons read. ``suspect``:
    int64[1], the window that timed out last (-1: none); it is tried first and updated.
    ``tail_lanes``: once no window is waiting and this few are running, they finish in the
    scalar loop. A lane whose window ends takes the next waiting window in the same step; each
    lane's own tick count is the step count since its window started.
    """
    n_pop = lut.shape[0]
    n_in = input_idx.shape[0]
    n_windows = inputs.shape[0] - window_width
    lanes = 64 * n_words
    flag_bit = 2 * n_in
    flag = U64(1) << U64(flag_bit)

    if suspect[0] >= 0 and suspect[0] < n_windows:
        r = probe_window(lut, nbr, cone, input_idx, signal, output, inputs, targets, suspect[0],
                         window_width, max_ticks)
        if r < 0:
            return INFINITE

    cur = np.zeros(n_pop * 2 * n_words, dtype=np.uint64)
    nxt = np.zeros(n_pop * 2 * n_words, dtype=np.uint64)
    sel_off = _subset_offsets(sel, n_words)
    sig1 = (2 * signal + 1) * n_words
    out0 = 2 * output * n_words
    out1 = (2 * output + 1) * n_words
    planes = np.empty(8 * PLANE_BYTES * n_words, dtype=np.uint64)
    alive = np.zeros(n_words, dtype=np.uint64)
    full = np.zeros(n_words, dtype=np.uint64)
    feed = np.empty(n_words, dtype=np.uint64)
    fresh = np.zeros(n_words, dtype=np.uint64)
    tgt1 = np.zeros(n_words, dtype=np.uint64)
    tgt2 = np.zeros(n_words, dtype=np.uint64)
    ptr = np.zeros(lanes, dtype=np.int64)
    last = np.full(lanes, -1, dtype=np.int64)
    start = np.zeros(lanes, dtype=np.int64)
    win = np.zeros(lanes, dtype=np.int64)
    codes = np.zeros(lanes, dtype=np.uint64)
    state = np.empty(n_pop, dtype=np.uint8)
    soft_cap = min(8 * window_width + 64, max_ticks)

    for ci in range(cone.shape[0]):
        n = cone[ci]
        for b in range(n_words):
            cur[(2 * n + 1) * n_words + b] = ALL  # every neuron starts UNKNOWN
    queued = 0
    for lane in range(min(lanes, n_windows)):
        _start_window(lane, queued, 0, window_width, rowcode, targets, flag, ptr, last, start, win, codes, tgt1, tgt2)
        alive[lane >> 6] |= U64(1) << U64(lane & 63)
        queued += 1
    oldest = _oldest(alive, start)
    fails = 0
    t = 0
    while True:
        if oldest >= 0 and t - start[oldest] >= max_ticks:
            return INFINITE  # that window was still running after its tick max_ticks - 1
        # windows end at the top of a tick when the signal is UNKNOWN and all W rows are in
        n_alive = 0
        oldest_ended = False
        for b in range(n_words):
            sig_u = cur[sig1 + b] & alive[b]
            fin = sig_u & full[b]
            fresh[b] = 0
            if fin != 0:
                miss = ((cur[out0 + b] ^ tgt1[b]) | (cur[out1 + b] ^ tgt2[b])) & fin
                fails += _popcount(miss)
                alive[b] ^= fin
                full[b] &= ~fin
                if oldest >= 0 and (oldest >> 6) == b and (fin >> U64(oldest & 63)) & U64(1):
                    oldest_ended = True
                while fin != 0 and queued < n_windows:
                    lane = 64 * b + _ctz(fin)
                    fin &= fin - U64(1)
                    _start_window(lane, queued, t, window_width, rowcode, targets, flag, ptr, last, start, win,
                                  codes, tgt1, tgt2)
                    queued += 1
                    fresh[b] |= U64(1) << U64(lane & 63)
                alive[b] |= fresh[b]
            n_alive += _popcount(alive[b])
        if fails > bound:
            return np.int64(fails)
        if n_alive == 0:
            break
        for b in range(n_words):
            if fresh[b] != 0:
                _reset_lanes(cur, cone, n_words, b, fresh[b])
        if oldest_ended:
            oldest = _oldest(alive, start)
        if t - start[oldest] >= soft_cap or (queued == n_windows and n_alive <= tail_lanes):
            # finish windows one by one: every one left at the end, else the oldest (a probe
            # that also catches an endless loop long before max_ticks)
            for lane in range(lanes):
                if lane != oldest and not (queued == n_windows and n_alive <= tail_lanes):
                    continue
                if not (alive[lane >> 6] >> U64(lane & 63)) & U64(1):
                    continue
                _lane_state(cur, n_words, cone, lane, state)
                w = win[lane]
                r = resume_window(lut, nbr, cone, input_idx, signal, output, inputs, targets, w, window_width,
                                  max_ticks, state, int(ptr[lane] - w), int(t - start[lane]))
                if r < 0:
                    suspect[0] = w
                    return INFINITE
                fails += r
                bit = U64(1) << U64(lane & 63)
                alive[lane >> 6] ^= bit
                full[lane >> 6] &= ~bit
                if queued < n_windows:  # the lane takes the next window at once
                    _start_window(lane, queued, t, window_width, rowcode, targets, flag, ptr, last, start, win,
                                  codes, tgt1, tgt2)
                    queued += 1
                    alive[lane >> 6] |= bit
                    _reset_lanes(cur, cone, n_words, lane >> 6, bit)
            if fails > bound:
                return np.int64(fails)
            if queued == n_windows and n_alive <= tail_lanes:
                break
            soft_cap = min(2 * soft_cap, max_ticks)
            oldest = _oldest(alive, start)
            continue
        for b in range(n_words):
            feed[b] = cur[sig1 + b] & alive[b] & ~full[b]
            code_planes(codes, 64 * b, planes, b, n_words)
        for q in range(cone_inputs.shape[0]):
            k = cone_inputs[q]
            for b0 in range(0, n_words, 8):
                feed_input8(cur, 2 * input_idx[k] * n_words, planes, k * n_words, (n_in + k) * n_words, feed, b0)
        for b in range(n_words):
            full[b] |= planes[flag_bit * n_words + b] & feed[b]
        _update_cone(sel_off, cone, nbr, cur, nxt, n_words)
        cur, nxt = nxt, cur
        for b in range(n_words):
            advance_lanes64(feed[b], ptr, last, codes, rowcode, 64 * b, flag)
        t += 1
    return np.int64(fails)


@njit(cache=False, alloc=False)
def _reset_lanes(cur: npt.NDArray[np.uint64], cone: npt.NDArray[np.int32], n_words: int, b: int,
                 mask: np.uint64) -> None:
    # the lanes in mask of word b start over: every cone neuron UNKNOWN
    for ci in range(cone.shape[0]):
        n = cone[ci]
        cur[2 * n * n_words + b] &= ~mask
        cur[(2 * n + 1) * n_words + b] |= mask


@njit(cache=False, inline="always", alloc=False)
def _ctz(x: np.uint64) -> int:
    # index of the lowest set bit of a non-zero word
    return _popcount((x & (~x + U64(1))) - U64(1))


@njit(cache=False, inline="always", alloc=False)
def _popcount(x: np.uint64) -> int:
    x = x - ((x >> U64(1)) & U64(0x5555555555555555))
    x = (x & U64(0x3333333333333333)) + ((x >> U64(2)) & U64(0x3333333333333333))
    x = (x + (x >> U64(4))) & U64(0x0F0F0F0F0F0F0F0F)
    return int((x * U64(0x0101010101010101)) >> U64(56))


@njit(cache=False)
def _walk(lut: npt.NDArray[np.uint8], seeds: npt.NDArray[np.uint64], changes: int, steps: int,
          nbr: npt.NDArray[np.int32], updated: npt.NDArray[np.int32], cone: npt.NDArray[np.int32],
          cone_pos: npt.NDArray[np.int32], input_idx: npt.NDArray[np.int32],
          cone_inputs: npt.NDArray[np.int32], signal: int, output: int, inputs: npt.NDArray[np.uint8],
          targets: npt.NDArray[np.uint8], rowcode: npt.NDArray[np.uint64], window_width: int,
          max_ticks: int, n_words: int, tail_lanes: int) -> np.int64:
    sel = np.empty((cone.shape[0], 2, 3, 3), dtype=np.uint8)
    lut_subset_codes(lut, cone, sel)
    suspect = np.full(1, -1, dtype=np.int64)
    cur = _errors(lut, sel, nbr, cone, input_idx, cone_inputs, signal, output, inputs, targets,
                  rowcode, window_width, max_ticks, INFINITE, n_words, tail_lanes, suspect)
    best = cur
    flat = lut.reshape(-1)
    where = np.empty(MAX_CHANGES_PER_STEP, dtype=np.int64)
    old = np.empty(MAX_CHANGES_PER_STEP, dtype=np.uint8)
    for s in range(steps):
        for i in range(changes):
            seed = seeds[s * MAX_CHANGES_PER_STEP + i]
            e = mutation_entry(updated, seed)
            where[i] = e
            old[i] = flat[e]
            flat[e] = np.uint8((np.int64(flat[e]) + 1 + np.int64(seed & U64(1))) % 3)
        # a step that leaves every cone entry as it was cannot change the count
        moved = False
        for i in range(changes):
            n = where[i] // LUT_SIZE
            if cone_pos[n] >= 0:
                refresh_subset_codes(lut, cone_pos, n, sel)
                first = i
                for j in range(i):
                    if where[j] == where[i]:
                        first = j
                        break
                if flat[where[i]] != old[first]:
                    moved = True
        if moved:
            r = _errors(lut, sel, nbr, cone, input_idx, cone_inputs, signal, output, inputs, targets,
                        rowcode, window_width, max_ticks, cur, n_words, tail_lanes, suspect)
        else:
            r = cur
        if r <= cur:
            cur = r
        else:
            for i in range(changes - 1, -1, -1):
                flat[where[i]] = old[i]
            for i in range(changes):
                refresh_subset_codes(lut, cone_pos, where[i] // LUT_SIZE, sel)
        best = min(best, cur)
    return best


@njit
def errors_sliced(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], cone: npt.NDArray[np.int32],
                  input_idx: npt.NDArray[np.int32], cone_inputs: npt.NDArray[np.int32], signal: int,
                  output: int, inputs: npt.NDArray[np.uint8], targets: npt.NDArray[np.uint8],
                  rowcode: npt.NDArray[np.uint64], window_width: int, max_ticks: int,
                  n_words: int, tail_lanes: int) -> np.int64:
    """Error count of one network over all windows (bit-sliced); INFINITE on a timeout.

    Arguments as :func:`walk_sliced` minus the walk's; ``lut`` uint8[P, 27] is not modified.
    """
    sel = np.empty((cone.shape[0], 2, 3, 3), dtype=np.uint8)
    lut_subset_codes(lut, cone, sel)
    return _errors(lut, sel, nbr, cone, input_idx, cone_inputs, signal, output, inputs, targets,
                   rowcode, window_width, max_ticks, INFINITE, n_words, tail_lanes,
                   np.full(1, -1, dtype=np.int64))


@njit
def walk_sliced(lut: npt.NDArray[np.uint8], seeds: npt.NDArray[np.uint64], changes: int, steps: int,
                nbr: npt.NDArray[np.int32], updated: npt.NDArray[np.int32], cone: npt.NDArray[np.int32],
                cone_pos: npt.NDArray[np.int32], input_idx: npt.NDArray[np.int32],
                cone_inputs: npt.NDArray[np.int32], signal: int, output: int,
                inputs: npt.NDArray[np.uint8], targets: npt.NDArray[np.uint8],
                rowcode: npt.NDArray[np.uint64], window_width: int, max_ticks: int,
                n_words: int, tail_lanes: int) -> np.int64:
    """The mutation walk on the bit-sliced kernel; same result as ``walk_per_window``.

    ``lut`` uint8[P, 27] (the root, modified in place); ``seeds`` uint64[>= steps*10]; ``changes``
    L; ``steps`` S; ``cone`` int32[C] updated neurons that reach signal/output (ascending);
    ``cone_pos`` int32[P] position in ``cone`` or -1; ``cone_inputs`` int32[K] positions (in
    ``input_idx``) of the inputs cone neurons read; ``rowcode`` uint64[T] packed input rows;
    ``n_words`` 64-window words of lanes (a multiple of 8); ``tail_lanes`` windows still running
    (none waiting) at which the rest finish one by one in scalar code (8 is a good default). Steps
    whose mutations leave every cone entry as it was are not re-evaluated, and an evaluation stops
    once its count exceeds the current one (that step is rejected either way).
    """
    return _walk(lut, seeds, changes, steps, nbr, updated, cone, cone_pos, input_idx, cone_inputs,
                 signal, output, inputs, targets, rowcode, window_width, max_ticks, n_words, tail_lanes)
