"""CPython's ``random.Random`` (MT19937) as explicit state for numba kernels.

Neuraxon v2's reference draws everything from Python's global ``random`` module, so a port that
wants to reproduce a seeded reference run (topology, weights, oscillator phases, and in stochastic
mode the spontaneous kicks, un-silencing, neuron death and formation) needs the same generator,
draw for draw. This module is that generator, with the state in two caller-owned arrays:

* ``mt`` uint32[626]: the 624 twister words, then ``mt[624]`` = index of the next word (0..624)
  and ``mt[625]`` = 1 when ``gauss`` holds a cached value (``random.gauss`` makes two at a time);
* ``gauss`` float64[1]: that cached second normal deviate.

Draw primitives, each consuming exactly what CPython 3.11's ``random.Random`` consumes:

* ``random(mt)``: two 32-bit words, ``(a >> 5, b >> 6)`` into a float64 in [0, 1);
* ``getrandbits(mt, k)`` (1 <= k <= 32): one word, its top ``k`` bits;
* ``randbelow(mt, n)``: ``getrandbits(n.bit_length())`` until below ``n`` (``randrange``,
  ``randint`` and ``choice`` all reduce to it);
* ``uniform(mt, a, b)`` = ``a + (b - a) * random()``;
* ``gauss(mt, gauss, mu, sigma)``: the cached Box-Muller pair of ``random.gauss``.

Seeding goes through the standard library itself (:func:`seed_state` hands any seed that
``random.seed`` accepts to ``random.Random`` and copies its state), so there is exactly one
definition of how a seed becomes a state.
"""

from __future__ import annotations

import math
import random as _pyrandom

import numpy as np
import numpy.typing as npt

from engine._jit import njit

__all__ = ["STATE_WORDS", "gauss", "getrandbits", "randbelow", "randint", "random", "seed_state",
           "state_from_python", "to_python", "uniform"]

_N = 624
_M = 397
#: Length of the ``mt`` array: 624 words, the word index and the "gauss cached" flag.
STATE_WORDS = _N + 2
_INDEX = _N
_HAS_GAUSS = _N + 1

_MATRIX_A = np.uint64(0x9908B0DF)
_UPPER = np.uint64(0x80000000)
_LOWER = np.uint64(0x7FFFFFFF)
_ONE = np.uint64(1)
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi


@njit(alloc=False)
def _twist(mt):  # type: ignore[no-untyped-def]
    """Regenerate the 624 words (the reference generator's block step)."""
    for kk in range(_N):
        y = (np.uint64(mt[kk]) & _UPPER) | (np.uint64(mt[(kk + 1) % _N]) & _LOWER)
        v = np.uint64(mt[(kk + _M) % _N]) ^ (y >> _ONE)
        if y & _ONE:
            v ^= _MATRIX_A
        mt[kk] = np.uint32(v)


@njit(alloc=False)
def next_u32(mt):  # type: ignore[no-untyped-def]
    """The next tempered 32-bit output, as a uint64 (``genrand_uint32``)."""
    i = np.int64(mt[_INDEX])
    if i >= _N:
        _twist(mt)
        i = np.int64(0)
    y = np.uint64(mt[i])
    mt[_INDEX] = np.uint32(i + 1)
    y ^= y >> np.uint64(11)
    y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
    y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
    y ^= y >> np.uint64(18)
    return y & np.uint64(0xFFFFFFFF)


@njit(alloc=False)
def random(mt):  # type: ignore[no-untyped-def]
    """``random.random()``: a float64 in [0, 1) with 53 random bits."""
    a = float(next_u32(mt) >> np.uint64(5))
    b = float(next_u32(mt) >> np.uint64(6))
    return (a * 67108864.0 + b) * _TWO_M53


@njit(alloc=False)
def getrandbits(mt, k):  # type: ignore[no-untyped-def]
    """``random.getrandbits(k)`` for 0 <= k <= 32 (k = 0 draws nothing)."""
    if k <= 0:
        return 0
    return int(next_u32(mt) >> np.uint64(32 - k))


@njit(alloc=False)
def randbelow(mt, n):  # type: ignore[no-untyped-def]
    """``random._randbelow(n)`` for 1 <= n < 2**32: rejection sampling on ``bit_length(n)`` bits."""
    k = 0
    m = n
    while m > 0:
        k += 1
        m >>= 1
    r = getrandbits(mt, k)
    while r >= n:
        r = getrandbits(mt, k)
    return r


@njit(alloc=False)
def randint(mt, a, b):  # type: ignore[no-untyped-def]
    """``random.randint(a, b)``, both ends included (b >= a)."""
    return a + randbelow(mt, b - a + 1)


@njit(alloc=False)
def uniform(mt, a, b):  # type: ignore[no-untyped-def]
    """``random.uniform(a, b)`` = ``a + (b - a) * random()``."""
    return a + (b - a) * random(mt)


@njit(alloc=False)
def gauss(mt, cache, mu, sigma):  # type: ignore[no-untyped-def]
    """``random.gauss(mu, sigma)``; ``cache`` float64[1] holds the pair's second value."""
    if mt[_HAS_GAUSS] != 0:
        z = cache[0]
        mt[_HAS_GAUSS] = 0
    else:
        x2pi = random(mt) * _TWO_PI
        g2rad = math.sqrt(-2.0 * math.log(1.0 - random(mt)))
        z = math.cos(x2pi) * g2rad
        cache[0] = math.sin(x2pi) * g2rad
        mt[_HAS_GAUSS] = 1
    return mu + z * sigma


def state_from_python(rng: _pyrandom.Random) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]]:
    """``(mt, gauss)`` arrays holding a copy of ``rng``'s state."""
    version, internal, cached = rng.getstate()
    if version != 3 or len(internal) != _N + 1:
        raise ValueError(f"unsupported random.Random state version {version}")
    mt = np.zeros(STATE_WORDS, dtype=np.uint32)
    mt[: _N + 1] = np.array(internal, dtype=np.uint32)
    cache = np.zeros(1)
    if cached is not None:
        mt[_HAS_GAUSS] = 1
        cache[0] = cached
    return mt, cache


def seed_state(seed: int | str | bytes) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]]:
    """The state ``random.seed(seed)`` produces (CPython's own seeding, so it is exactly that)."""
    if isinstance(seed, bool) or not isinstance(seed, int | str | bytes):
        raise ValueError(f"seed must be an int, str or bytes, got {type(seed).__name__}")
    return state_from_python(_pyrandom.Random(seed))


def to_python(mt: npt.NDArray[np.uint32], cache: npt.NDArray[np.float64]) -> _pyrandom.Random:
    """A ``random.Random`` in the state held by ``(mt, gauss)`` (for twins and diagnostics)."""
    if mt.shape != (STATE_WORDS,) or cache.shape != (1,):
        raise ValueError(f"state must be uint32[{STATE_WORDS}] and float64[1]")
    rng = _pyrandom.Random()
    cached = float(cache[0]) if mt[_HAS_GAUSS] else None
    rng.setstate((3, tuple(int(w) for w in mt[: _N + 1]), cached))
    return rng
