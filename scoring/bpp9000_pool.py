"""The random2 pool, built once per mining seed and shared by every thread of the process.

A pool is 536,871,000 bytes (~512 MiB). :class:`PoolCache` keeps the most recently used pools
(one by default); concurrent callers asking for a seed that is being built wait for that one
build instead of starting their own. With a cache directory (argument or the
``NEURAXON_BPP9000_POOL_DIR`` environment variable) a built pool is also written to
``random2-pool-<seed hex>.bin`` there, atomically (temporary file, fsync, rename), and later
loads check the file's size and both ends of the permutation chain before trusting it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.keccak import POOL_BYTES, STATE_BYTES, build_pool, keccak_p1600_12

__all__ = ["POOL_DIR_ENV", "PoolCache", "default_pool_cache", "get_pool", "pool_file_name"]

#: Environment variable naming a directory for on-disk pools.
POOL_DIR_ENV = "NEURAXON_BPP9000_POOL_DIR"


def pool_file_name(seed: bytes) -> str:
    """File name of the on-disk pool for ``seed``."""
    return f"random2-pool-{bytes(seed).hex()}.bin"


def _looks_right(pool: npt.NDArray[np.uint8], seed: bytes) -> bool:
    # first state = P(seed || 0), last state = P(previous state): catches a wrong seed, a
    # truncated write and a file of another format without recomputing the chain.
    first = np.zeros(STATE_BYTES, dtype=np.uint8)
    first[:32] = np.frombuffer(seed, dtype=np.uint8)
    if not np.array_equal(keccak_p1600_12(first), pool[:STATE_BYTES]):
        return False
    prev = pool[-2 * STATE_BYTES:-STATE_BYTES]
    return bool(np.array_equal(keccak_p1600_12(prev), pool[-STATE_BYTES:]))


class PoolCache:
    """Process-wide pools keyed by mining seed; thread-safe, one build per seed.

    ``max_pools``: how many pools stay in memory (least recently used ones are dropped; callers
    holding a pool keep it alive). ``cache_dir``: default directory for on-disk pools (``None``:
    use ``$NEURAXON_BPP9000_POOL_DIR`` if set, else no disk cache).
    """

    def __init__(self, max_pools: int = 1, cache_dir: str | Path | None = None) -> None:
        if max_pools < 1:
            raise ValueError("max_pools must be at least 1")
        self.max_pools = max_pools
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._pools: OrderedDict[bytes, npt.NDArray[np.uint8]] = OrderedDict()
        self._building: dict[bytes, threading.Lock] = {}
        #: Pools computed (not loaded) by this cache, for tests and metrics.
        self.builds = 0
        #: Pools loaded from disk.
        self.loads = 0
        #: The last error met while writing a pool file (the pool is still returned).
        self.last_write_error: OSError | None = None

    def _directory(self, cache_dir: str | Path | None) -> Path | None:
        chosen = cache_dir if cache_dir is not None else self.cache_dir
        if chosen is None:
            chosen = os.environ.get(POOL_DIR_ENV) or None
        return Path(chosen) if chosen is not None else None

    def get(self, seed: bytes, cache_dir: str | Path | None = None) -> npt.NDArray[np.uint8]:
        """The pool for a 32-byte seed: uint8[POOL_BYTES], read-only, shared by all callers."""
        seed = bytes(seed)
        if len(seed) != 32:
            raise ValueError(f"mining seed must be 32 bytes, got {len(seed)}")
        with self._lock:
            pool = self._pools.get(seed)
            if pool is not None:
                self._pools.move_to_end(seed)
                return pool
            gate = self._building.setdefault(seed, threading.Lock())
        with gate:
            with self._lock:
                pool = self._pools.get(seed)
                if pool is not None:
                    return pool
            pool = self._load_or_build(seed, self._directory(cache_dir))
            pool.flags.writeable = False
            with self._lock:
                self._pools[seed] = pool
                while len(self._pools) > self.max_pools:
                    self._pools.popitem(last=False)
                self._building.pop(seed, None)
            return pool

    def _load_or_build(self, seed: bytes, directory: Path | None) -> npt.NDArray[np.uint8]:
        path = directory / pool_file_name(seed) if directory is not None else None
        if path is not None and path.is_file() and path.stat().st_size == POOL_BYTES:
            try:
                loaded = np.fromfile(path, dtype=np.uint8)
            except OSError:
                loaded = None
            if loaded is not None and loaded.shape == (POOL_BYTES,) and _looks_right(loaded, seed):
                self.loads += 1
                return loaded
        pool = build_pool(seed)
        self.builds += 1
        if path is not None:
            self._write(path, pool)
        return pool

    def _write(self, path: Path, pool: npt.NDArray[np.uint8]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    pool.tofile(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.last_write_error = exc

    def clear(self) -> None:
        """Drop every in-memory pool (pools already handed out stay valid)."""
        with self._lock:
            self._pools.clear()


_DEFAULT = PoolCache()


def default_pool_cache() -> PoolCache:
    """The process-wide cache :func:`get_pool` uses."""
    return _DEFAULT


def get_pool(seed: bytes, cache_dir: str | Path | None = None) -> npt.NDArray[np.uint8]:
    """The process-wide pool for ``seed`` (built at most once; see :class:`PoolCache`)."""
    return _DEFAULT.get(seed, cache_dir)
