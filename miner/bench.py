"""Offline speed measurement with the miner's own worker threads (``neuraxon-miner bench``).

:func:`measure` runs a :class:`~miner.workers.WorkerPool` on a fixed job that can never produce a
result (its threshold is out of reach), for a fixed time, and counts finished iterations — the same
code path as mining, minus the network, so ``mining rate / bench rate`` is the daemon's overhead
(``benchmarks/miner_overhead.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from miner.journal import WorkKey
from miner.scorers import PreparedWork, Scorer
from miner.workers import ActiveJob, JobBoard, WorkerPool
from protocol.fields import MAX_SAFE_INT, Algo
from protocol.identity import identity_from_public_key
from protocol.messages import StratumJob

__all__ = ["BenchResult", "bench_job", "measure"]


@dataclass(frozen=True)
class BenchResult:
    """``iterations`` finished by ``threads`` threads in ``seconds``."""

    algo: str
    threads: int
    iterations: int
    seconds: float

    @property
    def rate(self) -> float:
        """Iterations per second, all threads."""
        return self.iterations / self.seconds if self.seconds > 0 else 0.0

    @property
    def rate_per_thread(self) -> float:
        """Iterations per second per thread."""
        return self.rate / self.threads


def bench_job(algo: Algo, task: dict[str, object] | None = None) -> StratumJob:
    """A job whose threshold no score reaches (so a bench never produces results)."""
    identity = identity_from_public_key(bytes(range(32)))
    if algo is Algo.BPP9000:
        return StratumJob(job_id="bench", epoch=0, algo=algo, random_seed="01" * 32, identity=identity,
                          task_id="bench", task_url="/bench", task_hash="00" * 32, threshold=-MAX_SAFE_INT,
                          nonce_prefix="")
    return StratumJob(job_id="bench", epoch=0, algo=algo, random_seed="01" * 32, identity=identity,
                      task_id="bench", task=task or {}, threshold=MAX_SAFE_INT, nonce_prefix="")


def measure(scorer: Scorer, work: PreparedWork, threads: int, seconds: float, *, warmup: float = 1.0) -> BenchResult:
    """Run ``threads`` workers on ``work`` for ``warmup + seconds``; count iterations in the last ``seconds``."""
    board = JobBoard()
    job = bench_job(scorer.algo)
    key = WorkKey("bench", int(scorer.algo), 0, "bench", job.random_seed, None, job.identity)
    pool = WorkerPool(board, threads, lambda result: None, name="bench-worker")
    board.publish(lambda generation: ActiveJob(generation, job, "bench", key, scorer, work))
    pool.start()
    try:
        time.sleep(warmup)
        start_count, start = pool.total_iterations, time.perf_counter()
        time.sleep(seconds)
        end_count, end = pool.total_iterations, time.perf_counter()
    finally:
        pool.stop(30.0)
    return BenchResult(scorer.algo.label, threads, end_count - start_count, end - start)
