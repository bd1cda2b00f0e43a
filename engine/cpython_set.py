"""A CPython ``set`` of ``(int, int)`` tuples, emulated so that its iteration order is CPython's.

Neuraxon v2's reference builds its Watts–Strogatz edges in a Python set and creates the synapses
in set-iteration order, which then fixes every float summation order of the network. That order is
a pure function of the sequence of ``add``/``discard`` calls (small ints hash to themselves and
tuples use CPython's xxHash-style ``tuplehash``), so it can be reproduced exactly:

* open addressing over a power-of-two table, starting at ``hash & mask``; each probe looks at 10
  consecutive slots (9 linear probes, when they fit), then jumps to ``(i*5 + 1 + perturb) & mask``
  with ``perturb >>= 5``;
* ``discard`` leaves a dummy; ``add`` reuses the *last* dummy on its probe path;
* after a new slot is filled, ``fill*5 >= mask*3`` rebuilds the table at the smallest power of
  two above ``used*4`` (``used*2`` above 50,000 entries), re-inserting in old table order;
* iteration is table order.

This matches CPython 3.11, 3.12 and 3.13 (tests/engine/test_cpython_set.py compares it with the
running interpreter's ``set``). A set is four arrays: ``slot`` int8[cap] (0 empty, 1 live,
2 dummy), ``hashes`` uint64[cap], ``keys`` int64[cap, 2] and ``meta`` int64[3] = (table size,
fill, used); ``cap`` (from :func:`capacity`) bounds the largest table the set can grow to.
"""

from __future__ import annotations

import numpy as np

from engine._jit import njit

__all__ = ["capacity", "pair_hash", "set_add", "set_contains", "set_discard", "set_items", "set_new"]

_EMPTY = 0
_LIVE = 1
_DUMMY = 2
_MIN_SIZE = 8
_LINEAR_PROBES = 9
_SHIFT = np.uint64(5)

_XXPRIME_1 = np.uint64(11400714785074694791)
_XXPRIME_2 = np.uint64(14029467366897019727)
_XXPRIME_5 = np.uint64(2870177450012600261)
_LEN2_MANGLE = np.uint64(2 ^ 2870177450012600261 ^ 3527539)
_MINUS_ONE = np.uint64(0xFFFFFFFFFFFFFFFF)


def capacity(max_items: int) -> int:
    """Table capacity enough for a set that never holds more than ``max_items`` entries."""
    cap = _MIN_SIZE
    while cap <= 4 * max_items:
        cap <<= 1
    return cap


@njit(alloc=False)
def pair_hash(a, b):  # type: ignore[no-untyped-def]
    """``hash((a, b))`` as uint64 for ints 0 <= a, b < 2**61 - 1 (which hash to themselves)."""
    acc = _XXPRIME_5
    for lane in (np.uint64(a), np.uint64(b)):
        acc += lane * _XXPRIME_2
        acc = (acc << np.uint64(31)) | (acc >> np.uint64(33))
        acc *= _XXPRIME_1
    acc += _LEN2_MANGLE
    if acc == _MINUS_ONE:
        return np.uint64(1546275796)
    return acc


@njit
def set_new(cap):  # type: ignore[no-untyped-def]
    """An empty set with room for tables up to ``cap`` slots: (slot, hashes, keys, meta)."""
    meta = np.zeros(3, dtype=np.int64)
    meta[0] = _MIN_SIZE
    return (np.zeros(cap, dtype=np.int8), np.zeros(cap, dtype=np.uint64), np.zeros((cap, 2), dtype=np.int64),
            meta)


@njit(alloc=False)
def _lookup(slot, hashes, keys, size, a, b, h):  # type: ignore[no-untyped-def]
    """Walk the probe path of (a, b): (index of the live entry or -1, index where ``add`` would
    store it: the last dummy on the path, else the empty slot that ended it)."""
    mask = np.uint64(size - 1)
    i = h & mask
    perturb = h
    free = np.int64(-1)
    while True:
        probes = _LINEAR_PROBES if i + np.uint64(_LINEAR_PROBES) <= mask else 0
        e = np.int64(i)
        while True:
            st = slot[e]
            if st == _EMPTY:
                return np.int64(-1), (free if free >= 0 else e)
            if st == _LIVE:
                if hashes[e] == h and keys[e, 0] == a and keys[e, 1] == b:
                    return e, e
            else:
                free = e
            e += 1
            if probes == 0:
                break
            probes -= 1
        perturb >>= _SHIFT
        i = (i * np.uint64(5) + np.uint64(1) + perturb) & mask


@njit(alloc=False)
def _insert_clean(slot, hashes, keys, size, a, b, h):  # type: ignore[no-untyped-def]
    mask = np.uint64(size - 1)
    i = h & mask
    perturb = h
    while True:
        e = np.int64(i)
        if slot[e] != _EMPTY:
            e = np.int64(-1)
            if i + np.uint64(_LINEAR_PROBES) <= mask:
                for j in range(1, _LINEAR_PROBES + 1):
                    if slot[np.int64(i) + j] == _EMPTY:
                        e = np.int64(i) + j
                        break
        if e >= 0:
            slot[e] = _LIVE
            hashes[e] = h
            keys[e, 0] = a
            keys[e, 1] = b
            return
        perturb >>= _SHIFT
        i = (i * np.uint64(5) + np.uint64(1) + perturb) & mask


@njit
def _resize(slot, hashes, keys, meta, minused):  # type: ignore[no-untyped-def]
    size = meta[0]
    new_size = _MIN_SIZE
    while new_size <= minused:
        new_size <<= 1
    if new_size == _MIN_SIZE and size == _MIN_SIZE and meta[1] == meta[2]:
        return  # a minimal table without dummies: CPython leaves it alone
    if new_size > slot.shape[0]:
        raise ValueError("cpython_set: table capacity exceeded")
    n = meta[2]
    old_h = np.empty(n, dtype=np.uint64)
    old_k = np.empty((n, 2), dtype=np.int64)
    c = 0
    for e in range(size):
        if slot[e] == _LIVE:
            old_h[c] = hashes[e]
            old_k[c, 0] = keys[e, 0]
            old_k[c, 1] = keys[e, 1]
            c += 1
    slot[: max(size, new_size)] = _EMPTY
    for j in range(n):
        _insert_clean(slot, hashes, keys, new_size, old_k[j, 0], old_k[j, 1], old_h[j])
    meta[0] = new_size
    meta[1] = n


@njit
def set_add(slot, hashes, keys, meta, a, b):  # type: ignore[no-untyped-def]
    """``s.add((a, b))``."""
    h = pair_hash(a, b)
    size = meta[0]
    live, e = _lookup(slot, hashes, keys, size, a, b, h)
    if live >= 0:
        return
    fresh = slot[e] == _EMPTY
    slot[e] = _LIVE
    hashes[e] = h
    keys[e, 0] = a
    keys[e, 1] = b
    meta[2] += 1
    if fresh:
        meta[1] += 1
        if meta[1] * 5 >= (size - 1) * 3:
            used = meta[2]
            _resize(slot, hashes, keys, meta, used * 2 if used > 50000 else used * 4)


@njit(alloc=False)
def set_discard(slot, hashes, keys, meta, a, b):  # type: ignore[no-untyped-def]
    """``s.discard((a, b))``."""
    e, _ = _lookup(slot, hashes, keys, meta[0], a, b, pair_hash(a, b))
    if e >= 0:
        slot[e] = _DUMMY
        meta[2] -= 1


@njit(alloc=False)
def set_contains(slot, hashes, keys, meta, a, b):  # type: ignore[no-untyped-def]
    """``(a, b) in s``."""
    return _lookup(slot, hashes, keys, meta[0], a, b, pair_hash(a, b))[0] >= 0


@njit
def set_items(slot, keys, meta):  # type: ignore[no-untyped-def]
    """The live entries in iteration order, int64[used, 2]."""
    out = np.empty((meta[2], 2), dtype=np.int64)
    c = 0
    for e in range(meta[0]):
        if slot[e] == _LIVE:
            out[c, 0] = keys[e, 0]
            out[c, 1] = keys[e, 1]
            c += 1
    return out
