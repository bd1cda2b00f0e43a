"""Keccak-p[1600,12], the random2 pool chain and random2 draws against known answers and the twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import keccak
from tests.bpp9000_vectors import vector_pool
from tests.naive import bpp9000 as naive

SEED_00_1F = bytes(range(32))


@pytest.fixture(scope="session")
def pool() -> np.ndarray:
    return vector_pool()


def test_pool_known_answer_for_seed_00_1f() -> None:
    assert keccak.pool_prefix(SEED_00_1F, 1)[:16].tobytes().hex() == "2a3bbbad6c099d6bf3de7a4f40e8679f"


def test_pool_chain_matches_twin_for_several_states() -> None:
    assert keccak.pool_prefix(SEED_00_1F, 4).tobytes() == naive.pool_prefix(SEED_00_1F, 4)


def test_pool_size_is_whole_states_covering_2_pow_32_bits_plus_a_word() -> None:
    assert keccak.POOL_BYTES == 536_871_000
    assert keccak.POOL_BYTES % keccak.STATE_BYTES == 0
    assert keccak.POOL_BYTES * 8 >= (1 << 32) + 64


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=200, max_size=200))
def test_permutation_matches_twin(state: bytes) -> None:
    got = keccak.keccak_p1600_12(np.frombuffer(state, dtype=np.uint8))
    assert got.tobytes() == naive.keccak_p1600_12(state)


def test_permutation_rejects_wrong_state_size() -> None:
    with pytest.raises(ValueError, match="200 bytes"):
        keccak.keccak_p1600_12(np.zeros(199, dtype=np.uint8))


def test_session_pool_starts_and_ends_with_the_chain(pool: np.ndarray) -> None:
    from tests.bpp9000_vectors import vector_seed

    assert pool.shape == (keccak.POOL_BYTES,)
    assert pool[:600].tobytes() == naive.pool_prefix(vector_seed(), 3)
    tail = keccak.keccak_p1600_12(pool[-400:-200])
    assert np.array_equal(tail, pool[-200:])


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), segments=st.integers(min_value=0, max_value=6))
def test_random2_matches_twin(pool: np.ndarray, seed: bytes, segments: int) -> None:
    got = keccak.random2(seed, pool, 64 * segments)
    assert got.tobytes() == naive.random2(seed, pool, 64 * segments)


def test_random2_reads_the_last_word_of_the_pool(pool: np.ndarray) -> None:
    # every offset at 2^32 - 1 bits reads one word past the last aligned word
    seed = b"\xff" * 32
    assert keccak.random2(seed, pool, 64).tobytes() == naive.random2(seed, pool, 64)


def test_random2_refuses_partial_segments_and_small_pools(pool: np.ndarray) -> None:
    with pytest.raises(ValueError, match="64-byte"):
        keccak.random2(bytes(32), pool, 65)
    with pytest.raises(ValueError, match="POOL_BYTES"):
        keccak.random2(bytes(32), np.zeros(1024, dtype=np.uint8), 64)
