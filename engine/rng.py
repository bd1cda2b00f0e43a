"""Explicit random-number state for kernels: xoshiro256** seeded with splitmix64.

A generator is a ``uint64[4]`` array owned by the caller and passed into kernels, never a global
(see STYLE.md, after pynndescent). Every draw advances that array in place, so a run is a pure
function of its inputs and the initial four words.

Draw primitives (the only ones kernels use):

* ``next_u64(state)``  -> uint64, the xoshiro256** output.
* ``random(state)``    -> float64 in [0, 1): ``(next_u64 >> 11) * 2**-53``.
* ``uniform(state, lo, hi)`` -> ``lo + (hi - lo) * random(state)`` (Python's formula).
* ``below(state, n)``  -> int in [0, n): ``int(random(state) * n)`` (n < 2**53).

``seed_state(seed)`` expands a 64-bit integer with splitmix64; ``state_from_bytes(b)`` takes 32 bytes
(for example a KangarooTwelve digest) as four little-endian words.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._exact import exact_mul
from engine._jit import njit

_MASK64 = (1 << 64) - 1
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(alloc=False)
def _rotl(x: np.uint64, k: np.uint64) -> np.uint64:
    return (x << k) | (x >> (np.uint64(64) - k))


@njit(alloc=False)
def next_u64(state: npt.NDArray[np.uint64]) -> np.uint64:
    """Advance ``state`` (uint64[4]) once and return the xoshiro256** output."""
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    result = _rotl(s1 * np.uint64(5), np.uint64(7)) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, np.uint64(45))
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return result


@njit(alloc=False)
def random(state: npt.NDArray[np.uint64]) -> float:
    """A float64 uniform on [0, 1) with 53 random bits."""
    return float(next_u64(state) >> np.uint64(11)) * _TWO_M53


@njit(alloc=False)
def uniform(state: npt.NDArray[np.uint64], lo: float, hi: float) -> float:
    """``lo + (hi - lo) * random()``, the same expression as CPython's ``random.uniform``."""
    return lo + exact_mul(hi - lo, random(state))


@njit(alloc=False)
def below(state: npt.NDArray[np.uint64], n: int) -> int:
    """An integer uniform on ``[0, n)`` (``n`` >= 1)."""
    return int(random(state) * n)


def seed_state(seed: int) -> npt.NDArray[np.uint64]:
    """A fresh generator state from a non-negative integer seed (splitmix64 expansion)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    x = seed & _MASK64
    words = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & _MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        words.append(z ^ (z >> 31))
    return np.array(words, dtype=np.uint64)


def state_from_bytes(data: bytes) -> npt.NDArray[np.uint64]:
    """A generator state from 32 bytes (four little-endian uint64 words).

    An all-zero state would make xoshiro emit zeros forever, so it is refused.
    """
    if len(data) != 32:
        raise ValueError(f"RNG state needs exactly 32 bytes, got {len(data)}")
    state = np.frombuffer(data, dtype="<u8").astype(np.uint64)
    if not state.any():
        raise ValueError("RNG state must not be all zero")
    return state.copy()
