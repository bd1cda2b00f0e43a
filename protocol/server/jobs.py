"""Jobs: per-task work state, sessions, and the book of issued jobs that submit checks consult.

A job's *work* is ``(epoch, task, parent, threshold, idle)`` (:data:`WorkKey`). The server validates one
:class:`~protocol.messages.StratumJob` template per work and reissues it per worker (new ``JobId``,
the worker's ``Identity``, ``NoncePrefix`` and ``ShareThreshold``) — cheap enough to push to
thousands of connections at once. A submit is *stale* when its job's work is no longer the task's
current work (the parent improved, the epoch changed, idle began); a job whose share bar was
re-targeted keeps its work and stays valid.

Job ids are ``<run>.<sequence>`` with a random run id per server start, so a job from before a
restart, or one already dropped from the book, is recognised as stale rather than unknown.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol.codec import JobTemplate
from protocol.errors import ErrorCode
from protocol.fields import Algo
from protocol.messages import JobParent, Message, StratumJob
from protocol.server.ledger import AsyncLedger, Ledger, ProgressRow
from protocol.server.tasks import TaskEntry
from protocol.server.vardiff import ScoreDistribution, ShareDifficulty
from protocol.server.verify import Verifier
from scoring.ids import k12

__all__ = ["PREFIX_BLOCK", "PREFIX_BYTES", "IssuedJob", "JobBook", "ParentNetwork", "PrefixAllocator", "Session",
           "TaskState", "WorkKey"]

#: Nonce prefixes are reserved from the ledger in blocks of this many (one commit per block).
PREFIX_BLOCK = 256
#: Bytes of a server-assigned ``NoncePrefix``.
PREFIX_BYTES = 4

#: ``(epoch, task_id, parent network id or "", job threshold, idle)``.
WorkKey = tuple[int, str, str, int, bool]

_JOB_ID = re.compile(r"([0-9a-f]{6})\.([0-9a-f]{1,15})")


@dataclass(frozen=True)
class ParentNetwork:
    """A task's best accepted network, as handed out for cumulative training."""

    network_id: str
    score: int
    network: dict[str, Any]
    body: bytes
    #: The ``Threshold`` of jobs naming this parent (``None``: the task's own threshold), set when it
    #: is published (see ``ServerConfig.parent_bar_walks``).
    threshold: int | None = None


class TaskState:
    """A task as served right now: entry, verifier, current parent, score distribution, history."""

    def __init__(self, entry: TaskEntry, verifier: Verifier) -> None:
        self.entry = entry
        self.verifier = verifier
        #: The parent named in jobs (published); ``best`` may be newer until the next refresh.
        self.parent: ParentNetwork | None = None
        self.best: ParentNetwork | None = None
        self.published_at = float("-inf")
        #: A best network being sampled before it is published (at most one at a time).
        self.publishing = False
        #: The root's score distribution is being sampled (a parent's bar waits for it).
        self.calibrating = False
        self.distribution: ScoreDistribution | None = None
        self.history: list[ProgressRow] = []
        self.solutions = 0
        self.shares = 0

    @property
    def task_id(self) -> str:
        """The wire ``TaskId``."""
        return self.entry.task_id

    @property
    def algo(self) -> Algo:
        """The task's algorithm."""
        return self.entry.algo

    def publish_due(self, now: float, refresh_seconds: float) -> bool:
        """Whether a newer best network should become the jobs' parent now."""
        return (self.entry.training and not self.publishing and self.best is not None
                and (self.parent is None or self.best.network_id != self.parent.network_id)
                and (self.parent is None or now - self.published_at >= refresh_seconds))

    def publish(self, network: ParentNetwork, now: float) -> None:
        """Make ``network`` (a best network, with its job threshold) the parent of new jobs."""
        self.parent = network
        self.published_at = now

    @property
    def job_threshold(self) -> int:
        """The ``Threshold`` of new jobs: the parent's bar when it has one, else the task's."""
        if self.parent is not None and self.entry.training and self.parent.threshold is not None:
            return self.parent.threshold
        return self.entry.threshold

    def better(self, a: int, b: int) -> bool:
        """Whether score ``a`` strictly beats ``b`` in the algorithm's direction."""
        return a > b if self.algo.higher_is_better else a < b

    def work_key(self, epoch: int, idle: bool) -> WorkKey:
        """The current work of this task."""
        parent = self.parent.network_id if self.parent is not None and self.entry.training else ""
        return (epoch, self.task_id, parent, self.job_threshold, idle)

    def job_parent(self, *, inline: bool) -> JobParent | None:
        """The ``Parent`` field for new jobs (``None`` before the first solution or without training)."""
        if self.parent is None or not self.entry.training:
            return None
        p = self.parent
        if inline:
            return JobParent(parent_id=p.network_id, score=p.score, network=p.network)
        return JobParent(parent_id=p.network_id, score=p.score, network_hash=p.network_id,
                         network_url=f"/api/v1/tasks/{self.task_id}/networks/{p.network_id}")

    def template(self, key: WorkKey, identity: str, *, inline_task: bool, inline_parent: bool,
                 pool_id: str | None = None) -> StratumJob:
        """A validated job for ``key`` and ``identity``; per-worker fields are filled by reissue."""
        epoch, task_id, _, _, idle = key
        if idle:
            return StratumJob.idle(job_id="template", epoch=epoch, identity=identity, algo=self.algo, pool_id=pool_id)
        entry = self.entry
        seed = bytes.fromhex(entry.seed) if entry.seed else k12(repr(key).encode())
        inline = entry.inline if inline_task else None
        return StratumJob(
            job_id="template",
            epoch=epoch,
            algo=self.algo,
            random_seed=(seed if any(seed) else b"\x01" * 32).hex(),
            identity=identity,
            task_id=task_id,
            task=inline,
            task_url=None if inline is not None else entry.url,
            task_hash=None if inline is not None else entry.task_hash,
            threshold=self.job_threshold,
            parent=self.job_parent(inline=inline_parent),
            nonce_prefix="",
            pool_id=pool_id,
        )


@dataclass(eq=False)
class Session:
    """One logged-in miner: a WebSocket connection, or a pull-mode (account, worker) over HTTP.

    ``deliver`` (WebSocket only) queues a message (or its encoded text) for the connection, in order,
    without waiting;
    ``disconnect`` asks the connection to send an error ack with that code and close.
    """

    id: int
    kind: Literal["ws", "pull"]
    account: str
    worker: str
    identity: str
    threads: int
    prefix: str
    task: TaskState
    deliver: Callable[[Message | str], None] | None = None
    disconnect: Callable[[ErrorCode, str], None] | None = None
    difficulty: ShareDifficulty | None = None
    issued: IssuedJob | None = None
    #: The client's address (as the transport reports it; pull mode: of its latest request).
    address: str | None = None
    rejected: int = 0
    reported_rate: float | None = None
    last_seen: float = field(default_factory=time.monotonic)

    @property
    def worker_key(self) -> tuple[str, str]:
        """``(account, worker)``: who owns this session's jobs (a reconnect keeps them)."""
        return (self.account, self.worker)


class IssuedJob:
    """A job as issued to one worker: its template and per-worker fields. The
    :class:`~protocol.messages.StratumJob` object is built only when needed (a submit, a pull);
    pushes use :meth:`frame`, which is much cheaper."""

    __slots__ = ("_job", "identity", "issued_at", "job_id", "nonce_prefix", "share_threshold", "template",
                 "work", "worker_key")

    def __init__(self, template: JobTemplate, job_id: str, nonce_prefix: str, share_threshold: int | None,
                 identity: str, worker_key: tuple[str, str], work: WorkKey) -> None:
        self.template = template
        self.job_id = job_id
        self.nonce_prefix = nonce_prefix
        self.share_threshold = share_threshold
        self.identity = identity
        self.worker_key = worker_key
        self.work = work
        self.issued_at = time.time()
        self._job: StratumJob | None = None

    @property
    def job(self) -> StratumJob:
        """The job as a message model."""
        if self._job is None:
            self._job = self.template.issue(job_id=self.job_id, nonce_prefix=self.nonce_prefix,
                                            share_threshold=self.share_threshold, identity=self.identity)
        return self._job

    def frame(self) -> str:
        """The job's canonical wire text (``encode(self.job)``)."""
        return self.template.frame(job_id=self.job_id, nonce_prefix=self.nonce_prefix,
                                   share_threshold=self.share_threshold, identity=self.identity)


class JobBook:
    """Issued jobs by id (bounded, oldest dropped first) and the per-work templates."""

    def __init__(self, retention: int = 100_000) -> None:
        self.run_id = secrets.token_hex(3)
        self.retention = retention
        self._seq = 0
        self._jobs: OrderedDict[str, IssuedJob] = OrderedDict()
        self._templates: dict[WorkKey, JobTemplate] = {}
        self._dropped_below = 1  # every sequence number below this was dropped
        #: ``PoolId`` of every job (the ledger's; set when it is opened).
        self.pool_id: str | None = None

    def __len__(self) -> int:
        return len(self._jobs)

    def template(self, task: TaskState, key: WorkKey, identity: str, *, inline_task: bool,
                 inline_parent: bool) -> JobTemplate:
        """The cached template of ``key``, built (for ``identity``) on first use; :meth:`issue` sets
        each worker's identity."""
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > 1024:
                self._templates.clear()
            job = task.template(key, identity, inline_task=inline_task, inline_parent=inline_parent,
                                pool_id=self.pool_id)
            template = self._templates[key] = JobTemplate(job)
        return template

    def issue(self, template: JobTemplate, session: Session, key: WorkKey, share_threshold: int | None) -> IssuedJob:
        """A new job for ``session`` from ``template``, recorded in the book."""
        self._seq += 1
        job_id = f"{self.run_id}.{self._seq:x}"
        prefix = "" if template.job.is_idle else session.prefix
        issued = IssuedJob(template, job_id, prefix, share_threshold, session.identity, session.worker_key, key)
        self._jobs[job_id] = issued
        while len(self._jobs) > self.retention:
            old_id, _ = self._jobs.popitem(last=False)
            self._dropped_below = max(self._dropped_below, int(old_id.split(".")[1], 16) + 1)
        return issued

    def get(self, job_id: str) -> IssuedJob | None:
        """The job issued as ``job_id``, or ``None``."""
        return self._jobs.get(job_id)

    def retired(self, job_id: str) -> bool:
        """Whether ``job_id`` looks like one of ours that is gone: from an earlier run, or dropped."""
        match = _JOB_ID.fullmatch(job_id)
        if match is None:
            return False
        run, seq = match.group(1), int(match.group(2), 16)
        return run != self.run_id or seq < self._dropped_below


class PrefixAllocator:
    """Hands out ``NoncePrefix`` values from blocks reserved in the ledger (never one twice, across
    restarts). The next block is reserved in the background while half of the current one is left, so
    a login does not wait for the ledger's fsync (which a loaded disk stretches to a tenth of a second)."""

    def __init__(self, ledger: AsyncLedger, *, spawn: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        self._ledger = ledger
        self._spawn = spawn
        self._next = 0
        self._end = 0
        self._spare: tuple[int, int] | None = None
        self._lock = asyncio.Lock()

    async def allocate(self) -> str:
        """The next prefix, as hex."""
        async with self._lock:
            if self._next >= self._end:
                if self._spare is None:
                    self._spare = await self._reserve()
                (self._next, self._end), self._spare = self._spare, None
            number = self._next
            self._next += 1
            if self._spare is None and self._end - self._next == PREFIX_BLOCK // 2:
                self._spawn(self._reserve_spare())
        return (number % (1 << (8 * PREFIX_BYTES))).to_bytes(PREFIX_BYTES, "big").hex()

    async def _reserve(self) -> tuple[int, int]:
        start = await self._ledger.call(Ledger.allocate_prefixes, PREFIX_BLOCK)
        return start, start + PREFIX_BLOCK

    async def _reserve_spare(self) -> None:
        try:
            spare = await self._reserve()
        except RuntimeError:  # the ledger closed (the server is stopping): nothing to reserve for
            return
        async with self._lock:
            if self._spare is None:
                self._spare = spare
