"""The Neuraxon v2 task end to end: the demo server offers it next to the v1 task, a real miner
daemon mines it (self-test, job, walks, submission) and gets solutions accepted, a forged v2 score
is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

from protocol import ErrorCode, StratumAck
from protocol.fields import Algo
from protocol.server import DEMO_THRESHOLD, start_embedded
from protocol.server.tasks import DEMO_THRESHOLD_V2, demo_tasks
from scoring import registry
from scoring.neuraxon_task import DEFAULT_TASK, DEFAULT_TASK_V2
from tests.miner.harness import fast_settings, ledger_accepted, running_daemon, wait_for
from tests.protocol.server.helpers import Miner, run

#: About the median score of the default v2 task's walks for the tests' wallet (40 walks: 120..539, median 158).
WALLET_V2_MEDIAN = 158


def test_the_demo_offers_a_v2_task_next_to_the_v1_one() -> None:
    v1, v2 = demo_tasks(v2=True)
    assert (v1.task_id, v1.threshold, v1.training) == (DEFAULT_TASK.task_id.hex(), DEMO_THRESHOLD, True)
    assert (v2.task_id, v2.threshold) == (DEFAULT_TASK_V2.task_id.hex(), DEMO_THRESHOLD_V2)
    assert v2.inline is not None and v2.inline["model"] == "v2"
    assert v2.scoring_entry().name == "neuraxon-v2" and v1.scoring_entry().name == "neuraxon"
    assert [t.task_id for t in demo_tasks()] == [v1.task_id]


def test_a_real_miner_mines_the_v2_task_and_its_solutions_are_accepted(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"

    async def body() -> None:
        # Sessions are dealt the tasks in turn: the first one gets the second task, v2. The threshold
        # is relaxed to about the median of this wallet's v2 walks (its root network is a weak one).
        tasks = demo_tasks(v2=True, threshold_v2=WALLET_V2_MEDIAN)
        async with await start_embedded(db, tasks=tasks, calibration_walks=0) as server:
            settings = fast_settings(tmp_path, [server.ws_url], self_test=True, submit_timeout_seconds=60.0,
                                     job_timeout_seconds=120.0)
            async with running_daemon(settings) as daemon:
                await wait_for(lambda: daemon.stats.count("accepted") >= 2, 240, "accepted v2 solutions")
                job = daemon.stats.job
                assert job is not None and job.job.algo is Algo.NEURAXON
                assert job.job.task_id == DEFAULT_TASK_V2.task_id.hex()  # its document says "model": "v2"
                assert job.job.threshold == WALLET_V2_MEDIAN
                assert daemon.stats.count("rejected") == 0
        accepted = ledger_accepted(db)
        assert len([k for k, _ in accepted if k == "solution"]) >= 2

    run(body(), timeout=300)


def test_a_forged_v2_score_is_refused(tmp_path: Path) -> None:
    async def body() -> None:
        async with await start_embedded(tasks=demo_tasks(v2=True)[1:], calibration_walks=0) as server, \
                Miner.connect(server.ws_url, "forger") as miner:
            job = await miner.login()
            assert job.task_url is not None
            async with miner.http.get(server.http_url + job.task_url) as resp:
                document = await resp.read()
            entry = registry.resolve(job.algo, document)  # as the miner does: the document names v2
            assert entry.name == "neuraxon-v2"
            nonce = job.nonce_space().nonce(0)
            real = await asyncio.to_thread(entry.score, entry.prepare(entry.load_task(document)), job.public_key,
                                           bytes.fromhex(nonce))
            forged = max(real + 1, job.threshold)  # a solution if it were true
            await miner.send(job.submit(nonce, forged))
            ack = await miner.expect(StratumAck, timeout=120)
            assert not ack.success and ack.code == ErrorCode.SCORE_MISMATCH, ack
            await miner.send(job.submit(nonce, real))
            ack = await miner.expect(StratumAck, timeout=120)
            assert ack.code != ErrorCode.SCORE_MISMATCH, ack

    run(body(), timeout=240)
