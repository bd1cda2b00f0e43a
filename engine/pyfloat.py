"""Python's float semantics in numba, where a port must match CPython operation for operation.

* ``py_min(a, b)`` / ``py_max(a, b)``: Python's two-argument ``min``/``max``: the first argument is
  kept unless the second compares strictly smaller/greater (so ties, signed zeros and NaN resolve
  as in CPython, which LLVM's minnum/maxnum do not promise);
* ``py_mod(x, m)``: float ``x % m`` (the remainder takes the sign of ``m``);
* ``round_trit(x)``: ``int(max(-1, min(1, round(x))))`` with round-half-to-even.
"""

from __future__ import annotations

import math

import numpy as np

from engine._jit import njit

__all__ = ["py_max", "py_min", "py_mod", "round_trit"]


@njit(alloc=False)
def py_min(a, b):  # type: ignore[no-untyped-def]
    """Python's ``min(a, b)`` (the first argument wins ties and NaN comparisons)."""
    return b if b < a else a


@njit(alloc=False)
def py_max(a, b):  # type: ignore[no-untyped-def]
    """Python's ``max(a, b)``."""
    return b if b > a else a


@njit(alloc=False)
def py_mod(x, m):  # type: ignore[no-untyped-def]
    """Python's float ``x % m``: the remainder takes the sign of ``m``."""
    r = np.fmod(x, m)
    if r != 0.0:
        if (m < 0.0) != (r < 0.0):
            r += m
    else:
        r = math.copysign(0.0, m)
    return r


@njit(alloc=False)
def round_trit(x):  # type: ignore[no-untyped-def]
    """``int(max(-1, min(1, round(x))))`` with Python's round-half-to-even."""
    f = math.floor(x)
    frac = x - f
    r = f
    if frac > 0.5 or (frac == 0.5 and np.fmod(f, 2.0) != 0.0):
        r = f + 1.0
    if r >= 1.0:
        return 1
    if r <= -1.0:
        return -1
    return 0
