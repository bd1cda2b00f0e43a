"""Worker threads and the job board they read: compute never touches the network.

The event loop publishes each new job on the :class:`JobBoard` with a new *generation* number. A
:class:`WorkerPool` thread takes the current job, works through its own part of the job's nonce
space (``NoncePrefix`` split with :meth:`NonceSpace.child`, from a random start so a restart never
repeats nonces), and between two iterations compares the board's generation with its own: a newer
job replaces a stale one within one iteration. An idle job (or none) parks the threads on a
condition variable: no CPU is used until the next job.

A thread scores ``PreparedWork.batch_size`` nonces per call (1 on the cpu backend; a GPU backend
takes many), so the generation is checked between two batches. A result worth submitting is handed
to ``on_result`` (the daemon passes a function that queues it on the event loop with
``call_soon_threadsafe``); workers never submit anything themselves.

A scorer that raises does not kill its thread, and is never silent: the fault is counted (per
algorithm), kept in :attr:`WorkerPool.faults` (one :class:`WorkerFault` per distinct error, with its
traceback and count), logged with the traceback the first time that error occurs, and the worker
restarts on the board's current job after a jittered exponential backoff (a new job or ``stop()``
cuts the wait short). ``consecutive_errors`` tells the daemon whether workers keep failing.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from miner.backoff import Backoff
from miner.journal import WorkKey
from miner.scorers import PreparedWork, Scorer
from protocol.messages import StratumJob

__all__ = ["RESTART_BACKOFF", "ActiveJob", "FoundResult", "JobBoard", "WorkerFault", "WorkerPool"]

log = structlog.get_logger("miner")

#: Bounds (seconds) of a failed worker's restart delay: the first, and the cap it doubles up to.
RESTART_BACKOFF = (0.1, 10.0)
#: Distinct faults kept (the oldest is forgotten first); counts per algorithm are kept regardless.
MAX_FAULTS = 32


@dataclass(frozen=True)
class ActiveJob:
    """A job as the workers see it. ``work`` is ``None`` when there is nothing to compute (idle)."""

    generation: int
    job: StratumJob
    server: str
    work_key: WorkKey
    scorer: Scorer | None
    work: PreparedWork | None
    #: Serial of the server session the job came from (results go back on that session).
    session: int = 0
    received_at: float = field(default_factory=time.monotonic)

    @property
    def computable(self) -> bool:
        """Whether workers should compute on this job."""
        return self.work is not None and self.scorer is not None and not self.job.is_idle


@dataclass(frozen=True)
class FoundResult:
    """A nonce whose score is worth submitting, as a worker found it."""

    result_id: str
    job: StratumJob
    server: str
    work_key: WorkKey
    nonce: bytes
    score: int
    kind: Literal["solution", "share"]
    found_at: float
    generation: int
    session: int


@dataclass
class WorkerFault:
    """One distinct worker error (same type, message and raising line), as often as it happened."""

    key: str
    algo: str
    error: str  # "ValueError: message"
    where: str  # file:line of the innermost frame
    traceback: str
    count: int
    first_at: float  # wall clock
    last_at: float
    worker: int  # the thread that hit it last


class JobBoard:
    """The current job, its generation number, and a condition to wait for the next one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._current: ActiveJob | None = None
        self._generation = 0
        self._stopped = False

    @property
    def generation(self) -> int:
        """Number of the newest published job (0 before the first). Read without the lock: an int."""
        return self._generation

    @property
    def current(self) -> ActiveJob | None:
        """The newest published job."""
        return self._current

    def publish(self, make: Callable[[int], ActiveJob]) -> ActiveJob:
        """Publish ``make(generation)`` as the current job and wake every waiting worker."""
        with self._cond:
            active = make(self._generation + 1)
            self._current = active
            self._generation = active.generation
            self._cond.notify_all()
            return active

    def wait_for_change(self, generation: int, timeout: float) -> None:
        """Block until a job newer than ``generation`` is published, the board stops, or ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation or self._stopped, timeout)

    def stop(self) -> None:
        """Wake and release every waiting worker for good."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped


class WorkerPool:
    """``count`` threads computing on the board's current job.

    Counters are plain per-thread integers (each slot is written by its own thread only and read
    by the event loop's samplers): ``iterations[i]``, ``last_progress[i]`` (monotonic time of the
    last finished iteration), and ``busy_since[i]`` (start of the running iteration, or ``None``).
    """

    def __init__(self, board: JobBoard, count: int, on_result: Callable[[FoundResult], None], *,
                 nice: int = 0, name: str = "miner-worker",
                 restart_backoff: tuple[float, float] = RESTART_BACKOFF,
                 on_fault: Callable[[WorkerFault], None] | None = None) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.board = board
        self.count = count
        self.on_result = on_result
        self.nice = nice
        self.iterations = [0] * count
        self.last_progress = [time.monotonic()] * count
        self.busy_since: list[float | None] = [None] * count
        #: The generation each thread is parked on (no job, or nothing to compute); ``None`` while it mines.
        self.parked_on: list[int | None] = [None] * count
        #: The server whose job each thread computes on (until its last result is handed over); ``None``
        #: while it is parked.
        self.mining_for: list[str | None] = [None] * count
        #: Failed iterations in total, by algorithm label, and in a row per thread (reset by a success).
        self.errors = 0
        self.errors_by_algo: Counter[str] = Counter()
        self.consecutive_errors = [0] * count
        #: Restarts after a failed iteration, per thread.
        self.restarts = [0] * count
        #: Distinct faults by key, oldest first; ``on_fault`` is called (from the worker thread) with
        #: each one the first time it occurs.
        self.faults: OrderedDict[str, WorkerFault] = OrderedDict()
        self.on_fault = on_fault
        self._faults_lock = threading.Lock()
        self._backoffs = [Backoff(*restart_backoff) for _ in range(count)]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"{name}-{i}", daemon=True)
                         for i in range(count)]

    def start(self) -> None:
        """Start the threads."""
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask every thread to stop after its current iteration; True if all stopped within ``timeout``."""
        self._stop.set()
        self.board.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def total_iterations(self) -> int:
        """Iterations finished by all threads."""
        return sum(self.iterations)

    @property
    def errors_in_a_row(self) -> int:
        """The longest current run of failed iterations of any thread (0 while all succeed)."""
        return max(self.consecutive_errors)

    def fault_list(self) -> list[WorkerFault]:
        """Copies of the distinct faults, most recent first."""
        with self._faults_lock:
            faults = [WorkerFault(**vars(f)) for f in self.faults.values()]
        return sorted(faults, key=lambda f: f.last_at, reverse=True)

    def _record_fault(self, index: int, algo: str, exc: Exception) -> None:
        """Count a failed iteration; log (with the traceback) and report an error not seen before."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        error = f"{type(exc).__name__}: {exc}"[:500]
        key = f"{algo} {error} at {where}"
        now = time.time()
        with self._faults_lock:
            self.errors += 1
            self.errors_by_algo[algo] += 1
            self.consecutive_errors[index] += 1
            fault = self.faults.get(key)
            first = fault is None
            if fault is None:
                fault = self.faults[key] = WorkerFault(key, algo, error, where, "".join(
                    traceback.format_exception(exc))[-4000:], 0, now, now, index)
                while len(self.faults) > MAX_FAULTS:
                    self.faults.popitem(last=False)
            fault.count += 1
            fault.last_at, fault.worker = now, index
        if first:
            log.error("worker_error", worker=index, algo=algo, error=error, where=where, exc_info=exc,
                      detail="the worker restarts after a backoff; this error is logged once, counted always")
            if self.on_fault is not None:
                self.on_fault(fault)

    def _lower_priority(self) -> None:
        if self.nice <= 0 or not hasattr(os, "setpriority"):
            return
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self.nice)
        except OSError:
            pass

    def _run(self, index: int) -> None:
        self._lower_priority()
        board = self.board
        while not self._stop.is_set():
            active = board.current
            if active is None or not active.computable:
                generation = 0 if active is None else active.generation
                self.parked_on[index] = generation
                board.wait_for_change(generation, 1.0)
                continue
            self.parked_on[index] = None
            self.mining_for[index] = active.server
            try:
                self._mine(index, active)
            finally:
                self.mining_for[index] = None

    def _mine(self, index: int, active: ActiveJob) -> None:
        """Iterate on ``active`` until a newer generation is published or the pool stops."""
        work, scorer, job = active.work, active.scorer, active.job
        assert work is not None and scorer is not None
        space = job.nonce_space(work.nonce_head).child(index, self.count)
        counter = space.random_counter()
        capacity = space.capacity
        batch = max(1, min(work.batch_size, capacity))
        board, stop = self.board, self._stop
        iterations, last_progress, busy_since = self.iterations, self.last_progress, self.busy_since
        while board.generation == active.generation and not stop.is_set():
            nonces = [space.nonce_bytes((counter + i) % capacity) for i in range(batch)]
            counter = (counter + batch) % capacity
            busy_since[index] = time.monotonic()
            try:
                values = work.score_batch(nonces)
            except Exception as exc:  # a scorer fault must not kill the thread, nor pass unnoticed
                busy_since[index] = None
                self._record_fault(index, job.algo.label, exc)
                self.restarts[index] += 1
                # Restart on the board's job after the backoff; a new job (which may cure it) or stop() ends
                # the wait early.
                board.wait_for_change(active.generation, self._backoffs[index].next_delay())
                return
            now = time.monotonic()
            busy_since[index] = None
            iterations[index] += len(nonces)
            last_progress[index] = now
            if self.consecutive_errors[index]:
                log.info("worker_recovered", worker=index, failed_in_a_row=self.consecutive_errors[index])
                self.consecutive_errors[index] = 0
                self._backoffs[index].reset()
            for nonce, value in zip(nonces, values, strict=True):
                if scorer.is_share(job, value):
                    kind: Literal["solution", "share"] = "solution" if scorer.is_solution(job, value) else "share"
                    self.on_result(FoundResult(uuid.uuid4().hex, job, active.server, active.work_key, nonce, value,
                                               kind, time.time(), active.generation, active.session))

