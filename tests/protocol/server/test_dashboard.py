"""The work server's page documents: miners, accounts, the training curve (kept across a restart) and
the best network's replay, whose counts are the scored lifetime's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import foraging as F
from protocol import StratumAck, StratumJob
from protocol.server.dashboard import Dashboard, ReplayDocument
from scoring import neuraxon as NX
from tests.protocol.server.helpers import SMALL_SPEC, Miner, run, serving, small_config
from tests.protocol.server.test_progress import find_improvement


async def _get(miner: Miner, url: str) -> tuple[int, bytes]:
    async with miner.http.get(url) as resp:
        return resp.status, await resp.read()


async def _dashboard(miner: Miner, base: str) -> Dashboard:
    status, body = await _get(miner, base + "/api/v1/dashboard")
    assert status == 200
    return Dashboard.model_validate_json(body, by_alias=True, by_name=False)


def test_dashboard_curve_and_replay_and_the_curve_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    found: dict[str, Any] = {}

    async def first_run() -> None:
        async with serving(small_config(db_path=db)) as server, Miner.connect(server.ws_url, "trainer") as miner:
            base = server.http_url
            for path, kind in (("/", "text/html"), ("/static/pool.js", "text/javascript"),
                               ("/static/chart.js", "text/javascript")):
                async with miner.http.get(base + path) as resp:
                    assert resp.status == 200 and resp.content_type == kind, path
            job = await miner.login()
            empty = await _dashboard(miner, base)
            assert empty.miners == 1 and empty.accounts == [] and empty.tasks[0].points == []
            assert empty.tasks[0].replay_url is None
            assert (await _get(miner, f"{base}/api/v1/tasks/{job.task_id}/replay"))[0] == 404
            nonce, score, _ = find_improvement(job, None, 0)
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).success
            await miner.expect(StratumJob)
            doc = await _dashboard(miner, base)
            (task,) = doc.tasks
            (imp,) = task.points
            assert (imp.score, imp.account, imp.worker) == (score, miner.wallet, "trainer")
            assert task.best_score == score and task.best_network_id == imp.network_id
            (account,) = doc.accounts
            assert (account.account, account.workers, account.solutions) == (miner.wallet, 1, 1)
            assert doc.verifications_total >= 1
            status, body = await _get(miner, base + str(task.replay_url))
            assert status == 200
            replay = ReplayDocument.model_validate_json(body, by_alias=True, by_name=False)
            found.update(score=score, network=imp.network_id, replay=replay, job=job, nonce=nonce,
                         wallet=miner.wallet)

    run(first_run())
    replay: ReplayDocument = found["replay"]
    frames = replay.frames
    assert replay.network_id == found["network"] and replay.score == found["score"]
    assert replay.ticks == len(frames.x) == len(frames.food_left) > 0
    assert replay.food_eaten == sum(e >= 0 for e in frames.eaten)
    assert replay.collisions == sum(frames.collided)
    assert replay.cells_explored == frames.explored[-1]
    assert replay.fitness == sorted(replay.world_fitness)[(len(replay.world_fitness) - 1) // 2]
    assert len(replay.terrain) == replay.height and all(len(row) == replay.width for row in replay.terrain)
    # The replayed network is the one the walk found: its lifetime in that world is the scored one.
    prep = NX.prepare(SMALL_SPEC)
    walk = NX.run_walk(SMALL_SPEC, found["job"].identity, found["nonce"])
    stats = NX.lifetime_stats(prep, walk.genome)[replay.world]
    assert (replay.food_eaten, replay.collisions, replay.ticks) == \
        (stats[F.S_FOOD], stats[F.S_COLLISIONS], stats[F.S_TICKS])

    async def second_run() -> None:
        async with serving(small_config(db_path=db)) as server, Miner.connect(server.ws_url, "viewer") as miner:
            doc = await _dashboard(miner, server.http_url)
            (imp,) = doc.tasks[0].points  # from the ledger: the curve survives the restart
            assert (imp.score, imp.network_id, imp.account) == (found["score"], found["network"], found["wallet"])
            assert imp.worker == "trainer" and doc.accounts[0].solutions == 1

    run(second_run())
