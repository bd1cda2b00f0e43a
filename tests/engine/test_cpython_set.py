"""engine.cpython_set iterates in the order CPython's own set does (its twin is the builtin set)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import cpython_set as CS

pytestmark = pytest.mark.skipif(sys.implementation.name != "cpython", reason="emulates CPython's set layout")


@settings(max_examples=300, deadline=None)
@given(span=st.sampled_from([2, 5, 30, 400, 70000]),
       ops=st.lists(st.tuples(st.sampled_from(["add", "add", "discard", "in"]), st.integers(0, 2**32),
                              st.integers(0, 2**32)), min_size=1, max_size=600))
def test_iteration_order_equals_cpython(span: int, ops: list[tuple[str, int, int]]) -> None:
    real: set[tuple[int, int]] = set()
    emulated = CS.set_new(CS.capacity(len(ops)))
    slot, hashes, keys, meta = emulated
    for op, a, b in ops:
        key = (a % span, b % span)  # small spans make collisions, dummies and re-adds common
        if op == "add":
            real.add(key)
            CS.set_add(slot, hashes, keys, meta, *key)
        elif op == "discard":
            real.discard(key)
            CS.set_discard(slot, hashes, keys, meta, *key)
        else:
            assert CS.set_contains(slot, hashes, keys, meta, *key) == (key in real)
        assert [tuple(k) for k in CS.set_items(slot, keys, meta).tolist()] == list(real)


def test_pair_hash_is_tuple_hash() -> None:
    for a, b in ((0, 0), (1, 2), (2, 1), (12345, 678), (2**40, 3)):
        assert int(CS.pair_hash(a, b)) == hash((a, b)) % 2**64


def test_a_large_set_grows_like_cpythons() -> None:
    """Past 50,000 entries CPython grows by 2x instead of 4x; the order still matches."""
    real: set[tuple[int, int]] = set()
    slot, hashes, keys, meta = CS.set_new(CS.capacity(120_000))
    for i in range(120_000):
        key = (i % 7919, (i * 31) % 104729)
        real.add(key)
        CS.set_add(slot, hashes, keys, meta, *key)
    assert [tuple(k) for k in CS.set_items(slot, keys, meta).tolist()] == list(real)
