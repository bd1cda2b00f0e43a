"""The one place that defines numba JIT flags for every kernel of the project.

Scores must be bit-reproducible on every machine, so no kernel uses ``fastmath`` (which allows
reassociation and flush-to-zero) and no kernel does a parallel reduction inside one score.
``nogil`` lets worker threads run kernels concurrently; ``cache`` keeps compiled code on disk
(see :func:`cache_dir`) so that a restart does not pay the JIT again.

A kernel that allocates nothing and returns no array is declared ``@njit(alloc=False)``: it is
compiled without numba's reference-counting runtime (NRT). With the runtime, every call of a
kernel increments and decrements the reference count of each array it is passed (an atomic
read-modify-write through a call that LLVM may not inline), which numba's pruning pass leaves in
place whenever a kernel branches. For ``foraging.lifetime``, which calls ``step_once`` (26 arrays)
and the world's kernels every tick, that was a quarter of a Neuraxon score. Without the runtime
such a kernel cannot allocate (numba refuses to compile it), and it must not return an array: the
caller would release a reference it was never given (``tests/scoring/test_kernel_flags.py`` checks every
``alloc=False`` kernel's compiled return types).

Importing an engine module touches no file: a cached kernel gets a deferred cache that finds (and
creates) its directory when the kernel is first compiled or loaded, i.e. on its first call.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numba
from numba.core.caching import FunctionCache, NullCache

__all__ = ["JIT_FLAGS", "cache_dir", "njit"]


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


def _make_cache_dir() -> str:
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


_cache_dir: str | None = None
_cache_dir_lock = threading.Lock()


def cache_dir() -> str:
    """Where compiled kernels are cached: ``$NUMBA_CACHE_DIR`` (default ``~/.cache/neuraxon-miner/numba``)
    plus a digest of the engine's sources. Computed (and created) on first use, then fixed for the process."""
    global _cache_dir  # noqa: PLW0603 - one value per process, set once under the lock
    with _cache_dir_lock:
        if _cache_dir is None:
            _cache_dir = _make_cache_dir()
            setattr(numba.config, "CACHE_DIR", _cache_dir)  # noqa: B010 - config attributes are dynamic
        return _cache_dir


class _DeferredCache(NullCache):
    """numba's on-disk cache of one kernel, created at the kernel's first compile or load.

    numba's own ``cache=True`` locates (stats, creates) the cache directory when the decorator
    runs, i.e. at import; this stand-in defers that, and the digest of the sources, to first use.
    """

    def __init__(self, py_func: Any) -> None:
        self._py_func = py_func
        self._real: Any = None
        self._lock = threading.Lock()

    def _cache(self) -> Any:
        with self._lock:
            if self._real is None:
                cache_dir()  # numba's locator reads numba.config.CACHE_DIR
                self._real = FunctionCache(self._py_func)
            return self._real

    @property
    def cache_path(self) -> str:
        return str(self._cache().cache_path)

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        return self._cache().load_overload(sig, target_context)

    def save_overload(self, sig: Any, data: Any) -> None:
        self._cache().save_overload(sig, data)

    def enable(self) -> None:
        self._cache().enable()

    def disable(self) -> None:
        self._cache().disable()

    def flush(self) -> None:
        self._cache().flush()


#: Flags for every kernel (``cache`` is applied through the deferred cache above).
JIT_FLAGS: dict[str, Any] = {"nogil": True, "cache": True, "fastmath": False}


def njit(*args: Any, alloc: bool = True, **overrides: Any) -> Any:
    """``numba.njit`` with the project's flags; usable bare (``@njit``) or with overrides (``@njit(cache=False)``).

    ``alloc=False``: the kernel allocates nothing and returns no array, so it is compiled without
    reference counting (see the module docstring).
    """
    flags = {**JIT_FLAGS, **overrides}
    cache = flags.pop("cache")
    if not alloc:
        flags["_nrt"] = False

    def decorate(func: Any) -> Any:
        dispatcher = numba.njit(**flags)(func)
        if cache:
            # Dispatcher.enable_caching() would build numba's cache now; this is the same slot, deferred.
            dispatcher._cache = _DeferredCache(dispatcher.py_func)
        return dispatcher

    if args and callable(args[0]) and len(args) == 1:
        return decorate(args[0])
    if args:
        raise TypeError("njit takes no signatures: kernels compile lazily for the types they are called with")
    return decorate
