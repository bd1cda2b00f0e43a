"""The work server's rules, independent of transport: logins, jobs, submissions, pushes, abuse.

:class:`WorkService` is driven by the aiohttp layer (:mod:`protocol.server.app`) for both the
WebSocket and the HTTP pull mode. Everything here runs on the event loop and never blocks: scores
are recomputed by the :class:`~protocol.server.scheduling.FairScheduler` in front of the
:class:`~protocol.server.verify.VerificationPool`, ledger writes run on the ledger's own thread, and an
accepted submission is committed before its ack is returned. Cumulative training (best networks,
parents, calibration) is :class:`~protocol.server.training.Training`; bans are kept by
:class:`~protocol.server.abuse.Bans` and enforced here.

Submission checks, in order (each with its own code): a job the server no longer knows whose
nonce the ledger holds (``DUPLICATE``: recorded before a restart); job known to this worker (``UNKNOWN_JOB``;
``STALE_JOB`` for an expired job or one from before a restart), epoch (``WRONG_EPOCH``), not idle
(``STALE_JOB``), not already accepted in this epoch (``DUPLICATE`` — before staleness, so a miner
that lost an ack learns its result is recorded), still the current work (``STALE_JOB``), nonce inside
the worker's prefix (``NONCE_OUT_OF_RANGE``) and canonical (``INVALID_NONCE``), claimed score worth
anything (``PARENT_NOT_BEATEN`` / ``BELOW_THRESHOLD``), not in verification already (``SERVER_BUSY``:
retry later), a place in the fair queue (``SERVER_BUSY``), then the recomputation (``SCORE_MISMATCH``,
counted toward a ban) and the ledger commit.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from protocol.errors import ErrorCode, ProtocolError
from protocol.identity import identity_from_public_key
from protocol.messages import Message, StratumAck, StratumJob, StratumLogin, StratumStats, StratumSubmit
from protocol.server.abuse import Ban, Bans, banned_parties
from protocol.server.admission import ThrottledLog
from protocol.server.config import ServerConfig
from protocol.server.database import BAN_CHANNEL, BEST_CHANNEL, listen
from protocol.server.jobs import IssuedJob, JobBook, PrefixAllocator, Session, TaskState
from protocol.server.ledger import (
    AcceptedRecord,
    AsyncLedger,
    BanRecord,
    DuplicateSubmissionError,
    Ledger,
    ProgressRow,
)
from protocol.server.metrics import ServerMetrics
from protocol.server.scheduling import (
    SERVER_ACCOUNT,
    FairScheduler,
    QueueItem,
    SchedulerBusyError,
    VerificationDroppedError,
)
from protocol.server.tasks import default_tasks, k12_hex
from protocol.server.training import Training, network_document
from protocol.server.turns import SharedTurns, shared_turns_for
from protocol.server.vardiff import ShareDifficulty
from protocol.server.verify import (
    ScoringVerifier,
    VerificationError,
    VerificationExecutor,
    VerificationPool,
    Verifier,
    VerifierUnavailableError,
    VerifyOutcome,
    VerifyRequest,
    verifier_for,
)
from scoring.ids import k12

__all__ = ["DEFAULT_POOL_IDENTITY", "SubmitResult", "WorkService"]

log = structlog.get_logger("workserver")

#: Identity that token logins mine for when the server has no ``identity`` configured.
DEFAULT_POOL_IDENTITY = identity_from_public_key(k12(b"neuraxon-miner reference work server"))

#: Sessions a broadcast serves before letting the connection writers run.
BROADCAST_SLICE = 128
#: Broadcasts to at least this many sessions suspend verification processes while they run.
PAUSE_VERIFICATION_FROM = 64
#: With ``full_gc_seconds``: a due full collection runs this long after a broadcast ended, once the
#: frames that waited for their connection's writer have gone out.
GC_AFTER_PUSH_SECONDS = 0.05


@dataclass(frozen=True)
class SubmitResult:
    """The ack of a submission and what follows it: ``improved`` names the task whose best network
    (and so its jobs' parent) just changed."""

    ack: StratumAck
    improved: TaskState | None = None

    @property
    def accepted(self) -> bool:
        """Whether the submission was accepted (solution or share)."""
        return self.ack.success


class WorkService:
    """State and rules of one work server. ``await start()`` before use, ``await close()`` after."""

    def __init__(self, config: ServerConfig, *, metrics: ServerMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else ServerMetrics()
        self.ledger = AsyncLedger(config.database if config.database is not None else config.db_path)
        self.tasks: dict[str, TaskState] = {}
        for entry in config.tasks or tuple(default_tasks()):
            self.tasks[entry.task_id] = TaskState(entry, verifier_for(entry, config.verifiers))
        self._task_order = list(self.tasks.values())
        self.jobs = JobBook(config.job_retention)
        self.pool: VerificationExecutor | None = None
        self.scheduler: FairScheduler | None = None
        self.turns: SharedTurns | None = None
        self.bans = Bans(config.abuse)
        self.training = Training(config, self._task_order, self.ledger, self.metrics, compute=self._server_compute,
                                 batch=config.verify_workers, spawn=self._spawn, broadcast=self.broadcast,
                                 on_calibrated=self._calibrated)
        self.sessions: dict[int, Session] = {}
        self.pull_sessions: OrderedDict[tuple[str, str], Session] = OrderedDict()
        self._ids = itertools.count(1)
        self._epoch = config.epoch
        self._idle_toggle = config.idle
        self._last_idle: bool | None = None
        self._inflight: set[tuple[str, str, int, str]] = set()
        self._refused_logins = ThrottledLog("workserver.logins_refused")
        self._floods = ThrottledLog("workserver.flood_closed")
        self.prefixes = PrefixAllocator(self.ledger, spawn=self._spawn)
        self._background: set[asyncio.Task[None]] = set()
        self.started_at = time.monotonic()
        self.closing = False
        #: Results and mismatches committed since start (readers of ledger summaries cache by it).
        self.ledger_writes = 0
        #: This front-end's id, recorded with each accepted result (the server sets the derived one).
        self.front_end_id = config.front_end_id
        #: Broadcasts in progress (a full collection waits for none); Python's collector thresholds
        #: before ``full_gc_seconds`` took over the full collections (restored on close).
        self._broadcasting = 0
        self._gc_thresholds: tuple[int, int, int] | None = None
        self._next_full_gc = 0.0

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the ledger, restore each task's best network and history, start the verifier and timers.

        Raises :class:`~protocol.server.verify.VerifierUnavailableError` when ``config.verifier`` names a
        Dask scheduler that does not answer (nothing is left open then).
        """
        cfg = self.config
        pool = self.pool = self._verification_executor()
        await pool.start()
        try:
            state = await self.ledger.open()
        except BaseException:
            await pool.aclose()
            raise
        self.training.restore(state)
        self.jobs.pool_id = state.pool_id
        try:
            await self._adopt_stored_bans()
            self.turns = await shared_turns_for(cfg)
        except BaseException:
            await pool.aclose()
            await self.ledger.close()
            raise
        scheduler = self.scheduler = FairScheduler(
            pool, max_queued=cfg.max_pending_verifications, max_per_account=cfg.max_inflight_per_account,
            max_per_connection=cfg.max_inflight_per_session, on_drop=self._dropped, turns=self.turns)
        pool.watch_capacity(scheduler.capacity_changed)  # a cluster that grows: start queued verifications
        self.metrics.verification_slots.set_function(lambda: pool.workers)
        self.metrics.bind(connections=lambda: len(self.sessions), pull_sessions=lambda: len(self.pull_sessions),
                          pending=lambda: scheduler.pending, idle=lambda: float(self.idle), epoch=lambda: self._epoch,
                          banned=self.bans.active)
        self._last_idle = self.idle
        self._spawn(self._warm_up())
        self.training.start()
        if cfg.database is not None and cfg.database.is_postgres:  # other front-ends' best networks and bans
            self._spawn(listen(cfg.database, {BEST_CHANNEL: self.training.announced, BAN_CHANNEL: self._ban_announced},
                               on_listening=self._catch_up))
        if cfg.full_gc_seconds is not None:
            self._take_over_full_gc(cfg.full_gc_seconds)
        self._spawn(self._periodic())
        log.info("workserver.started", tasks=[t.task_id[:16] for t in self._task_order], epoch=self._epoch,
                 restored_best={t.task_id[:16]: t.best.score for t in self._task_order if t.best})

    async def close(self) -> None:
        """Tell every connection the server is stopping, let running submissions finish, close all."""
        if self.closing:
            return
        self.closing = True
        for task in list(self._background):
            task.cancel()
        for session in list(self.sessions.values()):
            if session.disconnect is not None:
                session.disconnect(ErrorCode.SHUTTING_DOWN, "the work server is stopping; reconnect later")
        if self.scheduler is not None:
            self.scheduler.drop_all()  # queued submissions are answered SHUTTING_DOWN; running ones finish
        deadline = time.monotonic() + 10.0
        while self._inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.pool is not None:
            await self.pool.aclose()
        if self.turns is not None:
            await self.turns.aclose()
        await self.ledger.close()
        if self._gc_thresholds is not None:
            gc.set_threshold(*self._gc_thresholds)
            self._gc_thresholds = None
        log.info("workserver.stopped")

    def _verification_executor(self) -> VerificationExecutor:
        cfg = self.config
        if cfg.verifier == "local":
            return VerificationPool(cfg.verify_workers, mode=cfg.verify_mode,
                                    max_pending=cfg.max_pending_verifications, nice=cfg.verify_nice)
        try:
            from protocol.server.dask_verify import DaskVerificationPool  # noqa: PLC0415 - the optional pool extra
        except ImportError as exc:
            raise VerifierUnavailableError(f"--verifier {cfg.verifier} needs Dask distributed "
                                           f"(pip install 'neuraxon-miner[pool]'): {exc}") from None
        tasks = [(t.verifier.entry.name, t.entry.payload, bytes.fromhex(t.entry.seed) if t.entry.seed else None)
                 for t in self._task_order if isinstance(t.verifier, ScoringVerifier)]
        return DaskVerificationPool(cfg.verifier, tasks=tasks, connect_timeout=cfg.verifier_connect_seconds)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- state ------------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch of new jobs."""
        return self._epoch

    @property
    def idle(self) -> bool:
        """Whether new jobs are idle (admin toggle or the configured schedule)."""
        schedule = self.config.idle_schedule
        return self._idle_toggle or (schedule is not None and schedule.is_idle(time.time()))

    def set_idle(self, idle: bool) -> None:
        """Switch idle on or off; every session gets a new job if the state changed."""
        self._idle_toggle = idle
        self._check_idle()

    def set_epoch(self, epoch: int) -> None:
        """Move to another epoch: every earlier job becomes stale, every session gets a new job."""
        if not 0 <= epoch <= 0xFFFF:
            raise ValueError("epoch must be 0..65535")
        if epoch != self._epoch:
            self._epoch = epoch
            self.broadcast("change")

    def _check_idle(self) -> None:
        idle = self.idle
        if idle != self._last_idle:
            self._last_idle = idle
            log.info("workserver.idle", idle=idle)
            self.broadcast("change")

    # -- sessions ---------------------------------------------------------------------------------

    def authenticate(self, login: StratumLogin, address: str | None = None) -> tuple[str, str]:
        """``(account, job identity)`` for a login from ``address``; ``ProtocolError(UNAUTHORIZED)`` if
        refused (unknown token, refused wallet, or a banned account or address)."""
        cfg = self.config
        if login.access_token is not None:
            token = login.access_token
            if not any(hmac.compare_digest(token.encode(), known.encode()) for known in cfg.access_tokens):
                raise self._refuse_login("unauthorized", "unknown access token", "AccessToken")
            account, identity = "token:" + k12_hex(token.encode())[:16], cfg.identity or DEFAULT_POOL_IDENTITY
        else:
            wallet = login.wallet or ""
            if not cfg.allow_wallets:
                raise self._refuse_login("unauthorized", "this server does not accept wallet logins; log in with "
                                         "an AccessToken", "Wallet")
            if cfg.wallet_allowlist is not None and wallet not in cfg.wallet_allowlist:
                raise self._refuse_login("unauthorized", "wallet is not registered on this server", "Wallet")
            account, identity = wallet, cfg.identity or wallet
        ban = self.bans.of(account=account, address=address)
        if ban is not None:
            raise self._refuse_login("banned", ban.describe(time.monotonic()), None)
        return account, identity

    def _refuse_login(self, result: str, message: str, field: str | None) -> ProtocolError:
        # Counted always, logged at most once per interval per result: refused logins are free to send.
        self.metrics.logins.labels(result=result).inc()
        self._refused_logins(result, message=message)
        return ProtocolError(ErrorCode.UNAUTHORIZED, message, field=field)

    async def open_session(self, login: StratumLogin, kind: Literal["ws", "pull"], *, address: str | None = None,
                           deliver: Callable[[Message | str], None] | None = None,
                           disconnect: Callable[[ErrorCode, str], None] | None = None) -> Session:
        """Authenticate and create a session (raises ``ProtocolError(UNAUTHORIZED)``)."""
        account, identity = self.authenticate(login, address)
        prefix = await self.prefixes.allocate()
        sid = next(self._ids)
        task = self._task_order[sid % len(self._task_order)]
        session = Session(sid, kind, account, login.worker, identity, login.threads, prefix, task,
                          deliver=deliver, disconnect=disconnect, address=address)
        self._attach_difficulty(session)
        if kind == "ws":
            self.sessions[sid] = session
        self.metrics.logins.labels(result="ok").inc()
        log.info("workserver.login", session=sid, kind=kind, account=account[:20], worker=login.worker,
                 threads=login.threads, prefix=prefix, address=address)
        return session

    def close_session(self, session: Session) -> None:
        """Forget a WebSocket session (its jobs stay valid for the same worker until the work changes);
        its submissions still waiting for verification are dropped (nobody would read their answers)."""
        if self.scheduler is not None:
            self.scheduler.drop_connection(session.id)
        if self.sessions.pop(session.id, None) is not None:
            log.info("workserver.disconnect", session=session.id, worker=session.worker)

    async def pull_session(self, login: StratumLogin, address: str | None = None) -> Session:
        """The pull-mode session of (account, worker), created on first use; refreshed on every call."""
        account, identity = self.authenticate(login, address)
        key = (account, login.worker)
        session = self.pull_sessions.get(key)
        if session is None or session.identity != identity:
            session = await self.open_session(login, "pull", address=address)
            self.pull_sessions[key] = session
        session.last_seen = time.monotonic()
        session.address = address
        self.pull_sessions.move_to_end(key)
        return session

    # -- abuse ------------------------------------------------------------------------------------

    def flooded(self, session: Session | None, address: str | None) -> None:
        """A connection was closed for flooding messages; repeated floods ban its address."""
        self.metrics.flood_closes.inc()
        self._floods("flooding", address=address, worker=session.worker if session else None)
        ban = self.bans.flood(address, session.account if session else None)
        if ban is not None:
            self._enforce(ban, session.account if session else None, address)

    def _wrong_claim(self, session: Session) -> None:
        ban = self.bans.wrong_claim(session.account, session.address)
        if ban is not None:
            self._enforce(ban, session.account, session.address)

    def _enforce(self, ban: Ban, account: str | None, address: str | None) -> None:
        """A new ban: logged once, counted, kept in the ledger (and so announced to the pool's other
        front-ends), the account's connections closed and its queue dropped."""
        self.metrics.bans.labels(reason=ban.reason).inc()
        log.warning("workserver.banned", reason=ban.reason, seconds=ban.seconds, offence=ban.offence,
                    account=account[:20] if account else None, keys=len(ban.keys),
                    address=address if self.config.abuse.ban_addresses else None)
        record = BanRecord(ban.keys, ban.reason, ban.offence, ban.seconds,
                           time.time() + ban.remaining(time.monotonic()), self.front_end_id)
        self._spawn(self._keep_ban(record))
        self._shut_out(ban, account)

    async def _keep_ban(self, record: BanRecord) -> None:
        try:
            await self.ledger.call(Ledger.record_ban, record)
        except Exception as exc:  # the ban holds here; only its copy for a restart and the pool is lost
            log.warning("workserver.ban_not_kept", error=repr(exc), reason=record.reason)

    async def _adopt_stored_bans(self) -> None:
        """At start: the bans the ledger holds that are still running or recent enough to double the next."""
        since = time.time() - self.config.abuse.ban_max_seconds
        records = await self.ledger.call(Ledger.recent_bans, since)
        for record in records:
            self._adopt(record)
        active = sum(1 for r in records if r.ends_at > time.time())
        if active:
            log.info("workserver.bans_restored", active=active)

    async def _ban_announced(self, payload: str) -> None:
        """Another front-end of the pool issued a ban (``BAN_CHANNEL``): enforce it here too."""
        try:
            record = BanRecord.from_json(payload)
        except ValueError as exc:
            log.warning("workserver.ban_announcement_ignored", error=str(exc))
            return
        self._adopt(record, enforce=True)  # this front-end's own come back too: not new here, nothing to do

    def _adopt(self, record: BanRecord, *, enforce: bool = False) -> None:
        """Take in a ban issued elsewhere; with ``enforce``, shut its account out when it is new here."""
        until = time.monotonic() + (record.ends_at - time.time())
        ban = self.bans.adopt(record.keys, record.reason, record.offence, record.seconds, until)
        if ban is None or not enforce:
            return
        account, address = banned_parties(record.keys)
        log.warning("workserver.ban_adopted", reason=ban.reason, seconds=round(ban.remaining(time.monotonic())),
                    offence=ban.offence, account=account[:20] if account else None, address=address,
                    front_end=record.front_end)
        self._shut_out(ban, account)

    async def _catch_up(self) -> None:
        """After (re)connecting the pool's announcements: what was announced while not listening."""
        await self.training.catch_up()
        for record in await self.ledger.call(Ledger.recent_bans, time.time()):
            self._adopt(record, enforce=True)

    def _shut_out(self, ban: Ban, account: str | None) -> None:
        """Close a banned account's connections and drop its queued verifications."""
        if account is None:
            return
        message = ban.describe(time.monotonic())
        for session in list(self.sessions.values()):
            if session.account == account and session.disconnect is not None:
                session.disconnect(ErrorCode.UNAUTHORIZED, message)
        for key in [k for k, s in self.pull_sessions.items() if s.account == account]:
            del self.pull_sessions[key]
        if self.scheduler is not None:
            self.scheduler.drop_account(account)

    def _dropped(self, item: QueueItem, reason: str) -> None:
        self.metrics.verification_dropped.labels(reason=reason).inc()

    def _attach_difficulty(self, session: Session) -> None:
        dist = session.task.distribution
        if self.config.vardiff and dist is not None and session.difficulty is None:
            session.difficulty = ShareDifficulty(
                dist, target_interval=self.config.share_interval_seconds,
                retarget_seconds=self.config.retarget_seconds, threads=session.threads, now=time.monotonic())

    def record_stats(self, session: Session, stats: StratumStats) -> None:
        """Remember a miner's reported speed (shown in ``/api/v1/workers``; vardiff trusts only shares)."""
        session.reported_rate = stats.it_per_sec
        session.last_seen = time.monotonic()

    # -- jobs -------------------------------------------------------------------------------------

    def _share_threshold(self, session: Session) -> int | None:
        task = session.task
        if session.difficulty is None or (task.parent is not None and task.entry.training):
            return None  # a parented job: every accepted submission improves the parent, i.e. is a solution
        return session.difficulty.share_threshold(task.entry.threshold)

    def current_job(self, session: Session) -> IssuedJob:
        """The session's job for the current work and share bar (a new one only if either changed)."""
        task = session.task
        idle = self.idle
        key = task.work_key(self._epoch, idle)
        share = None if idle else self._share_threshold(session)
        issued = session.issued
        if issued is not None and issued.work == key and issued.share_threshold == share:
            return issued
        template = self.jobs.template(task, key, session.identity, inline_task=self.config.inline_task,
                                      inline_parent=self.config.inline_parent)
        issued = session.issued = self.jobs.issue(template, session, key, share)
        return issued

    def send_job(self, session: Session, reason: str) -> IssuedJob:
        """Push the session's current job over its connection (WebSocket sessions)."""
        issued = self.current_job(session)
        if session.deliver is not None:
            session.deliver(issued.frame())
            self.metrics.jobs_sent.labels(reason=reason).inc()
        return issued

    def broadcast(self, reason: str, task: TaskState | None = None) -> None:
        """Send the current job to every WebSocket session (of ``task``, when given), in the background."""
        self._spawn(self._broadcast(reason, task))

    async def _broadcast(self, reason: str, task: TaskState | None) -> None:
        # In slices, yielding in between: acks and other connections are served meanwhile, and the
        # miners (and the kernel) start on the first jobs while the rest are being built.
        started = time.perf_counter()
        sessions = [s for s in self.sessions.values() if (task is None or s.task is task) and s.deliver is not None]
        pool = self.pool if len(sessions) >= PAUSE_VERIFICATION_FROM else None
        if pool is not None:
            pool.pause()
        self._broadcasting += 1
        try:
            for i, session in enumerate(sessions):
                if i % BROADCAST_SLICE == BROADCAST_SLICE - 1:
                    await asyncio.sleep(0)
                if session.deliver is not None and session.id in self.sessions:
                    session.deliver(self.current_job(session).frame())
        finally:
            self._broadcasting -= 1
            if pool is not None:
                pool.resume()
            if self._gc_thresholds is not None and not self._broadcasting:
                # Job changes come seconds apart: just after one is the moment furthest from the next.
                asyncio.get_running_loop().call_later(GC_AFTER_PUSH_SECONDS, self._full_gc_after_push)
        self.metrics.jobs_sent.labels(reason=reason).inc(len(sessions))
        self.metrics.broadcast_seconds.observe(time.perf_counter() - started)

    # -- submissions ------------------------------------------------------------------------------

    def _reject(self, code: ErrorCode, message: str, submit: StratumSubmit, field: str | None = None) -> SubmitResult:
        self.metrics.submits.labels(verdict=code.name.lower()).inc()
        return SubmitResult(StratumAck.rejected(code, message, submit=submit, field=field))

    async def submit(self, session: Session, submit: StratumSubmit) -> SubmitResult:
        """Check, verify and record one submission; the ack is ready to send when this returns."""
        started = time.perf_counter()
        session.last_seen = time.monotonic()
        try:
            result = await self._submit(session, submit)
        except RuntimeError:
            if not self.closing:
                raise
            return self._reject(ErrorCode.SHUTTING_DOWN, "the work server is stopping", submit)
        self.metrics.submit_seconds.observe(time.perf_counter() - started)
        if not result.accepted and result.ack.code == ErrorCode.SCORE_MISMATCH:
            await self.ledger.call(Ledger.count_mismatch, session.account, session.worker)
            self.ledger_writes += 1
        elif not result.accepted:
            session.rejected += 1
        return result

    async def _submit(self, session: Session, submit: StratumSubmit) -> SubmitResult:  # noqa: PLR0911 - one return per check
        if self.closing:
            return self._reject(ErrorCode.SHUTTING_DOWN, "the work server is stopping", submit)
        issued = self.jobs.get(submit.job_id)
        if issued is None:
            if not self.jobs.retired(submit.job_id):  # not even shaped like a job id this server issued
                return self._reject(ErrorCode.UNKNOWN_JOB, "no such job", submit, "JobId")
            # A result acked just before a restart (or whose job has since expired) and sent again:
            # it is recorded, which the miner must learn rather than count it stale.
            if await self.ledger.call(Ledger.accepted_for_job, submit.job_id, submit.nonce):
                return self._reject(ErrorCode.DUPLICATE, "this nonce was already accepted for this job", submit,
                                    "Nonce")
            return self._reject(ErrorCode.STALE_JOB, "job expired or from before a server restart; "
                                "work on the newest job", submit, "JobId")
        if issued.worker_key != session.worker_key:
            return self._reject(ErrorCode.UNKNOWN_JOB, "this job was not issued to this worker", submit, "JobId")
        job = issued.job
        if submit.epoch != job.epoch:
            return self._reject(ErrorCode.WRONG_EPOCH, f"job {job.job_id} is for epoch {job.epoch}, "
                                f"not {submit.epoch}", submit, "Epoch")
        task = self.tasks.get(job.task_id)
        if job.is_idle or task is None:
            return self._reject(ErrorCode.STALE_JOB, "idle job: there is nothing to submit", submit, "JobId")
        # Before the staleness check: a resubmission of an accepted result (e.g. a miner that lost
        # the ack) learns that it is safely recorded.
        if await self.ledger.call(Ledger.is_duplicate, job.identity, job.task_id, job.epoch, submit.nonce):
            return self._reject(ErrorCode.DUPLICATE, "this nonce was already accepted for this identity, task "
                                "and epoch", submit, "Nonce")
        if submit.parent_id is not None and (job.parent is None or submit.parent_id != job.parent.parent_id):
            return self._reject(ErrorCode.WRONG_PARENT, f"job {job.job_id} extends parent "
                                f"{job.parent.parent_id if job.parent else '(none: a walk from the root)'}, "
                                f"not {submit.parent_id}", submit, "ParentId")
        if issued.work != task.work_key(self._epoch, self.idle):
            return self._reject(ErrorCode.STALE_JOB, "the work changed (new parent, epoch or idle phase); "
                                "work on the newest job", submit, "JobId")
        nonce = bytes.fromhex(submit.nonce)
        if not job.owns_nonce(nonce):
            return self._reject(ErrorCode.NONCE_OUT_OF_RANGE, f"nonce is outside this worker's prefix "
                                f"{job.nonce_prefix!r}", submit, "Nonce")
        why = task.verifier.check_nonce(nonce)
        if why is not None:
            return self._reject(ErrorCode.INVALID_NONCE, why, submit, "Nonce")
        claimed = submit.claimed_score
        if not job.is_share(claimed):
            if not job.beats_parent(claimed):
                return self._reject(ErrorCode.PARENT_NOT_BEATEN, f"score {claimed} does not beat the parent's "
                                    f"{job.parent.score if job.parent else ''}", submit, "ClaimedScore")
            return self._reject(ErrorCode.BELOW_THRESHOLD, f"score {claimed} meets neither Threshold nor "
                                "ShareThreshold", submit, "ClaimedScore")
        key = (job.identity, job.task_id, job.epoch, submit.nonce)
        if key in self._inflight:
            # Not DUPLICATE: that verdict is definitive for a miner, and this verification may still fail.
            return self._reject(ErrorCode.SERVER_BUSY, "this nonce is already being verified; resubmit later",
                                submit, "Nonce")
        self._inflight.add(key)
        try:
            return await self._verify_and_record(session, submit, task, job, nonce)
        finally:
            self._inflight.discard(key)

    async def _verify_and_record(self, session: Session, submit: StratumSubmit, task: TaskState, job: StratumJob,  # noqa: PLR0911
                                 nonce: bytes) -> SubmitResult:
        assert self.scheduler is not None
        parent_network = None
        if job.parent is not None:
            if task.parent is None or task.parent.network_id != job.parent.parent_id:
                return self._reject(ErrorCode.STALE_JOB, "the job's parent is no longer the best network", submit,
                                    "JobId")
            parent_network = task.parent.network
        request = VerifyRequest(task.entry.payload, job.public_key, nonce, job, parent_network,
                                bytes.fromhex(job.random_seed))
        try:
            outcome = await self.scheduler.run(task.verifier, request, account=session.account, connection=session.id,
                                               low=self.bans.suspect(session.account))
        except VerifierUnavailableError as exc:
            self.metrics.verifier_unavailable.inc()
            return self._reject(ErrorCode.SERVER_BUSY, f"{exc}; resubmit later", submit)
        except SchedulerBusyError as exc:
            return self._reject(ErrorCode.SERVER_BUSY, f"{exc}; resubmit later", submit)
        except VerificationDroppedError as exc:
            if str(exc) == "banned":
                return self._reject(ErrorCode.UNAUTHORIZED, "this account is banned", submit)
            return self._reject(ErrorCode.SHUTTING_DOWN, "the work server is stopping", submit)
        except VerificationError as exc:
            log.error("workserver.verify_failed", job=job.job_id, error=str(exc))
            return self._reject(ErrorCode.INTERNAL, "the server could not verify this job", submit)
        self.metrics.verification_seconds.observe(outcome.seconds)
        score = outcome.score
        if score != submit.claimed_score:
            log.info("workserver.mismatch", worker=session.worker, claimed=submit.claimed_score, score=score)
            self._wrong_claim(session)
            return self._reject(ErrorCode.SCORE_MISMATCH, f"claimed {submit.claimed_score}, recomputed {score}",
                                submit, "ClaimedScore")
        kind = "solution" if job.is_solution(score) else "share"
        body = network_id = None
        if kind == "solution" and outcome.network is not None:
            body, network_id = network_document(outcome.network)
        rec = AcceptedRecord(kind, job.task_id, job.identity, submit.nonce, score, job.job_id, job.epoch,
                             job.threshold, job.share_threshold, job.parent.parent_id if job.parent else None,
                             session.account, session.worker, front_end=self.front_end_id)
        committed = time.perf_counter()
        try:
            accepted_id, new_best = await self.ledger.call(
                Ledger.record_accepted, rec, network=body, network_id=network_id,
                higher_is_better=task.algo.higher_is_better)
        except DuplicateSubmissionError:
            return self._reject(ErrorCode.DUPLICATE, "this nonce was already submitted", submit, "Nonce")
        self.ledger_writes += 1
        self.metrics.commit_seconds.observe(time.perf_counter() - committed)
        self.metrics.submits.labels(verdict=kind).inc()
        if kind == "solution":
            task.solutions += 1
        else:
            task.shares += 1
        if session.difficulty is not None:
            session.difficulty.record_share()
        if job.parent is None:
            self.training.observe_share(task, score, job.share_threshold if job.share_threshold is not None
                                        else job.threshold)
        improved = None
        note = ""
        if new_best and body is not None and network_id is not None and outcome.network is not None:
            row = ProgressRow(rec.at, score, network_id, accepted_id, rec.identity, rec.worker)
            if self.training.new_best(task, outcome.network, body, network_id, score, row):
                improved = task
            note = " (new best network)"
        return SubmitResult(StratumAck.accepted(submit, f"{kind} accepted: score {score}{note}"), improved)

    def after_ack(self, session: Session, result: SubmitResult) -> None:
        """Once the ack is on its way: new jobs for everyone on an improved task (training), else a
        job for the submitter (Pool Connect sends one after each submit)."""
        if result.improved is not None and result.improved.entry.training:
            self.broadcast("change", result.improved)
        elif result.accepted and session.kind == "ws":
            self.send_job(session, "submit")

    # -- background -------------------------------------------------------------------------------

    async def _warm_up(self) -> None:
        assert self.pool is not None
        try:
            await self.pool.warm_up()
        except Exception:  # a worker that cannot even load the scorer will fail real requests loudly
            log.exception("workserver.warm_up_failed")

    async def _server_compute(self, verifier: Verifier, request: VerifyRequest) -> VerifyOutcome:
        # The server's own walks take their turn in the fair queue like any account's, unbounded.
        assert self.scheduler is not None
        return await self.scheduler.run(verifier, request, account=SERVER_ACCOUNT, bounded=False)

    def _calibrated(self, task: TaskState) -> None:
        for session in [*self.sessions.values(), *self.pull_sessions.values()]:
            if session.task is task:
                self._attach_difficulty(session)
                if session.kind == "ws":
                    self.send_job(session, "vardiff")

    def _tick_seconds(self) -> float:
        cfg = self.config
        periods = [1.0, cfg.job_interval_seconds / 4, cfg.retarget_seconds / 4]
        if cfg.idle_schedule is not None:
            periods.append(min(cfg.idle_schedule.work_seconds, cfg.idle_schedule.idle_seconds) / 4)
        return max(0.05, min(periods))

    async def _periodic(self) -> None:
        next_push = time.monotonic() + self.config.job_interval_seconds
        while True:
            await asyncio.sleep(self._tick_seconds())
            try:
                self._tick(next_push)
            except Exception:  # a timer must survive anything a tick can raise
                log.exception("workserver.tick_failed")
            if time.monotonic() >= next_push:
                next_push = time.monotonic() + self.config.job_interval_seconds

    def _take_over_full_gc(self, period: float) -> None:
        """Python runs a full collection when allocation crosses its threshold: in a push, which allocates
        a job per session, so every few dozen pushes one stalled for a pass over every session's objects
        (``benchmarks/pool_scale.py``: one round in twenty at ~2x the others' p99). Young generations are
        still collected as before; a due full collection runs shortly after the next push (job changes
        come seconds apart), or from the tick when none came for a whole period."""
        self._gc_thresholds = gc.get_threshold()
        young, middle, _ = self._gc_thresholds
        gc.set_threshold(young, middle, 2**31 - 1)  # never reached: no automatic full collection
        self._next_full_gc = time.monotonic() + period

    def _full_gc_if_due(self, *, after_push: bool = False) -> None:
        """Run a due full collection: just after a push (the last frames written), or from the tick once
        it is a whole period late (no push came)."""
        period, now = self.config.full_gc_seconds, time.monotonic()
        if period is None or self._broadcasting or self.closing or now < self._next_full_gc:
            return
        if not after_push and now < self._next_full_gc + period:
            return
        started = time.perf_counter()
        gc.collect()
        self.metrics.full_gc_seconds.observe(time.perf_counter() - started)
        self._next_full_gc = time.monotonic() + period

    def _full_gc_after_push(self) -> None:
        self._full_gc_if_due(after_push=True)

    def _tick(self, next_push: float) -> None:
        now = time.monotonic()
        self._check_idle()
        for session in [*self.sessions.values(), *self.pull_sessions.values()]:
            diff = session.difficulty
            if diff is not None and diff.due(now) and self._share_threshold(session) is not None \
                    and diff.retarget(now, session.task.entry.threshold) and session.kind == "ws":
                self.send_job(session, "vardiff")
        self.training.tick(now)
        if now >= next_push:
            self.broadcast("periodic")
        else:
            self._full_gc_if_due()
        ttl = self.config.pull_session_ttl_seconds
        while self.pull_sessions:
            key, oldest = next(iter(self.pull_sessions.items()))
            if now - oldest.last_seen < ttl:
                break
            del self.pull_sessions[key]
