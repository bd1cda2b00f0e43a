"""The qubic/core bpp9000 golden vectors in tests/data/qubic-bpp9000, and the one shared pool.

``vector_pool()`` returns the random2 pool of the vectors' mining seed through the process-wide
cache of :mod:`scoring.bpp9000_pool`, so a test session builds it (512 MiB, ~1 s) once however
many tests ask; tests that need other seeds use their own ``PoolCache`` so it is not evicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA = Path(__file__).resolve().parent / "data" / "qubic-bpp9000"
TASK = DATA / "example_task_bpp9000.bin"
SAMPLES = DATA / "samples_bpp9000_part1.csv"
SCORES = DATA / "scores_bpp9000_part1.csv"


@dataclass(frozen=True)
class Row:
    index: int
    seed: bytes
    public_key: bytes
    nonce: bytes
    scores: tuple[int, ...]


@cache
def rows() -> tuple[Row, ...]:
    samples = SAMPLES.read_text().splitlines()[1:]
    scores = SCORES.read_text().splitlines()[1:]
    out = []
    for i, (s, e) in enumerate(zip(samples, scores, strict=True)):
        seed, key, nonce = (bytes.fromhex(c.strip()) for c in s.split(","))
        out.append(Row(i, seed, key, nonce, tuple(int(c) for c in e.split(","))))
    return tuple(out)


@cache
def config_texts() -> tuple[str, ...]:
    return tuple(c.strip() for c in SCORES.read_text().splitlines()[0].split(","))


def vector_seed() -> bytes:
    return rows()[0].seed


def vector_pool() -> npt.NDArray[np.uint8]:
    from scoring.bpp9000 import get_pool

    return get_pool(vector_seed())
