"""bpp9000 (algo 1) task entries for the work server.

A bpp9000 task is qubic/core's binary task file, served by ``TaskUrl`` with ``TaskHash`` (the
protocol forbids it inline); the score also depends on the job's ``RandomSeed`` (the mining seed,
whose random2 pool — 512 MiB, about a second to build — every verifier process builds once and
keeps: ``NEURAXON_BPP9000_POOL_DIR`` lets processes share it through a file). Scoring, the nonce
rules and the direction (lower is better) are the scoring registry's bpp9000 entry; no network is
exported: cumulative training is a Neuraxon feature here.

The scoring parameters that are not in the task file (window width, tick limit, walk steps) are
qubic/core's production ones unless a task entry says otherwise — which only tests should do,
since the job cannot tell a miner about other values.
"""

from __future__ import annotations

import dataclasses

from protocol.fields import Algo
from protocol.server.tasks import TaskEntry
from scoring.bpp9000_task import PRODUCTION_CONFIG, Bpp9000Config, Bpp9000Spec

__all__ = ["bpp9000_task"]


def bpp9000_task(data: bytes, *, seed: str, threshold: int | None = None,
                 config: Bpp9000Config = PRODUCTION_CONFIG, name: str = "bpp9000") -> TaskEntry:
    """A bpp9000 task entry from task-file bytes (hashes checked; ``TaskFileError`` otherwise).

    ``seed`` is the mining seed (64 hex digits, not all zero: that would mean idle) that jobs carry
    as ``RandomSeed``; ``threshold`` defaults to the config's.
    """
    raw_seed = bytes.fromhex(seed)
    if len(raw_seed) != 32 or not any(raw_seed):
        raise ValueError("a bpp9000 mining seed is 32 bytes, not all zero (all zero means idle)")
    if threshold is not None:
        config = dataclasses.replace(config, threshold=threshold)
    spec = Bpp9000Spec.from_file(data, config)
    return TaskEntry(
        task_id=spec.task_hash,
        algo=Algo.BPP9000,
        name=name,
        threshold=config.threshold,
        document=data,
        content_type="application/octet-stream",
        inline=None,
        training=False,
        payload=spec,
        seed=raw_seed.hex(),
    )
