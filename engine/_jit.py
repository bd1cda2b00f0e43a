"""The one place that defines numba JIT flags for every kernel of the project.

Scores must be bit-reproducible on every machine, so no kernel uses ``fastmath`` (which allows
reassociation and flush-to-zero) and no kernel does a parallel reduction inside one score.
``nogil`` lets worker threads run kernels concurrently; ``cache`` keeps compiled code on disk
(``NUMBA_CACHE_DIR`` chooses where) so that a restart does not pay the JIT again.
"""

from __future__ import annotations

from typing import Any

import numba

#: Flags for serial kernels (the default for everything).
JIT_FLAGS: dict[str, Any] = {"nogil": True, "cache": True, "fastmath": False}

#: Flags for kernels that ``prange`` over independent items (never inside one score).
PARALLEL_JIT_FLAGS: dict[str, Any] = {**JIT_FLAGS, "parallel": True}


def njit(*args: Any, **overrides: Any) -> Any:
    """``numba.njit`` with the project's flags; usable bare (``@njit``) or with overrides."""
    flags = {**JIT_FLAGS, **overrides}
    if args and callable(args[0]) and len(args) == 1 and not overrides:
        return numba.njit(**flags)(args[0])
    return numba.njit(*args, **flags)


def njit_parallel(*args: Any, **overrides: Any) -> Any:
    """``numba.njit`` with ``parallel=True``, for prange over independent items."""
    flags = {**PARALLEL_JIT_FLAGS, **overrides}
    if args and callable(args[0]) and len(args) == 1 and not overrides:
        return numba.njit(**flags)(args[0])
    return numba.njit(*args, **flags)
