"""Kernels of the rolling-frame bpp9000 scorer (qubic/core v1.305): a self-clocked ternary network.

Model (trits 0, 1, 2 with 2 = UNKNOWN). ``P`` neurons, no inputs: every neuron ``n`` has three
neighbour links and a 27-entry LUT, ``next[n] = lut[27n + s[nb0] + 3 s[nb1] + 9 s[nb2]]``, all
neurons synchronously, starting from the network's start state. After a tick, if the control
neuron is not UNKNOWN the network *emits*: emit number ``c`` (0-based) is the output neuron's trit,
graded against ``targets[c]``. A rollout at frame position ``shift`` runs until ``shift + W``
emits and counts the wrong ones among emits ``shift .. shift + W - 1`` (the frame); if tick
``max_ticks - 1`` passes first, the rollout is void (:data:`INFINITE_ERROR`).

Advancing (:func:`advance`): while the frame's error count is at most ``W // 3`` and the shift is
below its cap, the frame slides one emit on. A later frame is the same trajectory run one emit
longer, so one rollout serves every frame it reaches (the reference re-runs it per frame).

The walk (:func:`walk`): ``S`` steps of ``L`` mutations of one kind (start trit, wiring link or
LUT entry). The first ``K`` steps explore (keep a step only if its error is no better), the rest
exploit (keep a step unless its Rating is worse, and record the best network). A void rollout is
never kept.

Exact shortcuts, each giving the same result as the plain rollout:

* an exploit step whose frame already holds more wrong emits than the current error is rejected
  on the spot (it could neither advance nor tie);
* a repeated network state within a stretch without emits (Brent's cycle finding, started after
  a quiet stretch of :data:`QUIET_TICKS`) proves the network never emits again: void, without
  running to ``max_ticks``.

Array conventions: ``lut`` uint8[27P]; ``nbr`` int32[3P] (neuron ``n``'s links at ``3n..3n+2``);
``start`` uint8[P]; ``targets`` uint8[>= shift_cap + W]; ``seeds`` uint64[>= S*10], step ``s``
uses ``seeds[10s : 10s + L]``. Inside a walk the network is kept in a *work layout* (links by
slot, padded LUT; :func:`work_network`) so that one tick updates 16 neurons with four vector
gathers (:func:`engine._simd.tick_gather16`). Every kernel releases the GIL and allocates only
per call (a walk allocates its buffers once for all its rollouts).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._jit import njit
from engine._simd import GATHER_NEURONS, tick_gather16

__all__ = [
    "INFINITE_ERROR",
    "LUT_SIZE",
    "MAX_CHANGES_PER_STEP",
    "MODE_LUT",
    "MODE_START",
    "MODE_WIRING",
    "NEIGHBORS",
    "QUIET_TICKS",
    "UNKNOWN",
    "advance",
    "mutate",
    "tick",
    "walk",
    "work_network",
]

UNKNOWN = 2
LUT_SIZE = 27
NEIGHBORS = 3
MAX_CHANGES_PER_STEP = 10
#: Error of a void rollout (and Qubic's invalid-score marker).
INFINITE_ERROR = 0xFFFFFFFF
#: Mutation kinds (``nonce[1]`` bits 4-5).
MODE_START = 1
MODE_WIRING = 2
MODE_LUT = 3
#: Emit-free ticks before the cycle check starts (short quiet stretches are common and cheap).
QUIET_TICKS = 64

_U1 = np.uint64(1)
#: Bytes readable past the last neuron / LUT entry (the gathers read 32-bit words).
_PAD = 3


@njit(inline="always", alloc=False)
def tick(lut: npt.NDArray[np.uint8], links: npt.NDArray[np.int32], cur: npt.NDArray[np.uint8],
         nxt: npt.NDArray[np.uint8], population: int) -> None:
    """One synchronous update of every neuron, ``nxt`` from ``cur`` (work layout, see :func:`work_network`)."""
    full = population - population % GATHER_NEURONS
    for n0 in range(0, full, GATHER_NEURONS):
        tick_gather16(cur, nxt, links, lut, n0, population)
    for n in range(full, population):
        idx = (np.int64(cur[links[n]]) + 3 * np.int64(cur[links[population + n]])
               + 9 * np.int64(cur[links[2 * population + n]]))
        nxt[n] = lut[27 * n + idx]


@njit(inline="always", alloc=False)
def _same(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8], n: int) -> bool:
    for i in range(n):  # noqa: SIM110 - a plain loop compiles to a tight compare in numba
        if a[i] != b[i]:
            return False
    return True


@njit
def work_network(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.uint8],
                                                                                  npt.NDArray[np.int32]]:
    """The walk's layout of a network: uint8[27P + 3] LUT (padded for 32-bit gathers) and int32[3P]
    links by slot (link ``j`` of neuron ``n`` at ``j*P + n``) from ``lut`` uint8[27P], ``nbr`` int32[3P]."""
    p = nbr.shape[0] // NEIGHBORS
    work_lut = np.zeros(lut.shape[0] + _PAD, dtype=np.uint8)
    work_lut[:lut.shape[0]] = lut
    links = np.empty(nbr.shape[0], dtype=np.int32)
    for n in range(p):
        for j in range(NEIGHBORS):
            links[j * p + n] = nbr[NEIGHBORS * n + j]
    return work_lut, links


@njit
def _export(work_lut: npt.NDArray[np.uint8], links: npt.NDArray[np.int32], start: npt.NDArray[np.uint8],
            lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], out_start: npt.NDArray[np.uint8]) -> None:
    # the work layout back into the exchanged one
    p = start.shape[0]
    lut[:] = work_lut[:lut.shape[0]]
    for n in range(p):
        for j in range(NEIGHBORS):
            nbr[NEIGHBORS * n + j] = links[j * p + n]
    out_start[:] = start


@njit
def _rollout(lut: npt.NDArray[np.uint8], links: npt.NDArray[np.int32], start: npt.NDArray[np.uint8],
             control: int, output: int, targets: npt.NDArray[np.uint8], shift: int, shift_cap: int, window: int,
             advance_at: int, max_ticks: int, bound: int, buf_a: npt.NDArray[np.uint8],
             buf_b: npt.NDArray[np.uint8], snap: npt.NDArray[np.uint8], miss: npt.NDArray[np.uint8]) -> tuple[int, int]:
    # advance() on the work layout; buf_a/buf_b: uint8[P + 3] (padding zero), snap uint8[P],
    # miss uint8[shift_cap + window] scratch
    n = start.shape[0]
    cur, nxt = buf_a, buf_b
    cur[:n] = start
    first = shift
    need = shift + window
    counter = 0
    ticks = 0
    errs = 0
    quiet = 0
    have_snap = False
    power = 1
    lam = 0
    while True:
        while counter < need:
            ticks += 1
            if ticks >= max_ticks:
                return INFINITE_ERROR, shift
            tick(lut, links, cur, nxt, n)
            cur, nxt = nxt, cur
            if cur[control] != UNKNOWN:
                m = 1 if cur[output] != targets[counter] else 0
                miss[counter] = m
                if counter >= shift:
                    errs += m
                counter += 1
                quiet = 0
                have_snap = False
                if shift == first and errs > bound:
                    return errs, shift
            else:
                quiet += 1
                if quiet >= QUIET_TICKS:
                    if have_snap and _same(cur, snap, n):
                        return INFINITE_ERROR, shift  # an emit-free cycle: never emits again
                    if not have_snap or lam == power:
                        snap[:] = cur[:n]
                        if have_snap:
                            power *= 2
                        have_snap = True
                        lam = 0
                    lam += 1
        if errs > advance_at or shift == shift_cap:
            return errs, shift
        errs -= miss[shift]
        shift += 1
        need += 1


@njit
def advance(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], start: npt.NDArray[np.uint8],
            control: int, output: int, targets: npt.NDArray[np.uint8], shift: int, shift_cap: int,
            window: int, advance_at: int, max_ticks: int, bound: int) -> tuple[int, int]:
    """Roll the network out from ``start`` and advance the frame; return ``(error, shift)``.

    ``error`` is the wrong emits of the last frame graded (or :data:`INFINITE_ERROR` when the
    rollout is void; then ``shift`` is the frame it was on). The frame advances while its error
    is ``<= advance_at`` and ``shift < shift_cap``. ``bound``: once the *first* frame holds more
    than ``bound`` wrong emits, return at once with that partial count (> ``bound``); pass
    :data:`INFINITE_ERROR` for the full answer. ``bound`` must be at least ``advance_at`` unless
    ``shift == shift_cap`` (the walk's bound, the current error, always is: an error at or below
    the gate would have advanced), so a cut frame could not have advanced either.
    """
    n = start.shape[0]
    work_lut, links = work_network(lut, nbr)
    return _rollout(work_lut, links, start, control, output, targets, shift, shift_cap, window, advance_at,
                    max_ticks, bound, np.zeros(n + _PAD, dtype=np.uint8), np.zeros(n + _PAD, dtype=np.uint8),
                    np.empty(n, dtype=np.uint8), np.zeros(shift_cap + window, dtype=np.uint8))


@njit(alloc=False)
def mutate(mode: int, seed: np.uint64, lut: npt.NDArray[np.uint8], links: npt.NDArray[np.int32],
           start: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """Apply one mutation of ``mode`` in place; return ``(index into the changed array, old value)``.

    Work layout (``links`` by slot, see :func:`work_network`). Start: bit 0 of ``seed`` picks +1
    or +2 (mod 3), ``(seed >> 1) % P`` the neuron. Wiring: link ``seed % 3P`` (neuron ``l // 3``,
    slot ``l % 3``) gets target ``(seed // 3P) % P``, stepped on (mod P) past its current target.
    LUT: as start, entry ``(seed >> 1) % 27P``. Another mode changes nothing (index -1).
    """
    n = start.shape[0]
    p = np.uint64(n)
    if mode == MODE_START:
        i = np.int64((seed >> _U1) % p)
        old = np.int64(start[i])
        start[i] = np.uint8((old + 1 + np.int64(seed & _U1)) % 3)
        return int(i), int(old)
    if mode == MODE_WIRING:
        total = p * np.uint64(NEIGHBORS)
        slot = np.int64(seed % total)
        i = (slot % NEIGHBORS) * n + slot // NEIGHBORS
        target = np.int64((seed // total) % p)
        old = np.int64(links[i])
        while target == old:
            target = (target + 1) % n
        links[i] = target
        return int(i), int(old)
    if mode == MODE_LUT:
        i = np.int64((seed >> _U1) % (p * np.uint64(LUT_SIZE)))
        old = np.int64(lut[i])
        lut[i] = np.uint8((old + 1 + np.int64(seed & _U1)) % 3)
        return int(i), int(old)
    return -1, 0


@njit(inline="always", alloc=False)
def _better(e1: int, s1: int, e2: int, s2: int) -> bool:
    # Rating (e1, s1) beats (e2, s2): higher shift, then fewer errors
    if s1 != s2:
        return s1 > s2
    return e1 < e2


@njit
def walk(lut: npt.NDArray[np.uint8], nbr: npt.NDArray[np.int32], start: npt.NDArray[np.uint8],
         seeds: npt.NDArray[np.uint64], changes: int, explore: int, mode: int, steps: int, shift: int,
         control: int, output: int, targets: npt.NDArray[np.uint8], shift_cap: int, window: int,
         advance_at: int, max_ticks: int, best_lut: npt.NDArray[np.uint8], best_nbr: npt.NDArray[np.int32],
         best_start: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """The walk from the network (``lut``, ``nbr``, ``start``; not modified) at ``shift``.

    ``changes`` L, ``explore`` K, ``mode`` 1..3, ``steps`` S. Returns the best Rating
    ``(error, shift)`` and writes its network to ``best_*`` (the start network when no step was
    recorded).
    """
    n = start.shape[0]
    work_lut, links = work_network(lut, nbr)
    state = start.copy()
    buf_a = np.zeros(n + _PAD, dtype=np.uint8)
    buf_b = np.zeros(n + _PAD, dtype=np.uint8)
    snap = np.empty(n, dtype=np.uint8)
    miss = np.zeros(shift_cap + window, dtype=np.uint8)
    cur_e, cur_s = _rollout(work_lut, links, state, control, output, targets, shift, shift_cap, window,
                            advance_at, max_ticks, INFINITE_ERROR, buf_a, buf_b, snap, miss)
    best_e, best_s = cur_e, cur_s
    _export(work_lut, links, state, best_lut, best_nbr, best_start)
    dirty = False
    where = np.empty(MAX_CHANGES_PER_STEP, dtype=np.int64)
    old = np.empty(MAX_CHANGES_PER_STEP, dtype=np.int64)
    for s in range(steps):
        for i in range(changes):
            where[i], old[i] = mutate(mode, seeds[s * MAX_CHANGES_PER_STEP + i], work_lut, links, state)
        exploring = s < explore
        bound = INFINITE_ERROR if exploring else cur_e
        r_e, r_s = _rollout(work_lut, links, state, control, output, targets, cur_s, shift_cap, window,
                            advance_at, max_ticks, bound, buf_a, buf_b, snap, miss)
        if exploring:
            keep = r_e != INFINITE_ERROR and r_e >= cur_e
        else:
            keep = r_e != INFINITE_ERROR and not _better(cur_e, cur_s, r_e, r_s)
        if keep:
            cur_e, cur_s = r_e, r_s
            dirty = True
        else:
            for i in range(changes - 1, -1, -1):
                if where[i] < 0:
                    continue
                if mode == MODE_WIRING:
                    links[where[i]] = old[i]
                elif mode == MODE_START:
                    state[where[i]] = old[i]
                else:
                    work_lut[where[i]] = old[i]
        if not exploring and cur_e != INFINITE_ERROR and not _better(best_e, best_s, cur_e, cur_s):
            best_e, best_s = cur_e, cur_s
            if dirty:
                _export(work_lut, links, state, best_lut, best_nbr, best_start)
                dirty = False
    return best_e, best_s
