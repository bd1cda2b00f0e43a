"""Cumulative training with the real scorer on the small task: improving solutions arrive, each becomes
the next parent, and ``/api/v1/tasks/{id}/progress`` shows the best score rising."""

from __future__ import annotations

import itertools
from typing import Any

from protocol import StratumAck, StratumJob
from protocol.errors import ErrorCode
from scoring import neuraxon as NX
from tests.protocol.server.helpers import SMALL_SPEC, Miner, fetch_parent, run, serving, small_config, wallet


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


def test_parent_refresh_keeps_solutions_against_the_current_parent_valid() -> None:
    """With a refresh interval, a new best does not turn in-flight work stale at once: a second
    improvement over the same parent is accepted too, and the best becomes the parent at the refresh."""
    async def body() -> None:
        config = small_config().replace(parent_refresh_seconds=2.0, job_interval_seconds=60.0)
        async with serving(config) as server, Miner.connect(server.ws_url, "trainer") as miner:
            job = await miner.login()
            nonce, score, counter = find_improvement(job, None, 0)  # first solution: published at once
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).success
            job = await miner.expect(StratumJob)
            assert job.parent is not None and job.parent.score == score
            parent = await fetch_parent(miner.http, server.http_url, job)
            accepted: list[int] = []
            while len(accepted) < 2:  # two improvements over the same parent, both accepted
                nonce, value, counter = find_improvement(job, parent, counter + 1)
                await miner.send(job.submit(nonce, value))
                ack = await miner.expect(StratumAck)
                assert ack.success, ack
                accepted.append(value)
                if len(accepted) == 1:
                    assert "new best network" in ack.message
            progress = await _progress(miner, server.http_url, job.task_id)
            assert progress["BestScore"] == max(accepted)
            # Jobs sent after each submit still name the old parent; the refresh pushes the best.
            refreshed = await miner.expect(StratumJob, timeout=10)
            while refreshed.parent is not None and refreshed.parent.score == score:
                refreshed = await miner.expect(StratumJob, timeout=10)
            assert refreshed.parent is not None and refreshed.parent.score == max(accepted)
            assert refreshed.parent.parent_id == progress["BestNetworkId"]

    run(body())








THRESHOLD = 230  # the task's threshold in the bar test: a root walk reaches it about 1 time in 5


def _solution_rate(job: StratumJob, parent: NX.Parent | None, walks: int, *, fleet: bool = False) -> float:
    """The fraction of ``walks`` walks that are solutions of ``job``: of its identity, or (``fleet``)
    each of another identity — a root network depends on the identity, a parent's walks do not."""
    space = job.nonce_space()
    hits = sum(job.is_solution(NX.score(SMALL_SPEC, wallet(f"fleet-{i}") if fleet else job.identity,
                                        space.nonce(10_000 + i), parent=parent))
               for i in range(walks))
    return hits / walks


def test_parent_bar_keeps_solutions_from_a_parent_as_rare_as_from_the_root() -> None:
    """Walks from a parent keep every step that does not lose, so most of them beat it; with
    ``parent_bar_walks`` the server samples the new parent and raises its jobs' Threshold so that a
    solution is about as rare as on the root — the verifiers are not flooded as training goes on."""
    async def body() -> None:
        config = small_config(threshold=THRESHOLD, calibration_walks=160, parent_bar_walks=160)
        async with serving(config) as server, Miner.connect(server.ws_url, "trainer") as miner:
            root_job = await miner.login()
            root_rate = _solution_rate(root_job, None, 300, fleet=True)
            nonce, score, counter = find_improvement(root_job, None, 0)
            while score >= THRESHOLD + 40:  # a weak first parent: most walks from it improve on it
                nonce, score, counter = find_improvement(root_job, None, counter + 1)
            await miner.send(root_job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).success
            # Submitted while the root is still being sampled: the parent is published (with its bar)
            # once the root's distribution is known; until then jobs stay on the root.
            job = await miner.expect(StratumJob, timeout=30)
            while job.parent is None:
                assert job.threshold == root_job.threshold
                job = await miner.expect(StratumJob, timeout=60)
            assert job.parent.score == score
            assert job.threshold > max(score, root_job.threshold)
            parent = await fetch_parent(miner.http, server.http_url, job)
            bare = job.model_copy(update={"threshold": root_job.threshold})
            bare_rate = _solution_rate(bare, parent, 300)  # any improvement that meets the task's threshold
            bar_rate = _solution_rate(job, parent, 300)
            assert bare_rate > 2.5 * root_rate, (bare_rate, root_rate)
            assert root_rate / 2 <= bar_rate <= root_rate * 1.6, (bar_rate, root_rate)
            # A walk that beats the parent but not the bar is refused, not counted as a solution.
            space, counter = job.nonce_space(), 0
            while True:
                value = NX.score(SMALL_SPEC, job.identity, space.nonce(counter), parent=parent)
                if value > score and not job.is_solution(value):
                    break
                counter += 1
            await miner.send(job.submit(space.nonce(counter), value))
            ack = await miner.expect(StratumAck)
            assert not ack.success and ack.code == ErrorCode.BELOW_THRESHOLD, ack

    run(body())
