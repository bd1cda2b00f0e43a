"""What the miner reports about itself: the ``/status`` document and the readiness rule.

Read by ``/status`` and ``/readyz`` (:mod:`miner.api`), the web page (:mod:`miner.page`), HiveOS's
``h-stats.sh`` and the daemon's systemd notifications, so they all say the same thing.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from miner._version import __version__
from miner.stats import KINDS, VERDICTS, MinerStats

__all__ = ["PROGRESS_WINDOW_SECONDS", "STATUS_SCHEMA_VERSION", "StatusDocument", "readiness", "status_document"]

#: Version of the ``/status`` document; bumped on any incompatible change.
STATUS_SCHEMA_VERSION = 1
#: The workers count as progressing if one finished an iteration within this many seconds.
PROGRESS_WINDOW_SECONDS = 60.0


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerStatus(_Doc):
    """One configured server."""

    url: str
    priority: int
    up: bool
    active: bool
    transport: str | None
    connected_seconds: float | None
    jobs_received: int
    failures: dict[str, int]
    last_error: str | None


class JobStatus(_Doc):
    """The job being worked on."""

    job_id: str
    task_id: str
    algo: str
    epoch: int
    idle: bool
    computable: bool
    threshold: int
    share_threshold: int | None
    parent_score: int | None
    age_seconds: float
    server: str


class ResultCounts(_Doc):
    """Results by definitive verdict (and those still pending)."""

    accepted: int
    rejected: int
    stale: int
    error: int
    pending: int
    found: int


class StatusDocument(_Doc):
    """``GET /status``."""

    schema_version: int
    version: str
    worker: str
    algos: list[str]
    embedded_server: bool
    uptime_seconds: float
    started_at: float
    ready: bool
    stalled: bool
    threads: int
    iterations_total: int
    rates: dict[str, float | None]
    highest_rate: float
    worker_rates: list[float | None]
    results: ResultCounts
    results_by_kind: dict[str, dict[str, int]]
    resubmitted: int
    best_score: int | None
    last_accepted_at: float | None
    server: str | None
    servers: list[ServerStatus]
    server_switches: int
    job: JobStatus | None
    job_errors: int
    #: Worker iterations whose scorer raised, and the longest current run of them (additive fields: schema 1).
    worker_errors: int = 0
    worker_errors_in_a_row: int = 0


def status_document(stats: MinerStats) -> StatusDocument:
    """The ``/status`` document of the current state."""
    now = time.monotonic()
    job = stats.job
    job_status = None
    if job is not None:
        j = job.job
        job_status = JobStatus(job_id=j.job_id, task_id=j.task_id, algo=j.algo.label, epoch=j.epoch, idle=j.is_idle,
                               computable=job.computable, threshold=j.threshold, share_threshold=j.share_threshold,
                               parent_score=j.parent.score if j.parent else None,
                               age_seconds=round(now - job.received_at, 3), server=job.server)
    active = stats.active_server
    rates = {k: (round(v, 4) if v is not None else None) for k, v in stats.rates().items()}
    return StatusDocument(
        schema_version=STATUS_SCHEMA_VERSION, version=__version__, worker=stats.worker, algos=stats.algos,
        embedded_server=stats.embedded, uptime_seconds=round(stats.uptime, 3), started_at=stats.started_at,
        ready=stats.ready, stalled=stats.stalled, threads=stats.threads, iterations_total=stats.iterations,
        rates=rates, highest_rate=round(stats.rate.highest, 4),
        worker_rates=[None if (r := m.rate(10.0)) is None else round(r, 4) for m in stats.worker_rates],
        results=ResultCounts(accepted=stats.count("accepted"), rejected=stats.count("rejected"),
                             stale=stats.count("stale"), error=stats.count("error"), pending=stats.pending_results,
                             found=sum(stats.found.values())),
        results_by_kind={kind: {v: stats.results[(kind, v)] for v in VERDICTS} for kind in KINDS},
        resubmitted=stats.resubmitted, best_score=stats.best_score, last_accepted_at=stats.last_accepted_at,
        server=active.url if active else None,
        servers=[ServerStatus(url=s.url, priority=s.priority, up=s.up, active=s.active, transport=s.transport,
                              connected_seconds=None if s.connected_since is None
                              else round(now - s.connected_since, 3),
                              jobs_received=s.jobs_received, failures=dict(s.failures), last_error=s.last_error)
                 for s in stats.servers],
        server_switches=stats.server_switches, job=job_status, job_errors=stats.job_errors,
        worker_errors=stats.worker_errors, worker_errors_in_a_row=stats.worker_errors_in_a_row)


def readiness(stats: MinerStats) -> tuple[bool, str]:  # noqa: PLR0911 - one return per reason
    """``(ready, reason)``: a session is open, a job is known, and the workers make progress."""
    if stats.stopping:
        return False, "stopping"
    if stats.workers_failing:
        faults = stats.pool.fault_list() if stats.pool is not None else []
        last = f": {faults[0].error}" if faults else ""
        return False, (f"unhealthy: a worker failed {stats.worker_errors_in_a_row} iterations in a row "
                       f"(worker_error_limit {stats.worker_error_limit}){last}")[:300]
    if stats.active_server is None:
        return False, "not connected to a work server"
    job = stats.job
    if job is None:
        return False, "no job yet"
    if not stats.progressing(PROGRESS_WINDOW_SECONDS):
        return False, f"no iteration finished in {PROGRESS_WINDOW_SECONDS:g} s"
    if job.computable and stats.iterations == 0:
        return False, "warming up (no iteration finished yet)"
    return True, "idle" if not job.computable else "mining"
