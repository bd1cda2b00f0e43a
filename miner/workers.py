"""Worker threads and the job board they read: compute never touches the network.

The event loop publishes each new job on the :class:`JobBoard` with a new *generation* number. A
:class:`WorkerPool` thread takes the current job, works through its own part of the job's nonce
space (``NoncePrefix`` split with :meth:`NonceSpace.child`, from a random start so a restart never
repeats nonces), and between two iterations compares the board's generation with its own: a newer
job replaces a stale one within one iteration. An idle job (or none) parks the threads on a
condition variable: no CPU is used until the next job.

A result worth submitting is handed to ``on_result`` (the daemon passes a function that queues it
on the event loop with ``call_soon_threadsafe``); workers never submit anything themselves.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from miner.journal import WorkKey
from miner.scorers import PreparedWork, Scorer
from protocol.messages import StratumJob

__all__ = ["ActiveJob", "FoundResult", "JobBoard", "WorkerPool"]


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

    def next_generation(self) -> int:
        """A generation number for a job about to be published."""
        with self._cond:
            return self._generation + 1

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
                 nice: int = 0, name: str = "miner-worker") -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.board = board
        self.count = count
        self.on_result = on_result
        self.nice = nice
        self.iterations = [0] * count
        self.last_progress = [time.monotonic()] * count
        self.busy_since: list[float | None] = [None] * count
        self.errors = 0
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
                board.wait_for_change(0 if active is None else active.generation, 1.0)
                continue
            self._mine(index, active)

    def _mine(self, index: int, active: ActiveJob) -> None:
        """Iterate on ``active`` until a newer generation is published or the pool stops."""
        work, scorer, job = active.work, active.scorer, active.job
        assert work is not None and scorer is not None
        space = job.nonce_space(work.nonce_head).child(index, self.count)
        counter = space.random_counter()
        capacity = space.capacity
        board, stop = self.board, self._stop
        iterations, last_progress, busy_since = self.iterations, self.last_progress, self.busy_since
        while board.generation == active.generation and not stop.is_set():
            nonce = space.nonce_bytes(counter)
            counter = (counter + 1) % capacity
            busy_since[index] = time.monotonic()
            try:
                value = work.score(nonce)
            except Exception:  # a scorer fault must not kill the thread; the stall watchdog notices loops
                self.errors += 1
                busy_since[index] = None
                time.sleep(1.0)
                continue
            now = time.monotonic()
            busy_since[index] = None
            iterations[index] += 1
            last_progress[index] = now
            if scorer.is_share(job, value):
                kind: Literal["solution", "share"] = "solution" if scorer.is_solution(job, value) else "share"
                self.on_result(FoundResult(uuid.uuid4().hex, job, active.server, active.work_key, nonce, value,
                                           kind, time.time(), active.generation, active.session))

