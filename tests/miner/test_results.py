"""Results: journaled before sending, one verdict each, stale kept apart from rejected, resent after loss."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from miner.journal import Journal
from miner.metrics import MinerMetrics
from miner.results import ResultSubmitter, SubmitPolicy, classify_ack, work_key
from miner.sources.connection import ServerConnection, SessionLostError
from miner.stats import MinerStats
from miner.workers import FoundResult
from protocol.errors import ErrorCode
from protocol.messages import StratumAck, StratumJob
from tests.miner.fakes import FakeConnection, make_job

URL = "ws://fake:1/ws"


def _found(job: StratumJob, n: int, session: int) -> FoundResult:
    return FoundResult(uuid.uuid4().hex, job, URL, work_key(URL, job), n.to_bytes(32, "big"), 300 + n, "solution",
                       time.time(), 1, session)


class Harness:
    def __init__(self, tmp_path: Path, policy: SubmitPolicy | None = None) -> None:
        self.journal = Journal(tmp_path / "journal.jsonl")
        self.restored = self.journal.open()
        self.stats = MinerStats(threads=1, algos=["neuraxon"], worker="w", embedded=False)
        self.conn: ServerConnection | None = None
        self.peer: ServerConnection | None = None  # a session with another server (a front-end of some pool)
        self.submitter = ResultSubmitter(
            self.journal, self.stats, MinerMetrics(self.stats, process_collectors=False),
            lambda url: self.conn if self.conn and self.conn.endpoint.url == url else None,
            policy or SubmitPolicy(retry_initial=0.01, retry_max=0.02, resend_after=0.2),
            pool_connection=lambda pool: self.peer if self.peer and self.peer.latest_job.pool_id == pool else None)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self.submitter.restore(self.restored)
        self.task = asyncio.get_running_loop().create_task(self.submitter.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.journal.close()

    async def settle(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.submitter.pending:
            assert time.monotonic() < deadline, f"still pending: {list(self.submitter.pending)}"
            self.submitter.wake()
            await asyncio.sleep(0.01)

    def verdicts(self) -> dict[str, int]:
        return {v: self.stats.count(v) for v in ("accepted", "rejected", "stale", "error")}


@pytest.mark.parametrize(("code", "sent_before", "outcome"), [
    (ErrorCode.STALE_JOB, False, "stale"), (ErrorCode.WRONG_EPOCH, False, "stale"),
    (ErrorCode.DUPLICATE, True, "accepted"), (ErrorCode.DUPLICATE, False, "rejected"),
    (ErrorCode.SCORE_MISMATCH, False, "rejected"), (ErrorCode.PARENT_NOT_BEATEN, False, "rejected"),
    (ErrorCode.INVALID_FIELD, False, "error"), (ErrorCode.SERVER_BUSY, False, "retry"),
    (ErrorCode.RATE_LIMITED, False, "retry"), (ErrorCode.INTERNAL, False, "retry"),
    (ErrorCode.LOGIN_REQUIRED, False, "reconnect"), (ErrorCode.SHUTTING_DOWN, True, "reconnect"),
])
def test_classification(code: ErrorCode, sent_before: bool, outcome: str) -> None:
    assert classify_ack(StratumAck.rejected(code, "x"), sent_before=sent_before) == outcome
    assert classify_ack(StratumAck.accepted(), sent_before=sent_before) == "accepted"


def test_journaled_before_sent_and_removed_after_the_verdict(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path) as h:
            conn = h.conn = FakeConnection(URL)
            conn.hold = asyncio.Event()
            await h.submitter.add(_found(conn.first_job, 1, conn.serial), conn.serial)
            while not conn.submitted:
                await asyncio.sleep(0.01)
            lines = [json.loads(line) for line in h.journal.path.read_text().splitlines()]
            assert [line["op"] for line in lines] == ["found", "sent"]  # on disk while the submit is out
            conn.hold.set()
            await h.settle()
            assert h.verdicts() == {"accepted": 1, "rejected": 0, "stale": 0, "error": 0}
            assert h.journal.path.read_text() == ""
            assert h.stats.best_score == 301

    asyncio.run(scenario())


def test_a_draining_connection_waits_for_a_send_still_being_journaled(tmp_path: Path) -> None:
    # Returning to the primary drains the backup: a result found on the backup just before, whose "sent"
    # record is still being written, must go out on the backup and get its verdict, not be stranded.
    async def scenario() -> None:
        async with Harness(tmp_path) as h:
            conn = h.conn = FakeConnection(URL)
            writing, release = threading.Event(), threading.Event()
            mark_sent = h.journal.mark_sent

            def slow_mark_sent(result_id: str) -> None:
                writing.set()
                release.wait(5)
                mark_sent(result_id)

            h.journal.mark_sent = slow_mark_sent  # type: ignore[method-assign]
            await h.submitter.add(_found(conn.first_job, 3, conn.serial), conn.serial)
            while not writing.is_set():
                await asyncio.sleep(0.01)
            drain = asyncio.get_running_loop().create_task(conn.drain(5.0))
            await asyncio.sleep(0.1)
            assert not conn.closed  # the send in its journal write holds the connection open
            release.set()
            await h.settle()
            await drain
            assert conn.closed and len(conn.submitted) == 1
            assert h.verdicts() == {"accepted": 1, "rejected": 0, "stale": 0, "error": 0}

    asyncio.run(scenario())


def test_lost_answer_is_resent_on_the_next_session_and_a_duplicate_means_accepted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path) as h:
            first = h.conn = FakeConnection(URL)
            found = _found(first.first_job, 2, first.serial)
            nonce = found.nonce.hex()
            first.answers[nonce] = SessionLostError("closed", "connection dropped mid-submit")
            await h.submitter.add(found, first.serial)
            while not first.submitted:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert len(h.submitter.pending) == 1
            second = FakeConnection(URL, make_job("j.2"))  # same work, new job id
            second.answers[nonce] = StratumAck.rejected(ErrorCode.DUPLICATE, "already submitted")
            h.conn = second
            h.submitter.wake()
            await asyncio.sleep(0.1)
            assert second.submitted == []  # not while the first copy may still be in verification
            await h.settle()
            assert [s.nonce for s in second.submitted] == [nonce]
            assert second.submitted[0].job_id == "j.1"  # the job it was found on
            assert h.verdicts()["accepted"] == 1

    asyncio.run(scenario())


def test_busy_while_an_earlier_copy_is_verified_then_duplicate_means_accepted(tmp_path: Path) -> None:
    """A copy resent on a new session while the server still verifies the first one is told SERVER_BUSY;
    once the first is recorded, the next copy hears DUPLICATE: that is our own result, accepted once."""
    async def scenario() -> None:
        async with Harness(tmp_path) as h:
            conn = h.conn = FakeConnection(URL)
            found = _found(conn.first_job, 5, conn.serial)
            nonce = found.nonce.hex()
            conn.answers[nonce] = StratumAck.rejected(ErrorCode.SERVER_BUSY, "this nonce is already being verified")
            await h.submitter.add(found, conn.serial)
            while not conn.submitted:
                await asyncio.sleep(0.01)
            conn.answers[nonce] = StratumAck.rejected(ErrorCode.DUPLICATE, "already accepted")
            await h.settle()
            assert len(conn.submitted) == 2
            assert h.verdicts() == {"accepted": 1, "rejected": 0, "stale": 0, "error": 0}

    asyncio.run(scenario())


def test_first_send_duplicate_is_rejected_and_stale_is_not_rejected(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path) as h:
            conn = h.conn = FakeConnection(URL)
            a, b = _found(conn.first_job, 3, conn.serial), _found(conn.first_job, 4, conn.serial)
            conn.answers[a.nonce.hex()] = StratumAck.rejected(ErrorCode.DUPLICATE, "dup")
            conn.answers[b.nonce.hex()] = StratumAck.rejected(ErrorCode.STALE_JOB, "old")
            await h.submitter.add(a, conn.serial)
            await h.submitter.add(b, conn.serial)
            await h.settle()
            assert h.verdicts() == {"accepted": 0, "rejected": 1, "stale": 1, "error": 0}

    asyncio.run(scenario())


def test_results_of_replaced_work_are_stale_without_sending(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path) as h:
            old_job = make_job("j.1", seed="11" * 32)
            await h.submitter.add(_found(old_job, 5, 99), 99)  # its session is gone
            new = h.conn = FakeConnection(URL, make_job("j.9", seed="22" * 32))  # the work changed
            h.submitter.wake()
            await h.settle()
            assert new.submitted == []
            assert h.verdicts()["stale"] == 1

    asyncio.run(scenario())


def test_busy_server_is_retried_then_given_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path, SubmitPolicy(attempts=3, retry_initial=0.01, retry_max=0.02,
                                                  resend_after=0.2)) as h:
            conn = h.conn = FakeConnection(URL)
            found = _found(conn.first_job, 6, conn.serial)
            conn.answers[found.nonce.hex()] = StratumAck.rejected(ErrorCode.SERVER_BUSY, "busy")
            await h.submitter.add(found, conn.serial)
            await h.settle()
            assert len(conn.submitted) == 3
            assert h.verdicts()["error"] == 1

    asyncio.run(scenario())


def test_restart_resubmits_current_work_and_stales_the_rest(tmp_path: Path) -> None:
    async def first_run() -> tuple[str, str]:
        async with Harness(tmp_path) as h:  # no connection: both results stay in the journal
            current, old = make_job("j.1", seed="11" * 32), make_job("j.0", seed="00" * 31 + "01")
            a, b = _found(current, 7, 1), _found(old, 8, 1)
            await h.submitter.add(a, 1)
            await h.submitter.add(b, 1)
            return a.nonce.hex(), b.nonce.hex()

    async def second_run(current_nonce: str) -> None:
        async with Harness(tmp_path) as h:
            assert len(h.restored) == 2
            conn = h.conn = FakeConnection(URL, make_job("j.5", seed="11" * 32))
            h.submitter.wake()
            await h.settle()
            assert [s.nonce for s in conn.submitted] == [current_nonce]
            assert h.verdicts() == {"accepted": 1, "rejected": 0, "stale": 1, "error": 0}
            assert h.stats.resubmitted == 1

    current_nonce, _ = asyncio.run(first_run())
    asyncio.run(second_run(current_nonce))


def test_a_result_whose_server_died_is_settled_by_another_front_end_of_its_pool(tmp_path: Path) -> None:
    other = "ws://front-end-b:1/ws"

    async def scenario() -> None:
        async with Harness(tmp_path, SubmitPolicy(resend_after=0.2)) as h:
            a = h.conn = FakeConnection(URL, make_job(pool_id="pool-1"))
            sent = _found(a.first_job, 1, a.serial)
            a.answers[sent.nonce.hex()] = SessionLostError("closed", "the front-end died mid-submit")
            busy = _found(a.first_job, 3, a.serial)  # answered "busy": A holds no copy and would verify it
            a.answers[busy.nonce.hex()] = StratumAck.rejected(ErrorCode.SERVER_BUSY, "queue full")
            await h.submitter.add(sent, a.serial)
            await h.submitter.add(busy, a.serial)
            while len(a.submitted) < 2 or h.submitter.pending[busy.result_id].retries == 0:
                await asyncio.sleep(0.01)
            h.conn = None  # gone: the miner failed over
            unsent = _found(a.first_job, 2, a.serial)  # found on its job, never sent
            await h.submitter.add(unsent, a.serial)
            # A server of another pool does not see either.
            h.peer = FakeConnection(other, make_job("b.1", pool_id="pool-2"))
            await asyncio.sleep(0.5)
            assert h.peer.submitted == [] and len(h.submitter.pending) == 3
            # A front-end of the same pool settles the one sent (from the shared ledger: it was recorded)...
            b = h.peer = FakeConnection(other, make_job("b.1", pool_id="pool-1"))
            b.answers[sent.nonce.hex()] = StratumAck.rejected(ErrorCode.DUPLICATE, "already accepted for this job")
            while h.verdicts()["accepted"] == 0:
                h.submitter.wake()
                await asyncio.sleep(0.01)
            assert [(s.job_id, s.nonce) for s in b.submitted] == [("j.1", sent.nonce.hex())]  # A's job id
            # ...and leaves to their own server the one never sent (it cannot be recorded, and A may still take
            # it) and the one A answered "busy".
            await asyncio.sleep(1.5)
            assert set(h.submitter.pending) == {unsent.result_id, busy.result_id} and len(b.submitted) == 1

    asyncio.run(scenario())


def test_a_reconnect_of_a_moment_does_not_make_an_older_result_stale(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path, SubmitPolicy(stale_after=0.5)) as h:
            job = make_job()
            old = dataclasses.replace(_found(job, 4, 1), found_at=time.time() - 60)  # found long ago: slow server
            await h.submitter.add(old, 1)  # ... and its session dropped: the miner is reconnecting
            await asyncio.sleep(0.2)
            h.conn = FakeConnection(URL, job)  # back within the limit
            await h.settle()
            assert h.verdicts() == {"accepted": 1, "rejected": 0, "stale": 0, "error": 0}

    asyncio.run(scenario())


def test_unreachable_server_makes_results_stale_after_the_limit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Harness(tmp_path, SubmitPolicy(stale_after=0.2)) as h:
            job = make_job()
            await h.submitter.add(_found(job, 9, 1), 1)
            await asyncio.sleep(0.1)
            assert len(h.submitter.pending) == 1
            await h.settle(timeout=3)
            assert h.verdicts()["stale"] == 1

    asyncio.run(scenario())
