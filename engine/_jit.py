"""The one place that defines numba JIT flags for every kernel of the project.

Scores must be bit-reproducible on every machine, so no kernel uses ``fastmath`` (which allows
reassociation and flush-to-zero) and no kernel does a parallel reduction inside one score.
``nogil`` lets worker threads run kernels concurrently; ``cache`` keeps compiled code on disk
(see :data:`CACHE_DIR`) so that a restart does not pay the JIT again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numba


def _source_digest() -> str:
    """Digest of every engine source file.

    numba's cache only notices changes to the file that defines a cached function, not to the
    kernels it calls in other files, so a stale entry could silently run old code (or compute old
    scores). Keying the cache directory by all engine sources makes any change start afresh.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_STALE_SECONDS = 7 * 86400


def _prune_old(base: str, keep: str) -> None:
    """Remove caches of other engine versions not used for a week (best effort)."""
    now = time.time()
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        if entry.name == keep or len(entry.name) != 16 or not entry.is_dir():
            continue
        try:
            if now - entry.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


def _cache_dir() -> str:
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "neuraxon-miner", "numba")
    digest = _source_digest()
    path = os.path.join(base, digest)
    try:
        os.makedirs(path, exist_ok=True)
        os.utime(path)
    except OSError:
        base = os.path.join(tempfile.gettempdir(), f"neuraxon-miner-numba-{os.getuid()}")
        path = os.path.join(base, digest)
        os.makedirs(path, exist_ok=True)
    _prune_old(base, digest)
    return path


#: Where compiled kernels are cached: ``$NUMBA_CACHE_DIR`` (default ``~/.cache/neuraxon-miner/numba``)
#: plus a digest of the engine's sources. Set before any kernel module applies ``@njit``.
CACHE_DIR = _cache_dir()
setattr(numba.config, "CACHE_DIR", CACHE_DIR)  # noqa: B010 - config attributes are dynamic

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
