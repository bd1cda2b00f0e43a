"""Qubic's bpp9000 scorer (algo 1) as of qubic/core v1.301 (``bpp9000-v1301``), bit-exact with core.

A score is a pure function of (mining seed, public key, nonce, task, config):

1. the random2 pool of the seed (:mod:`scoring.bpp9000_pool`, built once per process);
2. the identity's root LUTs: ``random2(K12(public_key), pool)``, one byte per entry, mod 3;
3. the walk's mutation seeds: ``random2(K12(public_key || nonce'), pool)`` as uint64, where
   ``nonce'`` is the nonce with bytes 0..2 (algo, L, K) zeroed;
4. the mutation walk over the task's windows (:mod:`engine.bpp9000`) with
   ``L = clamp(nonce[1], 1, 10)`` LUT entries rewritten per step; the score is the best error
   count (lower is better), or :data:`INVALID_SCORE` (0xFFFFFFFF) when every network of the walk
   timed out in some window.

The network-level nonce rule (:func:`is_canonical_nonce`) is checked by whoever accepts
solutions, not by :func:`score`, exactly as qubic/core's scorer does, so the golden vectors
(random nonces) reproduce.

:class:`Bpp9000Scorer` is the prepared form the registry entry
(:mod:`scoring.algorithms.bpp9000_v1301`) builds once per (mining seed, task, config); its
``score(public_key, nonce)`` runs from any number of threads (the kernels release the GIL; the pool
is shared). :func:`score` and :func:`verify` are conveniences over the entry for scripts and tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engine import bpp9000 as kernels
from engine.keccak import random2
from scoring.bpp9000_pool import PoolCache, get_pool
from scoring.bpp9000_task import (
    PRODUCTION_CONFIG,
    Bpp9000Config,
    Bpp9000Spec,
    Bpp9000Task,
    TaskFileError,
    bytes32,
    encode_task,
    parse_task,
    read_task_file,
    round64,
    synthetic_task,
)
from scoring.ids import k12

__all__ = [
    "ALGO_ID",
    "INVALID_SCORE",
    "MAX_CHANGES_PER_STEP",
    "NAME",
    "PRODUCTION_CONFIG",
    "VERSION",
    "Bpp9000Config",
    "Bpp9000Scorer",
    "Bpp9000Spec",
    "Bpp9000Task",
    "PoolCache",
    "TaskFileError",
    "canonical_nonce",
    "changes_per_step",
    "encode_task",
    "get_pool",
    "is_canonical_nonce",
    "mutation_seeds",
    "parse_task",
    "read_task_file",
    "root_lut",
    "score",
    "synthetic_task",
    "verify",
]

#: Name under which this scorer is selected (the current ``bpp9000`` is :mod:`scoring.bpp9000_frame`),
#: and the qubic/core release it reproduces.
NAME = "bpp9000-v1301"
VERSION = "v1.301"
#: The algorithm id in ``nonce[0]`` (qubic/core ``AlgoType::Bpp9000``).
ALGO_ID = 1
#: Score of a walk whose every network timed out (also Qubic's "invalid score").
INVALID_SCORE = kernels.INFINITE_ERROR
#: Largest L (LUT entries rewritten per step).
MAX_CHANGES_PER_STEP = kernels.MAX_CHANGES_PER_STEP


def changes_per_step(nonce: bytes) -> int:
    """L: ``nonce[1]`` clamped to 1..10."""
    return min(max(nonce[1], 1), MAX_CHANGES_PER_STEP)


def is_canonical_nonce(nonce: bytes) -> bool:
    """Qubic's rule for a bpp9000 submission: algo byte 1, ``1 <= L <= 10``, ``K == 0``."""
    nonce = bytes32(nonce, "nonce")
    return nonce[0] == ALGO_ID and 1 <= nonce[1] <= MAX_CHANGES_PER_STEP and nonce[2] == 0


def canonical_nonce(changes: int, tail: bytes) -> bytes:
    """A canonical nonce ``[1, L, 0] + tail`` (``tail``: the 29 searchable bytes)."""
    if not 1 <= changes <= MAX_CHANGES_PER_STEP or len(tail) != 29:
        raise ValueError("need 1 <= changes <= 10 and a 29-byte tail")
    return bytes([ALGO_ID, changes, 0]) + bytes(tail)


def root_lut(pool: npt.NDArray[np.uint8], public_key: bytes, population: int) -> npt.NDArray[np.uint8]:
    """The identity's root network: uint8[P, 27] trits from ``random2(K12(public_key))``."""
    entries = population * kernels.LUT_SIZE
    raw = random2(k12(bytes32(public_key, "public key")), pool, round64(entries))
    return (raw[:entries] % 3).astype(np.uint8).reshape(population, kernels.LUT_SIZE)


def mutation_seeds(pool: npt.NDArray[np.uint8], public_key: bytes, nonce: bytes, steps: int) -> npt.NDArray[np.uint64]:
    """The walk's seeds: uint64[>= steps*10], step s uses ``[s*10, s*10 + L)``."""
    search = bytearray(bytes32(public_key, "public key") + bytes32(nonce, "nonce"))
    search[32:35] = b"\x00\x00\x00"
    raw = random2(k12(bytes(search)), pool, round64(steps * MAX_CHANGES_PER_STEP * 8))
    return raw.view("<u8").astype(np.uint64)


class Bpp9000Scorer:
    """Pool, task and config prepared once; scores many (public key, nonce) pairs.

    ``task`` is sub-viewed to the config's sequence length (its first T rows, as qubic/core's
    tests do). ``kernel``: ``"sliced"`` (fast) or ``"per_window"`` (the straightforward
    baseline); ``words``: 64-window words of lanes of the sliced kernel (a multiple of 8);
    ``tail_lanes``: windows still running at the end when the rest finish in scalar code. Instances
    are immutable after construction and safe to share between threads.
    """

    def __init__(self, pool: npt.NDArray[np.uint8], task: Bpp9000Task, config: Bpp9000Config,
                 *, kernel: str = "sliced", words: int = 8, tail_lanes: int = 8) -> None:
        task.check_config(config)
        if kernel not in ("sliced", "per_window"):
            raise ValueError(f"unknown kernel {kernel!r}")
        if words < 8 or words % 8:
            raise ValueError(f"words must be a positive multiple of 8, got {words}")
        if kernel == "sliced" and config.inputs > kernels.MAX_SLICED_INPUTS:
            kernel = "per_window"
        self.pool = pool
        self.task = task.head(config.sequence_length)
        self.config = config
        self.kernel = kernel
        self.words = int(words)
        self.tail_lanes = int(tail_lanes)
        t = self.task
        p = config.population
        is_input = np.zeros(p, dtype=bool)
        is_input[t.input_indices] = True
        self._nbr = np.ascontiguousarray(t.neighbor_indices, dtype=np.int32)
        self._updated = np.flatnonzero(~is_input).astype(np.int32)
        self._input_idx = np.ascontiguousarray(t.input_indices, dtype=np.int32)
        self._signal = int(t.signal_index)
        self._output = int(t.output_indices[0])
        self._inputs = np.ascontiguousarray(t.inputs, dtype=np.uint8)
        self._targets = np.ascontiguousarray(t.outputs[:, 0], dtype=np.uint8)
        self._cone = kernels.network_cone(self._nbr, is_input, self._signal, self._output)
        self._cone_pos = np.full(p, -1, dtype=np.int32)
        self._cone_pos[self._cone] = np.arange(self._cone.size, dtype=np.int32)
        read = set(self._nbr[self._cone].reshape(-1).tolist())
        self._cone_inputs = np.array([k for k, n in enumerate(self._input_idx) if int(n) in read], dtype=np.int32)
        self._rowcode = kernels.row_codes(self._inputs) if kernel == "sliced" else np.zeros(1, np.uint64)

    @property
    def cone_size(self) -> int:
        """Updated neurons that can influence the score (the rest are never simulated)."""
        return int(self._cone.size)

    def walk(self, lut: npt.NDArray[np.uint8], seeds: npt.NDArray[np.uint64], changes: int) -> int:
        """Run the walk from ``lut`` (uint8[P, 27], modified in place); return the score."""
        c = self.config
        if self.kernel == "per_window":
            best = kernels.walk_per_window(
                lut, seeds, changes, c.mutations, self._nbr, self._updated, self._input_idx,
                self._signal, self._output, self._inputs, self._targets, c.window_width, c.max_ticks)
        else:
            best = kernels.walk_sliced(
                lut, seeds, changes, c.mutations, self._nbr, self._updated, self._cone, self._cone_pos,
                self._input_idx, self._cone_inputs, self._signal, self._output, self._inputs,
                self._targets, self._rowcode, c.window_width, c.max_ticks, self.words, self.tail_lanes)
        return int(best)

    def errors(self, lut: npt.NDArray[np.uint8]) -> int:
        """Error count of one network (uint8[P, 27]) over all windows, INVALID_SCORE on timeout."""
        c = self.config
        lut = np.ascontiguousarray(lut, dtype=np.uint8)
        if self.kernel == "per_window":
            return int(kernels.errors_per_window(
                lut, self._nbr, self._updated, self._input_idx, self._signal, self._output,
                self._inputs, self._targets, c.window_width, c.max_ticks))
        return int(kernels.errors_sliced(
            lut, self._nbr, self._cone, self._input_idx, self._cone_inputs, self._signal, self._output,
            self._inputs, self._targets, self._rowcode, c.window_width, c.max_ticks, self.words,
            self.tail_lanes))

    def score(self, public_key: bytes, nonce: bytes) -> int:
        """The bpp9000 score of (public key, nonce): best error count, or INVALID_SCORE."""
        return self.walk(*self.walk_inputs(public_key, nonce))

    def walk_inputs(self, public_key: bytes, nonce: bytes) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint64], int]:
        """What the walk of (public key, nonce) starts from: (root LUT uint8[P, 27], mutation seeds
        uint64[>= S*10], L)."""
        nonce = bytes32(nonce, "nonce")
        lut = root_lut(self.pool, public_key, self.config.population)
        return lut, mutation_seeds(self.pool, public_key, nonce, self.config.mutations), changes_per_step(nonce)

    def device_arrays(self) -> dict[str, Any]:
        """The task's wiring and sequence as the kernels take them (see :mod:`engine._bpp9000_window`):
        ``nbr``, ``updated``, ``input_idx``, ``signal``, ``output``, ``inputs``, ``targets``,
        ``window_width``, ``max_ticks``, ``steps``."""
        c = self.config
        return {"nbr": self._nbr, "updated": self._updated, "input_idx": self._input_idx, "signal": self._signal,
                "output": self._output, "inputs": self._inputs, "targets": self._targets,
                "window_width": c.window_width, "max_ticks": c.max_ticks, "steps": c.mutations}

    def verify(self, public_key: bytes, nonce: bytes, claimed: int) -> bool:
        """True iff the recomputed score equals ``claimed``."""
        return self.score(public_key, nonce) == int(claimed)


def score(seed: bytes, public_key: bytes, nonce: bytes, task: Bpp9000Task,
          config: Bpp9000Config = PRODUCTION_CONFIG, *, pool_cache: PoolCache | None = None) -> int:
    """The bpp9000 v1.301 score of (mining seed, public key, nonce) on ``task`` under ``config``.

    Through the registry entry: its prepared scorer is cached per (task, config, seed), on the
    process-wide pool; with ``pool_cache`` the pool comes from that cache instead (uncached scorer).
    """
    from scoring.algorithms.bpp9000_v1301 import ENTRY  # noqa: PLC0415 - the entry imports this module

    spec = Bpp9000Spec.of(task, config)
    prepared = ENTRY.prepare(spec, seed=seed) if pool_cache is None else Bpp9000Scorer(pool_cache.get(seed), task,
                                                                                       config)
    return ENTRY.score(prepared, public_key, nonce)


def verify(seed: bytes, public_key: bytes, nonce: bytes, task: Bpp9000Task, config: Bpp9000Config,
           claimed: int, *, pool_cache: PoolCache | None = None) -> bool:
    """True iff :func:`score` equals ``claimed``."""
    return score(seed, public_key, nonce, task, config, pool_cache=pool_cache) == int(claimed)
