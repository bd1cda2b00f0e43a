"""The miner's local HTTP API: ``/metrics``, ``/healthz``, ``/readyz``, ``/status`` — read-only.

Bound to 127.0.0.1 by default; binding anywhere else requires ``api_token`` (the settings refuse to
start otherwise), and with a token every endpoint wants ``Authorization: Bearer <token>`` (401
without one, 403 with a wrong one).

* ``/healthz`` — 200 ``{"status": "ok"}`` while the event loop runs and the stall watchdog is
  quiet; 503 otherwise. Docker's HEALTHCHECK (``neuraxon-miner healthcheck``) uses it.
* ``/readyz`` — 200 when a session with a server is open and the workers make progress (or the
  server said idle); 503 with the reason otherwise.
* ``/status`` — :class:`StatusDocument`, a versioned JSON summary (HiveOS ``h-stats.sh`` reads it).
* ``/metrics`` — Prometheus text (:mod:`miner.metrics`).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict

from miner._version import __version__
from miner.metrics import MinerMetrics
from miner.stats import KINDS, VERDICTS, MinerStats

__all__ = ["STATUS_SCHEMA_VERSION", "MinerApi", "StatusDocument", "readiness", "status_document"]

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


class MinerApi:
    """The aiohttp application and its site; ``await start()`` binds, ``await close()`` stops."""

    def __init__(self, stats: MinerStats, metrics: MinerMetrics, *, host: str, port: int, token: str | None) -> None:
        self.stats = stats
        self.metrics = metrics
        self.host = host
        self.port = port
        self.token = token
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The application (tests may serve it themselves)."""
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None:
            given = request.headers.get("Authorization", "")
            if not given.startswith("Bearer "):
                return web.json_response({"error": "this API requires 'Authorization: Bearer <api_token>'"},
                                         status=401, headers={"WWW-Authenticate": 'Bearer realm="neuraxon-miner"'})
            if not hmac.compare_digest(given.removeprefix("Bearer ").encode(), self.token.encode()):
                return web.json_response({"error": "wrong api_token"}, status=403)
        response: web.StreamResponse = await handler(request)
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.stats.stalled:
            return web.json_response({"status": "stalled"}, status=503)
        return web.json_response({"status": "ok", "uptime_seconds": round(self.stats.uptime, 3)})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, reason = readiness(self.stats)
        return web.json_response({"ready": ready, "reason": reason}, status=200 if ready else 503)

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(text=status_document(self.stats).model_dump_json(), content_type="application/json")

    async def start(self) -> str:
        """Bind and serve; returns the base URL (with the real port when ``port`` was 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = int(self._runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
