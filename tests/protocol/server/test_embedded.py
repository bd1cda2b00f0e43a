"""Embedded mode: the miner's zero-config default, on the real demo task."""

from __future__ import annotations

import json
import random
from pathlib import Path

import aiohttp
import pytest
from Crypto.Hash import KangarooTwelve

from protocol import StratumAck, StratumJob, decode_as
from protocol.server import DEMO_THRESHOLD, start_embedded
from protocol.server.ledger import Ledger
from scoring import neuraxon as NX
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec
from tests.protocol.server.helpers import Miner, run, wallet


def test_embedded_server_serves_the_demo_task_and_a_real_miner_finds_solutions(tmp_path: Path) -> None:
    async def body() -> None:
        async with await start_embedded(tmp_path / "demo.sqlite") as server:
            assert server.ws_url == f"ws://127.0.0.1:{server.port}/ws"
            assert server.http_url == f"http://127.0.0.1:{server.port}"
            async with Miner.connect(server.ws_url, "demo") as miner:
                job = await miner.login()
                assert job.threshold == DEMO_THRESHOLD and job.task_id == DEFAULT_TASK.task_id.hex()
                assert job.task is None and job.task_url is not None and job.task_hash is not None
                async with miner.http.get(server.http_url + job.task_url) as resp:
                    raw = await resp.read()
                assert KangarooTwelve.new(data=raw).read(32).hex() == job.task_hash
                task = TaskSpec.from_dict(json.loads(raw))
                assert task.threshold == DEMO_THRESHOLD and task.task_id == DEFAULT_TASK.task_id
                space, counter = job.nonce_space(), 0
                while True:  # about one walk in twelve qualifies
                    nonce = space.nonce(counter)
                    counter += 1
                    score = NX.score(task, job.identity, nonce)
                    if job.is_solution(score):
                        break
                await miner.send(job.submit(nonce, score))
                assert (await miner.expect(StratumAck)).success
                trained = await miner.expect(StratumJob, timeout=60)
                while trained.parent is None:  # training is on: published once its bar is sampled
                    trained = await miner.expect(StratumJob, timeout=60)
                assert trained.parent.score == score and trained.threshold > score
            async with aiohttp.ClientSession() as http, http.get(
                    server.http_url + "/api/v1/job", headers={"X-Wallet": wallet("pull"), "X-Worker": "p"}) as resp:
                pulled = decode_as(await resp.read(), StratumJob)
                assert pulled.parent == trained.parent and pulled.threshold == trained.threshold
            server.set_idle(True)
            async with Miner.connect(server.ws_url, "late") as late:
                assert (await late.login(access_token=server.login_token, wallet=None)).is_idle
        ledger = Ledger(tmp_path / "demo.sqlite")
        assert [r["nonce"] for r in ledger.accepted("solution")] == [nonce]
        ledger.close()

    run(body(), timeout=120)


@pytest.mark.slow
def test_demo_threshold_admits_about_one_walk_in_ten_to_twenty() -> None:
    # Seeded: the rate is about 1 in 10, so 300 unseeded walks left the band about one run in eight.
    rng = random.Random(1)
    hits = sum(NX.score(DEFAULT_TASK, rng.randbytes(32), rng.randbytes(32)) >= DEMO_THRESHOLD for _ in range(600))
    assert 600 / 20 <= hits <= 600 / 8, hits
