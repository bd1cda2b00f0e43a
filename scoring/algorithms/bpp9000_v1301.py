"""Qubic's bpp9000 as of qubic/core v1.301 (algo 1, version ``v1301``, name ``bpp9000-v1301``): the
registry entry over :mod:`scoring.bpp9000`.

Task model: :class:`~scoring.bpp9000_task.Bpp9000Spec` (core's binary task file, served by
``TaskUrl``, plus the scoring config — the production one for any job); prepared form:
:class:`~scoring.bpp9000.Bpp9000Scorer` on the random2 pool of the job's ``RandomSeed`` (512 MiB,
built once per seed and shared). Lower scores are better (error counts); a solution's nonce must
be canonical (``[1, L, 0]`` + 29 bytes, ``1 <= L <= 10``), and the miner searches under the head
``[1, L, 0]`` with its chosen ``changes`` = L. Walks start from the identity's root: no parent, no
exported network.

Known answers: qubic/core's golden scores (``test/data`` at 45f5d6d9) on its example task
(shipped in ``scoring/data``) under the two small configs of its regression file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import ClassVar

from scoring import bpp9000 as B
from scoring.algorithms.cuda_backends import BPP9000_CUDA
from scoring.bpp9000_pool import PoolCache
from scoring.registry import (
    CPU,
    Algorithm,
    Backend,
    BenchCase,
    KnownAnswer,
    Parent,
    ParentError,
    TaskDescription,
    TaskError,
    Walk,
)

__all__ = ["BPP9000_CASES", "BPP9000_CONFIGS", "BPP9000_SEED", "BPP9000_TASK_FILE", "ENTRY", "Bpp9000V1301"]

#: qubic/core's bpp9000 golden vectors: the mining seed, then (public key, nonce, {config: score}).
BPP9000_SEED = "f349f63bd013a7ded83287b1926908d79c2a8e0c6d1819cb0f7e61471dc2ef4d"
BPP9000_CONFIGS = ("18-1-128-32-5000-3-64-10-76", "18-1-512-128-20000-3-64-15-306")
BPP9000_CASES: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("2df80ea78a7fa3940c59f27bf94da2552e9ee220e4700433831d61db4a22d3bb",
     "ff5641eb73b62542df5f62c9bca76af664ff0d899da31c9087d09f3904decca5", (61, 245)),
    ("f052532ae1d5d6e7b82a6746fe4ca62cdd6c739ea4bd19a25a0d02d8c31f5a82",
     "51a234db0d8f905a497b655a49f929e7c38560c310a826b6d11579d88ef93b2e", (60, 239)),
    ("287ec0cfcf54e735920ba054de055ddc7c4a914a4231347516bac17394254d9c",
     "082b4d5a1e755ae26610d42a35d0a86ea5b40df89f7e0f08eaacf16de72589f1", (4294967295, 4294967295)),
)
#: qubic/core's example bpp9000 task file (test/data/example_task_bpp9000.bin).
BPP9000_TASK_FILE = Path(__file__).resolve().parent.parent / "data" / "bpp9000_example_task.bin"


def _production(config: B.Bpp9000Config) -> bool:
    # The threshold is the job's (it does not change a score); everything else must be core's.
    return dataclasses.replace(config, threshold=B.PRODUCTION_CONFIG.threshold) == B.PRODUCTION_CONFIG


class Bpp9000V1301(Algorithm):
    """Algo 1 as of qubic/core v1.301: the mutation walk over the task's windows, error count."""

    name = B.NAME  # "bpp9000-v1301": the current bpp9000 is core v1.305 (scoring.bpp9000_frame)
    algo = 1
    version = "v1301"
    needs_seed = True
    prepare_cache_size = 2  # each prepared scorer keeps its seed's 512 MiB pool alive
    backends: ClassVar[Mapping[str, Backend]] = {"cpu": CPU, "cuda": BPP9000_CUDA}

    def load_task(self, description: TaskDescription) -> B.Bpp9000Spec:
        if not isinstance(description, bytes):
            raise TaskError("a bpp9000 task is core's binary task file (TaskUrl), not an inline object")
        try:
            return B.Bpp9000Spec.from_file(description)
        except ValueError as exc:  # TaskFileError is a ValueError
            raise TaskError(str(exc)) from None

    def describe_task(self, task: B.Bpp9000Spec) -> bytes | None:
        return B.encode_task(task.task) if _production(task.config) else None

    def threshold(self, task: B.Bpp9000Spec) -> int:
        return task.config.threshold

    def task_key(self, task: B.Bpp9000Spec) -> Hashable:
        return task.task_hash, task.config

    def build(self, task: B.Bpp9000Spec, seed: bytes | None, parent: Parent | None, *,
              shared: bool) -> B.Bpp9000Scorer:
        if parent is not None:
            raise ParentError("bpp9000 v1.301 walks start from the identity's root; it takes no parent")
        assert seed is not None  # prepare() checks needs_seed
        try:
            pool = B.get_pool(seed) if shared else PoolCache(max_pools=1).get(seed)
            return B.Bpp9000Scorer(pool, task.task, task.config)
        except ValueError as exc:  # a seed that is not 32 bytes, a task that does not fit its config
            raise TaskError(str(exc)) from None

    def walk(self, prepared: B.Bpp9000Scorer, public_key: bytes, nonce: bytes, *, threads: int = 1) -> Walk:
        return Walk(prepared.score(public_key, nonce))

    def check_nonce(self, nonce: bytes) -> str | None:
        if len(nonce) == 32 and B.is_canonical_nonce(nonce):
            return None
        return "a bpp9000 nonce is [1, L, 0] followed by 29 bytes, with 1 <= L <= 10"

    def sample_nonce(self, raw: bytes) -> bytes:
        return B.canonical_nonce(raw[0] % B.MAX_CHANGES_PER_STEP + 1, raw[3:32])

    def nonce_head(self, choices: Mapping[str, int]) -> bytes:
        changes = choices.get("changes", B.MAX_CHANGES_PER_STEP)
        if not 1 <= changes <= B.MAX_CHANGES_PER_STEP:
            raise ValueError(f"bpp9000 changes per step must be 1..{B.MAX_CHANGES_PER_STEP}, got {changes}")
        return B.canonical_nonce(changes, bytes(29))[:3]

    def known_answers(self) -> list[KnownAnswer]:
        task = B.parse_task(BPP9000_TASK_FILE.read_bytes(), source=str(BPP9000_TASK_FILE))
        seed = bytes.fromhex(BPP9000_SEED)
        out = []
        for column, config_text in enumerate(BPP9000_CONFIGS):
            spec = B.Bpp9000Spec.of(task, B.Bpp9000Config.parse(config_text))
            out += [KnownAnswer(f"bpp9000 {config_text} {nonce[:8]}", spec, bytes.fromhex(key), bytes.fromhex(nonce),
                                scores[column], seed=seed)
                    for key, nonce, scores in BPP9000_CASES]
        return out

    def bench_case(self) -> BenchCase:
        seed = bytes(range(32))
        task = B.synthetic_task(B.get_pool(seed), B.PRODUCTION_CONFIG)
        return BenchCase(B.Bpp9000Spec.of(task), bytes(range(1, 33)), seed)


ENTRY = Bpp9000V1301()
