"""From found to finished: journal first, then submit, then count the server's verdict exactly once.

:class:`ResultSubmitter` runs on the event loop. A result a worker found is appended to the
:class:`~miner.journal.Journal` (fsynced) before anything is sent; a ``sent`` mark is written before
its first send; it leaves the journal only with a definitive verdict:

===============================================  ============================================
server answer                                    verdict
===============================================  ============================================
``Success``                                      accepted
``DUPLICATE`` to a result sent before            accepted (the earlier send was recorded; a copy is
                                                 resent only ``resend_after`` seconds after the
                                                 last, so the first copy is no longer in flight)
``STALE_JOB``, ``WRONG_EPOCH``                   stale
other ``3xx``, ``DUPLICATE`` on a first send     rejected (the reason is logged verbatim)
``1xx`` (our message was malformed)              error
``RATE_LIMITED``, ``SERVER_BUSY``, ``5xx``        sent again after a backoff; error after
                                                 ``submit_attempts`` such answers
``LOGIN_REQUIRED``, ``SHUTTING_DOWN``, no answer  sent again on the next session
===============================================  ============================================

A result is sent to the server whose job it was found on, on the open session with that server,
only while that session's current job is the *same work* (:class:`~miner.journal.WorkKey`: same
epoch, task, seed and parent); otherwise the server would answer ``STALE_JOB``, so it is recorded
stale without sending. The same rule decides, after a restart, which results replayed from the
journal are resubmitted. A result whose server stays unreachable for ``stale_after`` seconds is
recorded stale too, with one exception: a result whose last send went unanswered, to a server that
has gone and whose jobs named a ``PoolId``, is sent ``resend_after`` after that send on an open
session with another server of that pool, which answers from the shared ledger (``DUPLICATE``:
accepted, ``STALE_JOB``: stale). At most ``max_inflight`` submissions are in flight per session, and
a "slow down" answer holds every send to that session for the backoff delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from miner.backoff import Backoff
from miner.journal import Journal, JournalRecord, WorkKey
from miner.metrics import MinerMetrics
from miner.sources.connection import ServerConnection, SessionLostError
from miner.stats import MinerStats
from miner.workers import FoundResult
from protocol.codec import decode_as, encode
from protocol.errors import ErrorCode
from protocol.fields import Algo
from protocol.messages import StratumAck, StratumJob, StratumSubmit

__all__ = ["PendingResult", "ResultSubmitter", "SubmitPolicy", "classify_ack", "work_key"]

log = structlog.get_logger("miner")

Outcome = Literal["accepted", "rejected", "stale", "error", "retry", "reconnect"]


def work_key(server: str, job: StratumJob) -> WorkKey:
    """The work a job asks for on ``server`` (equal keys: a result of one job is good for the other)."""
    return WorkKey(server=server, algo=int(job.algo), epoch=job.epoch, task_id=job.task_id,
                   random_seed=job.random_seed, parent_id=job.parent.parent_id if job.parent else None,
                   identity=job.identity, pool=job.pool_id)


def classify_ack(ack: StratumAck, *, sent_before: bool) -> Outcome:  # noqa: PLR0911 - one line per rule
    """What a server answer means for a result (see the module table)."""
    if ack.success:
        return "accepted"
    code = ack.code
    if code in (ErrorCode.STALE_JOB, ErrorCode.WRONG_EPOCH):
        return "stale"
    if code == ErrorCode.DUPLICATE:
        return "accepted" if sent_before else "rejected"
    if code in (ErrorCode.LOGIN_REQUIRED, ErrorCode.SHUTTING_DOWN, ErrorCode.UNAUTHORIZED):
        return "reconnect"
    group = code // 100
    if group == 1:
        return "error"
    if group == 3:
        return "rejected"
    if group == 2:
        return "reconnect"
    return "retry"  # 4xx flow control, 5xx server trouble, anything newer


@dataclass(frozen=True)
class SubmitPolicy:
    """Retry rules of the submitter (seconds)."""

    stale_after: float = 600.0
    attempts: int = 8
    retry_initial: float = 1.0
    retry_max: float = 30.0
    #: Submissions in flight per session (the reference server answers SERVER_BUSY above 16).
    max_inflight: int = 8
    #: A result whose answer was lost is sent again only this long after its last send (the submit
    #: timeout): by then the server has finished with the first copy, so its answer is definitive.
    resend_after: float = 30.0


@dataclass
class PendingResult:
    """A journaled result without a verdict yet."""

    record: JournalRecord
    submit: StratumSubmit
    higher_is_better: bool
    session: int | None  # serial of the session whose job it was found on; None: replayed from the journal
    sent: bool
    sent_at: float | None = None  # wall clock of the last send
    in_flight: bool = False
    retries: int = 0
    not_before: float = 0.0
    resubmitted: bool = False
    finishing: bool = False
    unreachable_since: float | None = None  # monotonic: since when it has had no session to go on

    @property
    def result_id(self) -> str:
        """The journal id."""
        return self.record.result_id

    @property
    def work(self) -> WorkKey:
        """The work it was found for."""
        return self.record.work


class ResultSubmitter:
    """Journals, submits and counts results; see the module docstring."""

    def __init__(self, journal: Journal, stats: MinerStats, metrics: MinerMetrics,
                 connection_for: Callable[[str], ServerConnection | None], policy: SubmitPolicy | None = None,
                 *, pool_connection: Callable[[str], ServerConnection | None] | None = None) -> None:
        self.journal = journal
        self.stats = stats
        self.metrics = metrics
        self.connection_for = connection_for
        self.pool_connection = pool_connection
        self.policy = policy or SubmitPolicy()
        self.pending: dict[str, PendingResult] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._backoff = Backoff(self.policy.retry_initial, self.policy.retry_max)
        self._hold: dict[int, float] = {}  # session serial -> no sends before this monotonic time

    # -- intake -----------------------------------------------------------------------------------

    def restore(self, records: list[JournalRecord]) -> None:
        """Results left in the journal by an earlier run: sent again if their work is still current."""
        for record in records:
            submit = decode_as(record.submit, StratumSubmit)
            higher = Algo(record.work.algo).higher_is_better
            self.pending[record.result_id] = PendingResult(record, submit, higher, None, record.sent, record.sent_at)
        self._update_gauge()
        if records:
            log.info("journal_restored", results=len(records), sent_before=sum(r.sent for r in records))
        self.wake()

    async def add(self, found: FoundResult, session: int | None) -> None:
        """Journal a found result (durable before this returns), then queue it for sending."""
        submit = found.job.submit(found.nonce, found.score)
        record = JournalRecord(found.result_id, encode(submit), found.work_key, found.kind, found.found_at)
        await asyncio.to_thread(self.journal.add, record)
        self.pending[found.result_id] = PendingResult(record, submit, found.job.algo.higher_is_better, session, False)
        self.stats.record_found(found.kind)
        self._update_gauge()
        log.info("result_found", kind=found.kind, score=found.score, job=found.job.job_id,
                 nonce=submit.nonce[:16], server=found.server)
        self.wake()

    def holds_results_for(self, server_url: str) -> bool:
        """Whether a result of ``server_url``'s work has no verdict yet."""
        return any(r.work.server == server_url for r in self.pending.values())

    def wake(self) -> None:
        """Re-examine pending results now (a session opened, a result arrived)."""
        self._wake.set()

    # -- dispatch ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch loop: send what can be sent, expire what cannot; runs until cancelled."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                self._wake.clear()
                await self._dispatch()
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _dispatch(self) -> None:
        now = time.monotonic()
        if self._hold:
            self._hold = {serial: until for serial, until in self._hold.items() if until > now}
        for result in list(self.pending.values()):
            if result.in_flight or result.finishing or now < result.not_before:
                continue
            conn, via_pool = self._route(result)
            if conn is None:
                # Counted from when it lost its way, not from when it was found: a reconnect of a moment
                # does not make an older result stale.
                if result.unreachable_since is None:
                    result.unreachable_since = now
                elif now - result.unreachable_since > self.policy.stale_after:
                    await self._finish(result, "stale", None, f"server unreachable for {self.policy.stale_after:g} s")
                continue
            result.unreachable_since = None
            if not via_pool and work_key(conn.endpoint.url, conn.latest_job) != result.work:
                # The server replaced this work (new parent, epoch, idle) since the result was found: it
                # would answer STALE_JOB, so it is recorded stale without a round trip.
                await self._finish(result, "stale", None, "its job is no longer current")
                continue
            if conn.inflight >= self.policy.max_inflight or now < self._hold.get(conn.serial, 0.0):
                continue
            if result.sent_at is not None and time.time() < result.sent_at + self.policy.resend_after:
                continue  # its earlier copy may still be in verification on the server
            if via_pool:
                log.info("result_settled_by_pool", id=result.result_id[:12], server=result.work.server,
                         via=conn.endpoint.url, detail="its server is unreachable; another front-end of "
                         "its pool answers from the shared ledger")
            if result.session != conn.serial:
                if result.session is None:
                    result.resubmitted = True
                    self.stats.resubmitted += 1
                result.session = conn.serial
            result.in_flight = True
            conn.inflight += 1  # reserved now; the connection counts it again while the submit runs
            task = asyncio.get_running_loop().create_task(self._send(result, conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _route(self, result: PendingResult) -> tuple[ServerConnection | None, bool]:
        """The session to send ``result`` on: its server's, else (for a result whose last send went
        unanswered, the answer lost with its server) one with another front-end of the same pool; and
        whether it is the latter.

        A front-end answers a job it did not issue from the pool's shared ledger: ``DUPLICATE`` if the
        result was recorded (accepted), else ``STALE_JOB``. Left for their own server: a result never
        sent (it cannot be in the ledger, and that server may still take it) and one whose last send was
        answered "busy" (the server holds no copy of it and would verify it when back).
        """
        conn = self.connection_for(result.work.server)
        if conn is not None or result.sent_at is None or result.work.pool is None or self.pool_connection is None:
            return conn, False
        peer = self.pool_connection(result.work.pool)
        return peer, peer is not None

    async def _send(self, result: PendingResult, conn: ServerConnection) -> None:
        # An earlier copy went out (its answer lost, or "busy: already being verified"): the server may have
        # recorded it. Our nonces carry the prefix the server gave us alone, so a DUPLICATE to a result sent
        # before can only be our own earlier copy.
        sent_before = result.sent
        # The slot taken when this send was scheduled: a draining connection waits for it while the
        # journal is written.
        reserved = True
        try:
            await asyncio.to_thread(self.journal.mark_sent, result.result_id)
            result.sent, result.sent_at = True, time.time()
            started = time.monotonic()
            # Handed over with no await between: submit() counts itself in flight before it first yields.
            conn.inflight -= 1
            reserved = False
            try:
                ack = await conn.submit(result.submit)
            except SessionLostError as exc:
                log.info("result_unanswered", id=result.result_id[:12], reason=exc.reason,
                         detail="sent again on the next session")
                return
            self.metrics.submit_latency.observe(time.monotonic() - started)
            outcome = classify_ack(ack, sent_before=sent_before)
            if outcome == "reconnect":
                log.info("result_retry_after_reconnect", id=result.result_id[:12], code=ack.code, message=ack.message)
                if not conn.closed:
                    await conn.close()
                return
            if outcome in ("retry", "reconnect"):
                result.sent_at = None  # answered: the server holds no copy, it may go again at once
            if outcome == "retry":
                result.retries += 1
                if result.retries >= self.policy.attempts:
                    await self._finish(result, "error", ack.code, f"gave up after {result.retries} answers: "
                                                                  f"{ack.message}")
                    return
                self._backoff.failures = result.retries - 1
                delay = max(0.05, self._backoff.next_delay())
                result.not_before = time.monotonic() + delay
                # The server asked to slow down: hold every send to it, not only this one.
                self._hold[conn.serial] = max(self._hold.get(conn.serial, 0.0), result.not_before)
                log.info("result_retry", id=result.result_id[:12], code=ack.code, message=ack.message,
                         delay_s=round(delay, 2))
                return
            await self._finish(result, outcome, ack.code, ack.message)
        finally:
            if reserved:
                conn.inflight -= 1
            result.in_flight = False
            self.wake()

    async def _finish(self, result: PendingResult, verdict: Literal["accepted", "rejected", "stale", "error"],
                      code: int | None, reason: str) -> None:
        if result.finishing or result.result_id not in self.pending:
            return
        result.finishing = True
        await asyncio.to_thread(self.journal.finish, result.result_id, verdict, code, reason)
        self.pending.pop(result.result_id, None)
        self.stats.record_verdict(result.record.kind, verdict, result.submit.claimed_score, result.higher_is_better)
        if verdict in ("rejected", "error"):
            self.stats.note_error(f"result_{verdict}", f"{result.record.kind} score {result.submit.claimed_score}"
                                                       f" on job {result.submit.job_id}: code {code}: {reason}")
        self._update_gauge()
        log.info(f"result_{verdict}", id=result.result_id[:12], kind=result.record.kind,
                 score=result.submit.claimed_score, job=result.submit.job_id, code=code, reason=reason,
                 server=result.work.server, resubmitted=result.resubmitted)

    def _update_gauge(self) -> None:
        self.stats.pending_results = len(self.pending)

    # -- shutdown ---------------------------------------------------------------------------------

    async def flush(self, timeout: float, abort: asyncio.Event | None = None) -> int:
        """Try to settle every pending result within ``timeout`` seconds (or until ``abort`` is set);
        returns how many remain (they stay in the journal for the next start)."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline and not (abort is not None and abort.is_set()):
            if not any(r.in_flight for r in self.pending.values()):
                # Worth waiting for: a result with a session to go on, before the deadline (one whose last
                # send is unanswered goes only ``resend_after`` after it).
                last_chance = time.time() + deadline - time.monotonic()
                sendable = [r for r in self.pending.values() if self._route(r)[0] is not None
                            and (r.sent_at is None or r.sent_at + self.policy.resend_after < last_chance)]
                if not sendable:
                    break
            self.wake()
            await asyncio.sleep(0.05)
        return len(self.pending)
