"""Algo 1 (bpp9000) behind the :class:`~protocol.server.verify.Verifier` interface.

A bpp9000 task is qubic/core's binary task file, served by ``TaskUrl`` with ``TaskHash`` (the
protocol forbids it inline); the score also depends on the job's ``RandomSeed`` (the mining seed,
whose random2 pool — 512 MiB, about a second to build — every verifier process builds once and
keeps: ``NEURAXON_BPP9000_POOL_DIR`` lets processes share it through a file). Lower scores are
better (error counts); nonces must be canonical (``[1, L, 0]`` + 29 bytes, ``1 <= L <= 10``).
No network is exported: cumulative training is a Neuraxon feature here.

The scoring parameters that are not in the task file (window width, tick limit, walk steps) are
qubic/core's production ones unless a task entry says otherwise — which only tests should do,
since the job cannot tell a miner about other values.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any

from protocol.fields import Algo
from protocol.server.tasks import TaskEntry, k12_hex
from protocol.server.verify import VerificationError, VerifyOutcome, VerifyRequest
from scoring import bpp9000 as sb

__all__ = ["Bpp9000Payload", "Bpp9000Verifier", "bpp9000_task"]


@dataclass(frozen=True)
class Bpp9000Payload:
    """What the verifier needs besides the job: the decoded task, its hash, the scoring config."""

    task: sb.Bpp9000Task
    task_hash: str
    config: sb.Bpp9000Config


def bpp9000_task(data: bytes, *, seed: str, threshold: int | None = None,
                 config: sb.Bpp9000Config = sb.PRODUCTION_CONFIG, name: str = "bpp9000") -> TaskEntry:
    """A bpp9000 task entry from task-file bytes (hashes checked; ``TaskFileError`` otherwise).

    ``seed`` is the mining seed (64 hex digits, not all zero: that would mean idle) that jobs carry
    as ``RandomSeed``; ``threshold`` defaults to the config's.
    """
    task = sb.parse_task(data)
    raw_seed = bytes.fromhex(seed)
    if len(raw_seed) != 32 or not any(raw_seed):
        raise ValueError("a bpp9000 mining seed is 32 bytes, not all zero (all zero means idle)")
    if threshold is not None:
        config = dataclasses.replace(config, threshold=threshold)
    task.check_config(config)
    task_hash = k12_hex(data)
    return TaskEntry(
        task_id=task_hash,
        algo=Algo.BPP9000,
        name=name,
        threshold=config.threshold,
        document=data,
        content_type="application/octet-stream",
        inline=None,
        training=False,
        payload=Bpp9000Payload(task, task_hash, config),
        seed=raw_seed.hex(),
    )


_SCORERS: dict[tuple[str, sb.Bpp9000Config, bytes], sb.Bpp9000Scorer] = {}
_SCORERS_LOCK = threading.Lock()


def _scorer(payload: Bpp9000Payload, seed: bytes) -> sb.Bpp9000Scorer:
    # Keyed by content, not object identity: a process pool receives a fresh payload each time.
    key = (payload.task_hash, payload.config, seed)
    with _SCORERS_LOCK:
        found = _SCORERS.get(key)
    if found is None:
        found = sb.Bpp9000Scorer.for_seed(seed, payload.task, payload.config)
        with _SCORERS_LOCK:
            if len(_SCORERS) >= 4:
                _SCORERS.clear()
            _SCORERS[key] = found
    return found


class Bpp9000Verifier:
    """Algo 1: qubic/core's bpp9000 score (lower is better), canonical nonces only."""

    @property
    def algo(self) -> Algo:
        return Algo.BPP9000

    def check_nonce(self, nonce: bytes) -> str | None:
        if len(nonce) == 32 and sb.is_canonical_nonce(nonce):
            return None
        return "a bpp9000 nonce is [1, L, 0] followed by 29 bytes, with 1 <= L <= 10"

    def sample_nonce(self, raw: bytes) -> bytes:
        return sb.canonical_nonce(raw[0] % sb.MAX_CHANGES_PER_STEP + 1, raw[3:32])

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        started = time.perf_counter()
        payload: Any = request.task
        if not isinstance(payload, Bpp9000Payload) or request.seed is None:
            raise VerificationError("a bpp9000 verification needs its task payload and mining seed")
        score = _scorer(payload, request.seed).score(request.public_key, request.nonce)
        return VerifyOutcome(score, None, time.perf_counter() - started)
