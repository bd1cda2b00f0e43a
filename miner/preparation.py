"""Turning a server's job into work on the board: download, check hashes, prepare off the loop, publish.

The newest job wins: while one job is being prepared, later ones replace each other and only the
last is prepared next. Jobs that differ only in what is per-worker (``JobId``, ``NoncePrefix``,
``ShareThreshold``) reuse the prepared work of the same :class:`~miner.journal.WorkKey`, so the
periodic job pushes cost nothing. Downloads (``TaskUrl``, ``Parent.NetworkUrl``) happen here, on
the event loop, with their K12 hashes checked; the CPU part (``Scorer.prepare``) runs in a thread.
A job that cannot be prepared parks the workers (its predecessor's work is most likely stale) and
is counted in ``job_errors``. The first job of a registry entry (an algorithm version) whose
self-test has not run yet runs that entry's known answers first (not its family's other versions);
an entry whose self-test fails is never mined.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog

from miner.journal import WorkKey
from miner.results import work_key
from miner.scorers import JobInputs, JobPreparationError, PreparedWork, Scorer
from miner.selftest import SelfTestError
from miner.sources.connection import ServerConnection, SourceError
from miner.stats import MinerStats
from miner.workers import ActiveJob, JobBoard
from protocol.fields import Algo
from protocol.messages import StratumJob
from scoring import registry
from scoring.ids import k12_hex

__all__ = ["JobPreparer"]

log = structlog.get_logger("miner")

_CACHE_SIZE = 4


class JobPreparer:
    """Prepares the newest offered job and publishes it on the board."""

    def __init__(self, board: JobBoard, scorers: dict[Algo, Scorer], stats: MinerStats, *,
                 self_test: Callable[[Scorer, registry.Algorithm], None] | None = None,
                 tested: set[str] | None = None) -> None:
        self.board = board
        self.scorers = scorers
        self.stats = stats
        #: Runs one entry's known answers on its family's scorer (``None``: no self-test before jobs).
        self.self_test = self_test
        #: Names of the registry entries whose self-test passed; a failed one is never mined.
        self.tested: set[str] = set(tested or ())
        self.failed: set[str] = set()
        self._latest: tuple[ServerConnection, StratumJob, int] | None = None
        self._event = asyncio.Event()
        self._work: OrderedDict[WorkKey, PreparedWork] = OrderedDict()
        self._documents: OrderedDict[str, bytes] = OrderedDict()

    def offer(self, conn: ServerConnection, job: StratumJob) -> None:
        """A job arrived on ``conn``: prepare it next (replacing any job not yet started)."""
        self._latest = (conn, job, conn.serial)
        self._event.set()

    async def run(self) -> None:
        """Prepare and publish offered jobs until cancelled."""
        while True:
            await self._event.wait()
            self._event.clear()
            latest, self._latest = self._latest, None
            if latest is None:
                continue
            conn, job, serial = latest
            try:
                await self._handle(conn, job, serial)
            except Exception:  # one bad job must not stop job handling
                log.exception("job_failed", job=job.job_id)
                self.stats.job_errors += 1

    def _publish(self, job: StratumJob, server: str, key: WorkKey, scorer: Scorer | None,
                 work: PreparedWork | None, session: int) -> ActiveJob:
        active = self.board.publish(lambda generation: ActiveJob(generation, job, server, key, scorer, work,
                                                                session=session))
        self.stats.note_job(active.computable)
        return active

    async def _handle(self, conn: ServerConnection, job: StratumJob, serial: int) -> None:
        server = conn.endpoint.url
        current = self.board.current
        if (current is not None and current.job == job and current.server == server and current.session == serial
                and (current.computable or job.is_idle)):
            return  # the same job again (servers re-send it after each answer); a failed one is retried
        key = work_key(server, job)
        log.info("job_received", server=server, job=job.job_id, algo=job.algo.label, task=job.task_id[:16],
                 epoch=job.epoch, idle=job.is_idle, threshold=job.threshold, share_threshold=job.share_threshold,
                 parent_score=job.parent.score if job.parent else None)
        if job.is_idle:
            self._publish(job, server, key, None, None, serial)
            log.info("job_idle", server=server, detail="the server says idle: workers paused")
            return
        scorer = self.scorers.get(job.algo)
        if scorer is None:
            self.stats.job_errors += 1
            log.error("job_unsupported", server=server, algo=job.algo.label,
                      detail=f"this installation has no {job.algo.label} scorer")
            self._publish(job, server, key, None, None, serial)
            return
        work = self._work.get(key)
        if work is None:
            try:
                inputs = await self._inputs(conn, job)
                entry = scorer.entry_for(inputs)
                if not await self._tested(scorer, entry):
                    raise JobPreparationError(f"{entry.name} failed its self-test here: its jobs are not mined")
                work = await asyncio.to_thread(scorer.prepare, inputs)
            except (JobPreparationError, SourceError) as exc:
                self.stats.job_errors += 1
                log.error("job_unusable", server=server, job=job.job_id, error=str(exc))
                self._publish(job, server, key, None, None, serial)
                return
            self._work[key] = work
            while len(self._work) > _CACHE_SIZE:
                self._work.popitem(last=False)
        self._work.move_to_end(key)
        self._publish(job, server, key, scorer, work, serial)

    async def _tested(self, scorer: Scorer, entry: registry.Algorithm) -> bool:
        """Run ``entry``'s self-test before its first job; False if it failed (now or before)."""
        if self.self_test is None or entry.name in self.tested:
            return True
        if entry.name in self.failed:
            return False
        try:
            await asyncio.to_thread(self.self_test, scorer, entry)
        except SelfTestError as exc:
            self.failed.add(entry.name)
            log.error("self_test_failed", algo=entry.name, error=str(exc),
                      detail=f"this machine computes wrong {entry.name} scores; its jobs are not mined")
            return False
        self.tested.add(entry.name)
        return True

    async def _download(self, conn: ServerConnection, url: str, expected_hash: str, what: str) -> bytes:
        cached = self._documents.get(expected_hash)
        if cached is not None:
            return cached
        body = await conn.fetch(url)
        actual = k12_hex(body)
        if actual != expected_hash:
            raise JobPreparationError(f"{what} from {url}: K12 {actual[:16]}... does not match the job's "
                                      f"{expected_hash[:16]}...")
        self._documents[expected_hash] = body
        while len(self._documents) > _CACHE_SIZE:
            self._documents.popitem(last=False)
        return body

    async def _inputs(self, conn: ServerConnection, job: StratumJob) -> JobInputs:
        document = None
        if job.task is None and job.task_url is not None and job.task_hash is not None:
            document = await self._download(conn, job.task_url, job.task_hash, "task")
        network: dict[str, Any] | None = None
        parent = job.parent
        if parent is not None:
            if parent.network is not None:
                network = parent.network
            elif parent.network_url is not None and parent.network_hash is not None:
                body = await self._download(conn, parent.network_url, parent.network_hash, "parent network")
                try:
                    loaded = json.loads(body)
                except ValueError:
                    raise JobPreparationError("the parent network is not JSON") from None
                if not isinstance(loaded, dict):
                    raise JobPreparationError("the parent network is not a JSON object")
                network = loaded
        return JobInputs(job, document, network)
