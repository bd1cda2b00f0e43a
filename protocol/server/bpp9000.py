"""bpp9000 (algo 1) task entries for the work server.

A bpp9000 task is served by ``TaskUrl`` with ``TaskHash`` (the protocol forbids it inline); the
score also depends on the job's ``RandomSeed`` (the mining seed, whose random2 pool — 512 MiB, about
a second to build — every verifier process builds once and keeps: ``NEURAXON_BPP9000_POOL_DIR`` lets
processes share it through a file). Scoring, the nonce rules and the direction (lower is better)
are the scoring registry's bpp9000 entries:

* :func:`frame_task` — the current version (core v1.305): the document is the versioned task
  document of :mod:`scoring.algorithms.bpp9000_v1305` (it names its version and config), and the
  task trains a chain: the best accepted network becomes the parent that new jobs extend, through
  the generic training path (:mod:`protocol.server.training`), like a Neuraxon task;
* :func:`bpp9000_task` — v1.301: the bare core task file, no parent, no exported network.

The scoring parameters that are not in the task file (window width, tick limit, walk steps) are
qubic/core's production ones unless a task entry says otherwise — which only tests should do,
since the job cannot tell a miner about other values.
"""

from __future__ import annotations

import dataclasses

from protocol.fields import Algo
from protocol.server.tasks import TaskEntry
from scoring.algorithms.bpp9000_v1305 import PRODUCTION_TASK_FILE, FrameSpec
from scoring.bpp9000_frame import PRODUCTION_FRAME_CONFIG, FrameConfig, Rating, rating_score
from scoring.bpp9000_task import PRODUCTION_CONFIG, Bpp9000Config, Bpp9000Spec
from scoring.ids import k12_hex

__all__ = ["DEMO_FRAME_ERROR", "DEMO_SEED", "bpp9000_task", "demo_frame_task", "frame_task"]

#: The embedded demo's mining seed (qubic/core's ``gt_production.csv`` seed) and its bar: a solo
#: walk with at most this many errors in frame 0 is a solution (core's floor is 302; 22 of core's
#: 48 golden solo walks on this seed, 306-466 errors, reach 400). Chain steps must also beat the parent.
DEMO_SEED = "61ce2e50880c09fb7f46b5148996e7f85f5956de2a8efbc9b211e2e8de32046e"
DEMO_FRAME_ERROR = 400


def _seed_hex(seed: str) -> str:
    raw_seed = bytes.fromhex(seed)
    if len(raw_seed) != 32 or not any(raw_seed):
        raise ValueError("a bpp9000 mining seed is 32 bytes, not all zero (all zero means idle)")
    return raw_seed.hex()


def frame_task(data: bytes, *, seed: str, threshold: int | None = None,
               config: FrameConfig = PRODUCTION_FRAME_CONFIG, name: str = "bpp9000",
               training: bool = True) -> TaskEntry:
    """A current-bpp9000 (v1.305) task entry from core task-file bytes under ``config``
    (``TaskError`` when they do not fit). ``threshold`` is a wire score (lower is better; default
    core's frame-0 floor); ``training`` runs the chain (new best network = the jobs' next parent)."""
    spec = FrameSpec.of(data, config)
    document = spec.document()
    return TaskEntry(
        task_id=k12_hex(document),
        algo=Algo.BPP9000,
        name=name,
        threshold=config.threshold_score() if threshold is None else threshold,
        document=document,
        content_type="application/json",
        inline=None,
        training=training,
        payload=spec,
        seed=_seed_hex(seed),
    )


def demo_frame_task(*, max_error: int = DEMO_FRAME_ERROR) -> TaskEntry:
    """The embedded demo's current-bpp9000 task: the production task and config, solutions at
    ``max_error`` errors in frame 0 or any advance, chain training on."""
    return frame_task(PRODUCTION_TASK_FILE.read_bytes(), seed=DEMO_SEED, name="bpp9000-demo",
                      threshold=rating_score(Rating(max_error, 0)))


def bpp9000_task(data: bytes, *, seed: str, threshold: int | None = None,
                 config: Bpp9000Config = PRODUCTION_CONFIG, name: str = "bpp9000") -> TaskEntry:
    """A bpp9000 task entry from task-file bytes (hashes checked; ``TaskFileError`` otherwise).

    ``seed`` is the mining seed (64 hex digits, not all zero: that would mean idle) that jobs carry
    as ``RandomSeed``; ``threshold`` defaults to the config's.
    """
    seed = _seed_hex(seed)
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
        seed=seed,
    )
