"""The qubic/core v1.305 golden rows in tests/data/qubic-current, and their pool.

The rows use another mining seed than the v1.301 vectors, so their pool lives in its own
:class:`PoolCache` (module-scoped fixtures hold it only while their module runs) instead of
evicting the v1.301 pool from the process-wide cache. The solo rows and the ant rows have
different mining seeds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from miner.commands.frame_vectors import AntRow, SoloRow, read_ant_chains, read_solo_rows
from scoring.bpp9000_frame import PRODUCTION_FRAME_CONFIG, FrameScorer
from scoring.bpp9000_pool import PoolCache
from scoring.bpp9000_task import Bpp9000Task, read_task_file

DATA = Path(__file__).resolve().parent / "data" / "qubic-current"
TASK = DATA / "bpp9000.task"
SOLO_ROWS = DATA / "gt_production_rows.csv"
ANT_ROWS = DATA / "gt_ant_production_rows.csv"


@cache
def solo_rows() -> tuple[SoloRow, ...]:
    return tuple(read_solo_rows(SOLO_ROWS))


@cache
def ant_chains() -> tuple[tuple[AntRow, ...], ...]:
    return tuple(tuple(c) for c in read_ant_chains(ANT_ROWS))


@cache
def task() -> Bpp9000Task:
    return read_task_file(TASK)


def make_scorer(cache: PoolCache, seed: bytes) -> FrameScorer:
    """A production scorer on mining seed ``seed`` (solo and ant rows have one each), pool from ``cache``."""
    return FrameScorer(cache.get(seed), seed, task(), PRODUCTION_FRAME_CONFIG)
