"""Cumulative training with the real scorer on the small task: improving solutions arrive, each becomes
the next parent, and ``/api/v1/tasks/{id}/progress`` shows the best score rising."""

from __future__ import annotations

import itertools
from typing import Any

from protocol import StratumAck, StratumJob
from scoring import neuraxon as NX
from tests.protocol.server.helpers import SMALL_SPEC, Miner, fetch_parent, run, serving, small_config


async def _progress(miner: Miner, url: str, task_id: str) -> dict[str, Any]:
    async with miner.http.get(f"{url}/api/v1/tasks/{task_id}/progress") as resp:
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result


def test_progress_rises_as_improving_solutions_arrive() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url, "trainer") as miner:
            job = await miner.login()
            url, task_id = server.http_url, job.task_id
            first = await _progress(miner, url, task_id)
            assert first["Points"] == [] and "BestScore" not in first and first["Training"] is True
            seen: list[int] = []
            counter = 0
            while len(seen) < 4:
                parent = await fetch_parent(miner.http, url, job)
                nonce, score, counter = find_improvement(job, parent, counter)
                await miner.send(job.submit(nonce, score))
                ack = await miner.expect(StratumAck)
                assert ack.success and "new best network" in ack.message, ack
                job = await miner.expect(StratumJob)
                assert job.parent is not None and job.parent.score == score  # the improvement is the parent
                progress = await _progress(miner, url, task_id)
                seen.append(progress["BestScore"])
                counter += 1
            points = progress["Points"]
            scores = [p["Score"] for p in points]
            assert scores == seen and all(b > a for a, b in itertools.pairwise(scores))
            assert scores[0] >= SMALL_SPEC.threshold
            assert [p["At"] for p in points] == sorted(p["At"] for p in points)
            assert job.parent is not None
            assert progress["BestNetworkId"] == points[-1]["NetworkId"] == job.parent.parent_id
            assert progress["Solutions"] == 4

    run(body())


def find_improvement(job: StratumJob, parent: NX.Parent | None, start: int) -> tuple[str, int, int]:
    """The first nonce (from ``start``) whose real walk from the job's parent is a solution."""
    space = job.nonce_space()
    for counter in range(start, start + 20_000):
        nonce = space.nonce(counter)
        score = NX.score(SMALL_SPEC, job.identity, nonce, parent=parent)
        if job.is_solution(score):
            return nonce, score, counter
    raise AssertionError("no improvement found")
