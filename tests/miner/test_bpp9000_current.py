"""The miner daemon on the current bpp9000 (core v1.305): solo solutions, then chain steps that
extend the pool's best network (jobs carry the parent; the miner's submits name it).

The fast test runs the real work server in-process with a small rolling-frame config (the task
document carries it, so the miner scores exactly what the server verifies). The slow one is the
zero-config path: ``neuraxon-miner run --algo bpp9000`` on the embedded default (production task
and config, seconds per walk).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protocol import Algo
from protocol.server import ServerConfig
from protocol.server.bpp9000 import frame_task
from scoring import bpp9000_frame as F
from tests.bpp9000_vectors import TASK, vector_seed
from tests.miner.harness import fast_settings, running_daemon, wait_for
from tests.protocol.server.helpers import ADMIN, serving

SMALL = F.FrameConfig(18, 1, 8760, 12, 3000, 3, 64, 40, 6, 5)


def test_the_miner_mines_a_current_bpp9000_chain(tmp_path: Path) -> None:
    entry = frame_task(TASK.read_bytes(), seed=vector_seed().hex(), config=SMALL,
                       threshold=F.rating_score(F.Rating(9, 0)))
    config = ServerConfig(port=0, tasks=(entry,), verify_workers=1, admin_token=ADMIN, vardiff=False,
                          calibration_walks=0, parent_bar_walks=0, parent_refresh_seconds=0.0)

    async def scenario() -> None:
        async with serving(config) as server:
            task = server.service.tasks[entry.task_id]
            settings = fast_settings(tmp_path, [server.ws_url], bpp9000_changes=3, submit_timeout_seconds=60.0)
            async with running_daemon(settings) as daemon:
                # Two new bests: a solo walk, then a chain step verified from it (or a later one).
                await wait_for(lambda: len(task.history) >= 2, 120, "a chain solution extending the first best")
                job = daemon.stats.job
                assert job is not None and job.job.algo is Algo.BPP9000
            first, later = task.history[0], task.history[-1]
            assert F.rating_from_score(later.score).is_better_than(F.rating_from_score(first.score))
            assert task.best is not None and task.best.network_id == later.network_id

    asyncio.run(scenario())


@pytest.mark.slow
def test_run_algo_bpp9000_gets_an_accepted_solution_on_the_embedded_default(tmp_path: Path) -> None:
    """``--algo bpp9000`` without servers: the embedded work server offers the production v1.305 task."""
    async def scenario() -> None:
        settings = fast_settings(tmp_path, [], algo="bpp9000", threads="2", self_test=True,
                                 submit_timeout_seconds=120.0)
        async with running_daemon(settings) as daemon:
            await wait_for(lambda: daemon.stats.count("accepted") >= 1, 900, "an accepted current-bpp9000 solution")
            assert daemon.embedded is not None
            (served,) = daemon.embedded.service.tasks.values()
            assert served.entry.scoring_entry().name == "bpp9000" and served.entry.training

    asyncio.run(scenario())
