"""Worker threads: own part of the nonce space, drop a stale job within one iteration, park when idle."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

import pytest

from miner.journal import WorkKey
from miner.workers import ActiveJob, FoundResult, JobBoard, WorkerFault, WorkerPool
from tests.miner.fakes import HashScorer, HashWork, make_job

KEY = WorkKey("s", 0, 1, "task1", "11" * 32, None, "x")


def _publish(board: JobBoard, scorer: HashScorer, **job_args: object) -> ActiveJob:
    job = make_job(**job_args)  # type: ignore[arg-type]
    work = None if job.is_idle else scorer.work
    return board.publish(lambda g: ActiveJob(g, job, "s", KEY, scorer, work, session=1))


def _wait(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_each_worker_searches_its_own_part_of_the_prefix() -> None:
    board = JobBoard()
    scorer = HashScorer(HashWork(delay=0.001))
    found: list[FoundResult] = []
    pool = WorkerPool(board, 3, found.append)
    _publish(board, scorer, prefix="0a0b0c0d", threshold=200)
    pool.start()
    _wait(lambda: all(n > 20 for n in pool.iterations))
    pool.stop()
    nonces = list(scorer.work.seen)
    assert len(set(nonces)) == len(nonces)  # never the same nonce twice
    assert all(n[:4] == bytes.fromhex("0a0b0c0d") for n in nonces)  # inside the server's prefix
    assert {n[4] for n in nonces} == {0, 1, 2}  # one sub-prefix byte per thread
    assert found and all(r.score >= 200 and r.kind == "solution" and r.session == 1 for r in found)


def test_a_new_generation_replaces_the_job_between_iterations() -> None:
    board = JobBoard()
    work = HashWork(delay=0.0005)
    work.gate = threading.Event()
    scorer = HashScorer(work)
    pool = WorkerPool(board, 1, lambda r: None)
    _publish(board, scorer, prefix="01")
    pool.start()
    _wait(lambda: pool.busy_since[0] is not None)  # iteration on job 1 in progress
    _publish(board, scorer, job_id="j.2", prefix="02")
    work.gate.set()
    # A copy of the list (taken whole, under the GIL): iterating the live list while the worker appends
    # to it may never reach its end.
    _wait(lambda: sum(n[0] == 2 for n in list(work.seen)) >= 5)
    pool.stop()
    old = [n for n in work.seen if n[0] == 1]
    assert len(old) == 1  # the running iteration finished, then the stale job was dropped


def test_idle_job_parks_the_workers() -> None:
    board = JobBoard()
    scorer = HashScorer(HashWork(delay=0.001))
    pool = WorkerPool(board, 2, lambda r: None)
    _publish(board, scorer, prefix="01")
    pool.start()
    _wait(lambda: pool.total_iterations > 10)
    idle = _publish(board, scorer, idle=True)
    _wait(lambda: pool.parked_on == [idle.generation] * 2)  # both finished their iteration and wait
    parked_at = pool.total_iterations
    again = _publish(board, scorer, job_id="j.2", idle=True)  # woken by another idle job: they park again
    _wait(lambda: pool.parked_on == [again.generation] * 2)
    assert pool.total_iterations == parked_at  # no iteration while idle
    _publish(board, scorer, job_id="j.3", prefix="03")
    _wait(lambda: pool.total_iterations > parked_at + 10)
    assert pool.parked_on == [None, None]
    assert pool.stop()


def test_a_worker_names_the_server_it_computes_for_until_its_last_result_is_handed_over() -> None:
    # The miner keeps a replaced server's session open while a worker still computes on its job: the
    # result of the iteration in progress goes to that server.
    board = JobBoard()
    work = HashWork()
    work.gate = threading.Event()
    scorer = HashScorer(work)
    seen_while_handing_over: list[list[str | None]] = []
    pool = WorkerPool(board, 1, lambda r: seen_while_handing_over.append(list(pool.mining_for)))
    _publish(board, scorer, prefix="01", threshold=0)  # every nonce is a result
    assert pool.mining_for == [None]
    pool.start()
    _wait(lambda: pool.busy_since[0] is not None)
    assert pool.mining_for == ["s"]
    _publish(board, scorer, job_id="j.2", idle=True)  # replaced while the iteration runs
    assert pool.mining_for == ["s"]
    work.gate.set()
    _wait(lambda: pool.parked_on == [board.generation])
    assert seen_while_handing_over and all(m == ["s"] for m in seen_while_handing_over)
    assert pool.mining_for == [None]
    assert pool.stop()


class FlakyWork(HashWork):
    """Raises ``error`` while ``failing`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = threading.Event()
        self.error: Exception = RuntimeError("scorer blew up")

    def score(self, nonce: bytes) -> int:
        if self.failing.is_set():
            raise self.error
        return super().score(nonce)


def test_a_failing_scorer_is_logged_once_counted_and_the_worker_restarts(capsys: pytest.CaptureFixture[str]) -> None:
    board = JobBoard()
    work = FlakyWork()
    work.failing.set()
    reported: list[WorkerFault] = []
    pool = WorkerPool(board, 1, lambda r: None, restart_backoff=(0.001, 0.004), on_fault=reported.append)
    _publish(board, HashScorer(work))
    pool.start()
    _wait(lambda: pool.errors >= 5)
    assert pool.restarts[0] >= 5 and pool.consecutive_errors[0] >= 5 and pool.errors_in_a_row >= 5
    assert pool.errors_by_algo == {"neuraxon": pool.errors} and pool.total_iterations == 0
    (fault,) = pool.fault_list()  # one distinct error, however often
    assert fault.error == "RuntimeError: scorer blew up" and fault.count >= 5
    assert fault.where.rsplit(":", 1)[0] == __file__  # the line that raised (FlakyWork.score)
    assert "Traceback" in fault.traceback and [f.key for f in reported] == [fault.key]
    work.failing.clear()  # the fault goes away: the worker mines again and is no longer counted failing
    _wait(lambda: pool.total_iterations > 5)
    assert pool.consecutive_errors == [0]
    work.error = ValueError("another fault")
    work.failing.set()
    _wait(lambda: len(pool.fault_list()) == 2)
    assert pool.stop()
    log = capsys.readouterr().out
    assert log.count("worker_error ") == 2  # each distinct error once, with its traceback
    assert "RuntimeError: scorer blew up" in log and "ValueError: another fault" in log and "Traceback" in log
    assert "worker_recovered" in log


def test_shares_and_solutions_are_told_apart() -> None:
    board = JobBoard()
    scorer = HashScorer(HashWork())
    found: list[FoundResult] = []
    pool = WorkerPool(board, 1, found.append)
    _publish(board, scorer, threshold=250, share_threshold=200)
    pool.start()
    _wait(lambda: len({r.kind for r in found}) == 2, timeout=10)
    pool.stop()
    assert all((r.kind == "solution") == (r.score >= 250) for r in found)
    assert all(r.score >= 200 for r in found)


class _BatchWork(HashWork):
    """A batch backend's work: scores ``batch_size`` nonces per call, and records each call's size."""

    batch_size = 8

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def score_batch(self, nonces: Sequence[bytes]) -> list[int]:
        with self.lock:
            self.calls.append(len(nonces))
        return [self.score(n) for n in nonces]


def test_a_batch_backend_gets_whole_batches_and_every_nonce_is_judged() -> None:
    board = JobBoard()
    work = _BatchWork()
    scorer = HashScorer(work)
    found: list[FoundResult] = []
    pool = WorkerPool(board, 2, found.append)
    _publish(board, scorer, prefix="0a", threshold=250)
    pool.start()
    _wait(lambda: pool.total_iterations >= 160)
    pool.stop()
    assert set(work.calls) == {8} and pool.total_iterations == 8 * len(work.calls)
    nonces = list(work.seen)
    assert len(set(nonces)) == len(nonces) == pool.total_iterations
    assert sorted(r.nonce for r in found) == sorted(n for n in nonces if hashlib.sha256(n).digest()[0] >= 250)
