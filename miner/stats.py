"""The miner's counters and state in one place, read by /metrics, /status, the status line and systemd.

Everything here is written by the event loop (workers only bump their own iteration slots in the
:class:`~miner.workers.WorkerPool`, which :meth:`MinerStats.sample` reads once a second). Result
counts are kept apart by verdict — ``accepted``, ``rejected``, ``stale``, ``error`` — and by kind
(``solution``, ``share``), so a late result is never shown as a rejected one.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from protocol.rates import WINDOWS, RateMeter

if TYPE_CHECKING:
    from miner.workers import ActiveJob, JobBoard, WorkerPool

__all__ = ["KINDS", "VERDICTS", "MinerEvent", "MinerStats", "ServerState"]

#: Result verdicts, as counted and exported.
VERDICTS: tuple[str, ...] = ("accepted", "rejected", "stale", "error")
#: Result kinds.
KINDS: tuple[str, ...] = ("solution", "share")

Verdict = Literal["accepted", "rejected", "stale", "error"]

#: Entries kept in each of the event logs (last errors, server history).
EVENT_LOG_SIZE = 50


@dataclass(frozen=True)
class MinerEvent:
    """Something an operator wants to see on the page: ``kind`` is a short stable label."""

    at: float  # wall clock
    kind: str
    message: str


@dataclass
class ServerState:
    """One configured server as the miner sees it."""

    url: str
    priority: int
    up: bool = False
    active: bool = False
    transport: str | None = None
    connected_since: float | None = None  # monotonic
    jobs_received: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    #: Error answers the server tied to no submit of ours, by code name (never counted as a verdict).
    unmatched_answers: Counter[str] = field(default_factory=Counter)


class MinerStats:
    """Counters, rates and references to the live parts (board, pool) of one running miner."""

    def __init__(self, *, threads: int, algos: list[str], worker: str, embedded: bool,
                 worker_error_limit: int = 10) -> None:
        self.started_at = time.time()
        self.started_monotonic = time.monotonic()
        self.threads = threads
        self.algos = algos
        self.worker = worker
        self.embedded = embedded
        self.rate = RateMeter()
        self.worker_rates = [RateMeter(max_window=60.0) for _ in range(threads)]
        self.results: Counter[tuple[str, str]] = Counter()
        self.found: Counter[str] = Counter()
        self.resubmitted = 0
        self.best_score: int | None = None
        self.last_accepted_at: float | None = None  # wall clock
        self.servers: list[ServerState] = []
        self.server_switches = 0
        self.job_errors = 0
        self.pending_results = 0
        self.journal_quarantined = 0
        self.self_test_seconds: float | None = None
        self.ready = False
        self.stalled = False
        self.stopping = False
        self.board: JobBoard | None = None
        self.pool: WorkerPool | None = None
        self.api_url: str | None = None
        #: Monotonic time since which there has been computable work without a break (None: none now).
        self.computable_since: float | None = None
        #: Failed iterations in a row (of one worker) from which the miner reports itself unhealthy.
        self.worker_error_limit = worker_error_limit
        #: Newest last: results rejected or in error, error answers tied to no submit, connect failures,
        #: worker faults (each distinct one once). Appended from worker threads too (deque appends are atomic).
        self.recent_errors: deque[MinerEvent] = deque(maxlen=EVENT_LOG_SIZE)
        #: Newest last: sessions opened and lost, failovers and returns to the primary.
        self.server_history: deque[MinerEvent] = deque(maxlen=EVENT_LOG_SIZE)

    # -- updates ----------------------------------------------------------------------------------

    def sample(self, now: float | None = None) -> None:
        """Sample iteration totals into the rate windows (the daemon calls this once a second)."""
        if self.pool is None:
            return
        t = time.monotonic() if now is None else now
        self.rate.sample(self.pool.total_iterations, t)
        for meter, count in zip(self.worker_rates, self.pool.iterations, strict=False):
            meter.sample(count, t)

    def record_found(self, kind: str) -> None:
        """A worker found a result worth submitting."""
        self.found[kind] += 1

    def record_verdict(self, kind: str, verdict: Verdict, score: int, higher_is_better: bool) -> None:
        """A result reached its definitive verdict."""
        self.results[(kind, verdict)] += 1
        if verdict == "accepted":
            self.last_accepted_at = time.time()
            if self.best_score is None or (score > self.best_score if higher_is_better else score < self.best_score):
                self.best_score = score

    def note_error(self, kind: str, message: str) -> None:
        """Remember an error for the page (any thread)."""
        self.recent_errors.append(MinerEvent(time.time(), kind, message[:500]))

    def note_server_event(self, kind: str, message: str) -> None:
        """Remember a session or failover event for the page."""
        self.server_history.append(MinerEvent(time.time(), kind, message[:500]))

    def server(self, url: str) -> ServerState:
        """The state of a configured server (created on first use)."""
        for state in self.servers:
            if state.url == url:
                return state
        state = ServerState(url, len(self.servers))
        self.servers.append(state)
        return state

    # -- reads ------------------------------------------------------------------------------------

    @property
    def iterations(self) -> int:
        """Iterations finished by all workers."""
        return self.pool.total_iterations if self.pool is not None else 0

    @property
    def uptime(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self.started_monotonic

    @property
    def worker_errors(self) -> int:
        """Failed worker iterations (scorer exceptions) since start."""
        return self.pool.errors if self.pool is not None else 0

    @property
    def worker_errors_in_a_row(self) -> int:
        """The longest current run of failed iterations of one worker."""
        return self.pool.errors_in_a_row if self.pool is not None else 0

    @property
    def workers_failing(self) -> bool:
        """Whether a worker failed ``worker_error_limit`` iterations in a row (the miner is unhealthy)."""
        return self.worker_errors_in_a_row >= self.worker_error_limit

    def count(self, verdict: str, kind: str | None = None) -> int:
        """Results with ``verdict`` (of ``kind``, or of both kinds)."""
        kinds = KINDS if kind is None else (kind,)
        return sum(self.results[(k, verdict)] for k in kinds)

    def rates(self) -> dict[str, float | None]:
        """Iterations per second by window label (``10s``, ``60s``, ``15m``)."""
        return {label: self.rate.rate(seconds) for label, seconds in WINDOWS.items()}

    @property
    def job(self) -> ActiveJob | None:
        """The job on the board."""
        return self.board.current if self.board is not None else None

    def job_age(self) -> float | None:
        """Seconds since the current job was received."""
        job = self.job
        return None if job is None else time.monotonic() - job.received_at

    @property
    def active_server(self) -> ServerState | None:
        """The server of the active session, if connected."""
        return next((s for s in self.servers if s.active), None)

    def note_job(self, computable: bool) -> None:
        """Track since when there has been work to compute (for the stall watchdog)."""
        if not computable:
            self.computable_since = None
        elif self.computable_since is None:
            self.computable_since = time.monotonic()

    def seconds_since_progress(self) -> float:
        """Seconds since a worker last finished an iteration, counted from when work became available."""
        if self.pool is None:
            return self.uptime
        since = max(self.pool.last_progress)
        if self.computable_since is not None:
            since = max(since, self.computable_since)
        return time.monotonic() - since

    def progressing(self, window: float) -> bool:
        """Whether the workers are doing what they should: progress within ``window`` seconds, or
        nothing to compute (idle job, no job yet)."""
        if self.computable_since is None:
            return True
        return self.seconds_since_progress() <= window
