"""engine.cpython_random draws exactly what CPython's random.Random draws (its twin is the stdlib)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import cpython_random as R

OPS = st.lists(st.tuples(st.sampled_from(["random", "randbelow", "randint", "uniform", "gauss", "bits"]),
                         st.integers(1, 2**31 - 1)), min_size=1, max_size=1500)


@settings(max_examples=200, deadline=None)
@given(seed=st.one_of(st.integers(0, 2**200), st.binary(max_size=40), st.text(max_size=10)), ops=OPS)
def test_draws_equal_random_random(seed: int | bytes | str, ops: list[tuple[str, int]]) -> None:
    mt, cache = R.seed_state(seed)
    ref = random.Random(seed)
    for op, n in ops:
        if op == "random":
            assert R.random(mt) == ref.random()
        elif op == "randbelow":
            assert R.randbelow(mt, n) == ref._randbelow(n)  # type: ignore[attr-defined]
        elif op == "randint":
            assert R.randint(mt, -3, n % 1000) == ref.randint(-3, n % 1000)
        elif op == "uniform":
            assert R.uniform(mt, -0.8, n / 7.0) == ref.uniform(-0.8, n / 7.0)
        elif op == "gauss":
            assert R.gauss(mt, cache, 0.0, 0.3) == ref.gauss(0.0, 0.3)
        else:
            assert R.getrandbits(mt, n % 33) == ref.getrandbits(n % 33)
    assert R.to_python(mt, cache).getstate() == ref.getstate()


def test_state_round_trips_through_random_random() -> None:
    ref = random.Random(99)
    ref.gauss(0.0, 1.0)  # leaves the pair's second value cached
    mt, cache = R.state_from_python(ref)
    assert mt[R.STATE_WORDS - 1] == 1
    assert R.gauss(mt, cache, 0.0, 1.0) == ref.gauss(0.0, 1.0)
    assert R.to_python(mt, cache).getstate() == ref.getstate()


def test_bad_seeds_and_states_are_refused() -> None:
    with pytest.raises(ValueError, match="seed must be an int, str or bytes"):
        R.seed_state(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state must be"):
        R.to_python(np.zeros(10, dtype=np.uint32), np.zeros(1))
