"""The miner and the work server compute the same integer for the same (task, identity, nonce).

Miner path: the job as a server sends it, prepared by the miner's :class:`~miner.scorers.Scorer` and
scored through ``PreparedWork.score_batch`` as a worker thread scores it. Server path: the task entry
the server serves, its verifier (``verifier_for``), and a ``VerifyRequest`` built as the work service
builds it, run on a real ``VerificationPool``. Both algorithms, with and without a parent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from miner.scorers import JobInputs, Scorer
from protocol.identity import identity_from_public_key
from protocol.messages import JobParent, StratumJob
from protocol.server.bpp9000 import bpp9000_task
from protocol.server.tasks import TaskEntry, neuraxon_task
from protocol.server.verify import VerificationPool, VerifyOutcome, VerifyRequest, verifier_for
from scoring import bpp9000 as sb
from scoring import neuraxon as NX
from scoring import registry
from scoring.ids import k12
from scoring.neuraxon_task import TaskSpec
from tests.bpp9000_vectors import TASK as BPP9000_TASK
from tests.bpp9000_vectors import vector_seed

SMALL = TaskSpec.from_dict(json.loads((Path(__file__).resolve().parent / "data" / "neuraxon-task" /
                                       "small.json").read_text()))


def _job(entry: TaskEntry, public_key: bytes, seed: bytes, parent: JobParent | None = None) -> StratumJob:
    return StratumJob(job_id="j1", epoch=1, algo=entry.algo, random_seed=seed.hex(),
                      identity=identity_from_public_key(public_key), task_id=entry.task_id, task=entry.inline,
                      task_url=None if entry.inline is not None else entry.url,
                      task_hash=None if entry.inline is not None else entry.task_hash,
                      threshold=entry.threshold, parent=parent, nonce_prefix="")


def _miner(entry: TaskEntry, job: StratumJob, nonces: list[bytes], network: dict[str, Any] | None) -> list[int]:
    inputs = JobInputs(job, None if entry.inline is not None else entry.document, network)
    work = Scorer(job.algo).prepare(inputs)
    return [work.score_batch([nonce])[0] for nonce in nonces]


def _server(entry: TaskEntry, job: StratumJob, nonces: list[bytes],
            network: dict[str, Any] | None) -> list[VerifyOutcome]:
    async def body() -> list[VerifyOutcome]:
        pool = VerificationPool(1)
        try:
            verifier = verifier_for(entry)
            return [await pool.run(verifier, VerifyRequest(entry.payload, job.public_key, nonce, job, network,
                                                           bytes.fromhex(job.random_seed)))
                    for nonce in nonces]
        finally:
            pool.close()

    return asyncio.run(body())


@pytest.mark.parametrize("with_parent", [False, True])
def test_neuraxon_miner_and_server_agree(with_parent: bool) -> None:
    entry = neuraxon_task(SMALL, threshold=0)
    public_key = k12(b"agree identity")
    nonces = [k12(b"agree nonce", bytes([i])) for i in range(4)]
    parent, network = None, None
    if with_parent:
        walk = NX.run_walk(SMALL, k12(b"parent identity"), bytes(32))
        network = NX.export_network(NX.prepare(SMALL), walk.genome)
        parent = JobParent(parent_id=registry.Parent(network, walk.score).id, score=walk.score - 1000,
                           network=network)
        # the job claims a wrong parent score: both paths must refuse it, not score from it
        job = _job(entry, public_key, bytes([7]) * 32, parent)
        with pytest.raises(Exception, match="claimed"):
            _miner(entry, job, nonces[:1], network)
        with pytest.raises(Exception, match="claimed"):
            _server(entry, job, nonces[:1], network)
        parent = JobParent(parent_id=parent.parent_id, score=walk.score, network=network)
    job = _job(entry, public_key, bytes([7]) * 32, parent)
    mined = _miner(entry, job, nonces, network)
    verified = _server(entry, job, nonces, network)
    assert mined == [o.score for o in verified]
    assert mined == [NX.score(SMALL, public_key, n, parent=None if parent is None else
                              registry.Parent(network or {}, parent.score)) for n in nonces]
    assert len(set(mined)) > 1  # the nonces matter: the agreement is not on a constant
    # a solution (every score reaches threshold 0; with a parent it must also beat it) exports the best network
    assert [o.network is not None for o in verified] == [job.is_solution(o.score) for o in verified]
    assert any(o.network is not None for o in verified)
    if parent is not None:
        assert all(score >= parent.score for score in mined)


def test_bpp9000_miner_and_server_agree() -> None:
    entry = bpp9000_task(BPP9000_TASK.read_bytes(), seed=vector_seed().hex())
    public_key = k12(b"agree identity")
    # one nonce: a production-size score takes seconds (a job always means qubic/core's production config)
    nonces = [bytes([1, 3, 0]) + k12(b"agree nonce", bytes([3]))[:29]]
    job = _job(entry, public_key, vector_seed())
    mined = _miner(entry, job, nonces, None)
    verified = _server(entry, job, nonces, None)
    assert mined == [o.score for o in verified]
    assert mined[0] != sb.INVALID_SCORE  # a real error count, not the all-timed-out marker
    assert all(o.network is None for o in verified)  # bpp9000 v1.301 exports no network
    # the job's production config is what the server's entry scores (a job cannot carry another)
    assert entry.payload.config == registry.entry("bpp9000-v1301").load_task(entry.document).config
