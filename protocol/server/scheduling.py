"""Fair verification scheduling: one budget that every account shares, in front of the verifiers.

Recomputing a claimed score is the work server's expensive resource (a default Neuraxon score is
~0.1 s of a core) while a claim costs its sender nothing, so first come, first served lets one
account with many connections fill the queue with wrong claims. Pools and qubic/core treat
verification as a shared budget instead (see ``docs/workserver.md``, "Abuse"). Here:

* Every item belongs to an account and a connection, and each has a bound on its items in flight
  (queued or running): ``max_per_account`` and ``max_per_connection``; a submit over either bound is
  refused with :class:`SchedulerBusyError` (``SERVER_BUSY``) without costing anything.
* Dispatch is round robin over the accounts with queued items, one item per turn. An account that
  queues an item joins the end of the rotation, so its item is started after at most one queued item
  of every other account (plus the items already running).
* Items queued as ``low`` (the service marks an account that made a wrong claim recently: a suspect)
  wait in a second rotation that is served only when the first one is empty, so a cheater delays
  honest accounts by at most the one item it had queued before its first wrong claim came back.
* The whole queue holds at most ``max_queued`` items. When it is full, an item of an account with
  fewer queued items than the longest queue displaces the newest item of that queue (whose sender is
  answered ``SERVER_BUSY``): a flood never makes a lightly loaded account busy.
* :meth:`FairScheduler.drop_connection` removes a closed connection's queued items (nobody would read
  their answers); :meth:`FairScheduler.drop_account` those of a banned account.
* The server's own work (calibration and parent-bar walks) queues as :data:`SERVER_ACCOUNT`, outside
  the bounds, and takes its turn like any account.

Policy and execution are apart: :class:`FairQueue` is a plain data structure (no asyncio, no
executor) and :class:`FairScheduler` feeds its items to a
:class:`~protocol.server.verify.VerificationExecutor` with ``workers`` slots, never more at once, so
the executor's own queue stays empty and the order is the scheduler's — the in-process pool or a
Dask cluster alike (``--verifier``; with Dask, ``workers`` is the cluster's thread count).

Front-ends of a pool (a PostgreSQL ledger and one Dask cluster) make the turns and the per-account
bound pool-wide through :class:`Turns` (:class:`~protocol.server.turns.SharedTurns`): each item then
carries a pool-wide ``tag`` (its account's turn), the queue pops the lowest tag instead of the next
account in its own rotation, and the cluster runs items by tag as well. Without it (the default), no
tags: the round robin above, per server.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from protocol.server.verify import PoolBusyError, VerificationExecutor, Verifier, VerifyOutcome, VerifyRequest

__all__ = [
    "SERVER_ACCOUNT",
    "FairQueue",
    "FairScheduler",
    "QueueItem",
    "SchedulerBusyError",
    "Turns",
    "VerificationDroppedError",
    "VerificationExecutor",
]

#: The account of the server's own verification work (calibration, parent bars); no client has it.
SERVER_ACCOUNT = "\x00server"


class SchedulerBusyError(PoolBusyError):
    """The item was refused or displaced: its account, connection or the whole queue is full."""


class VerificationDroppedError(Exception):
    """A queued item was removed before it ran (its connection closed, its account was banned)."""


@dataclass(eq=False)
class QueueItem:
    """One unit of work in a :class:`FairQueue`; ``payload`` is the scheduler's business."""

    account: str
    connection: Hashable
    payload: Any = None
    #: Whether the per-account and per-connection bounds apply (not for the server's own work).
    bounded: bool = True
    #: Served only when no other account waits: a low item moves its whole account to the low rotation
    #: (until the account's queue empties).
    low: bool = False
    #: The item's pool-wide turn when front-ends share them (:class:`Turns`); lower is served first.
    tag: int | None = None
    running: bool = field(default=False, init=False)


class FairQueue:
    """Round robin over accounts, with per-account, per-connection and total bounds (no I/O).

    Counts: an item is *in flight* from :meth:`admit` until :meth:`finished` (after it ran) or until
    it is removed (:meth:`remove`, a displacement); *queued* until :meth:`pop` hands it out.
    """

    def __init__(self, *, max_queued: int, max_per_account: int, max_per_connection: int) -> None:
        if min(max_queued, max_per_account, max_per_connection) < 1:
            raise ValueError("scheduler bounds must be >= 1")
        self.max_queued = max_queued
        self.max_per_account = max_per_account
        self.max_per_connection = max_per_connection
        self._queues: dict[str, deque[QueueItem]] = {}
        self._rotation: deque[str] = deque()  # accounts with queued items, in turn order
        self._low: deque[str] = deque()  # the same for low-priority accounts, served when the first is empty
        self._per_account: Counter[str] = Counter()
        self._per_connection: Counter[Hashable] = Counter()
        self.queued = 0

    def __len__(self) -> int:
        return self.queued

    def in_flight(self, account: str) -> int:
        """Items of ``account`` queued or running (bounded items only)."""
        return self._per_account[account]

    def check(self, item: QueueItem) -> None:
        """Raise :class:`SchedulerBusyError` if ``item``'s connection or account is at its bound."""
        if item.bounded:
            if self._per_connection[item.connection] >= self.max_per_connection:
                raise SchedulerBusyError("too many submissions of this connection in verification")
            if self._per_account[item.account] >= self.max_per_account:
                raise SchedulerBusyError("too many submissions of this account in verification")

    def admit(self, item: QueueItem) -> list[QueueItem]:
        """Queue ``item``; returns the items it displaced (already removed). Raises :class:`SchedulerBusyError`."""
        self.check(item)
        displaced: list[QueueItem] = []
        if self.queued >= self.max_queued:
            longest = max(self._queues, key=lambda a: len(self._queues[a]), default=None)
            own = len(self._queues.get(item.account, ()))
            if longest is None or longest == item.account or own + 1 >= len(self._queues[longest]):
                raise SchedulerBusyError("the verification queue is full")
            victim = self._queues[longest].pop()  # its newest: the longest queue keeps its place in turn
            self.queued -= 1
            self._release(victim)
            displaced.append(victim)
        queue = self._queues.get(item.account)
        if queue is None:
            queue = self._queues[item.account] = deque()
            (self._low if item.low else self._rotation).append(item.account)
        elif item.low and item.account in self._rotation:  # became a suspect while queued: demoted now
            self._rotation.remove(item.account)
            self._low.append(item.account)
        queue.append(item)
        if item.tag is not None and len(queue) > 1 and (queue[-2].tag or 0) > item.tag:
            self._queues[item.account] = queue = deque(sorted(queue, key=lambda i: i.tag or 0))  # turns in order
        self.queued += 1
        if item.bounded:
            self._per_account[item.account] += 1
            self._per_connection[item.connection] += 1
        return displaced

    def pop(self) -> QueueItem | None:
        """The next item to run: the first of the account whose turn it is (``None`` when empty) — with
        pool-wide tags, the account whose first item has the lowest tag (ties: rotation order)."""
        rotation = self._rotation or self._low
        account = self._next_account()
        if account is None:
            return None
        if account == rotation[0]:
            rotation.popleft()
        else:
            rotation.remove(account)
        queue = self._queues[account]
        item = queue.popleft()
        if queue:
            rotation.append(account)
        else:
            del self._queues[account]
        self.queued -= 1
        item.running = True
        return item

    def peek(self) -> QueueItem | None:
        """The item :meth:`pop` would return, left in place."""
        account = self._next_account()
        return None if account is None else self._queues[account][0]

    def _next_account(self) -> str | None:
        rotation = self._rotation or self._low
        if not rotation:
            return None
        if self._queues[rotation[0]][0].tag is None:
            return rotation[0]
        # O(accounts queued here) per pop: verifications are far slower than this scan.
        return min(rotation, key=lambda a: self._queues[a][0].tag or 0)

    def finished(self, item: QueueItem) -> None:
        """A popped item ran; it no longer counts against its account and connection."""
        self._release(item)

    def remove(self, match: Callable[[QueueItem], bool]) -> list[QueueItem]:
        """Remove and return the queued (not running) items for which ``match`` is true."""
        removed: list[QueueItem] = []
        for account in list(self._queues):
            queue = self._queues[account]
            kept = deque(i for i in queue if not match(i))
            if len(kept) == len(queue):
                continue
            removed += [i for i in queue if match(i)]
            if kept:
                self._queues[account] = kept
            else:
                del self._queues[account]
                (self._rotation if account in self._rotation else self._low).remove(account)
        for item in removed:
            self.queued -= 1
            self._release(item)
        return removed

    def _release(self, item: QueueItem) -> None:
        if not item.bounded:
            return
        _decrement(self._per_account, item.account)
        _decrement(self._per_connection, item.connection)


def _decrement(counter: Counter[Any], key: Hashable) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class Turns(Protocol):
    """Pool-wide turns and per-account bounds shared by front-ends (:class:`~protocol.server.turns.SharedTurns`)."""

    async def acquire(self, account: str, *, bounded: bool = True, low: bool = False) -> Any:
        """A lease with ``.tag`` (the turn), ``.clock`` (the pool's clock when it was taken), ``.low``
        and ``.priority`` (for the cluster); raises
        :class:`SchedulerBusyError` when the account is at its pool-wide bound."""
        ...

    async def release(self, lease: Any, *, ran: bool) -> None:
        """Give the lease back (``ran``: the item was verified); never raises."""
        ...


@dataclass(eq=False)
class _Job:
    verifier: Verifier
    request: VerifyRequest
    future: asyncio.Future[VerifyOutcome]
    lease: Any = None


class FairScheduler:
    """Runs verifications through a :class:`FairQueue`, at most ``executor.workers`` at a time.

    ``on_drop(item, reason)`` is told of every item that is displaced or dropped (for metrics);
    ``turns`` makes turns and the per-account bound pool-wide (module docstring).
    """

    def __init__(self, executor: VerificationExecutor, *, max_queued: int, max_per_account: int,
                 max_per_connection: int, on_drop: Callable[[QueueItem, str], None] | None = None,
                 turns: Turns | None = None) -> None:
        self.executor = executor
        self.queue = FairQueue(max_queued=max_queued, max_per_account=max_per_account,
                               max_per_connection=max_per_connection)
        self.running = 0
        self._on_drop = on_drop or (lambda item, reason: None)
        self.turns = turns
        #: With ``turns``: the highest pool clock seen (in leases taken, and verdicts of normal items).
        self.clock = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Items queued or running."""
        return self.queue.queued + self.running

    async def run(self, verifier: Verifier, request: VerifyRequest, *, account: str,
                  connection: Hashable = None, bounded: bool = True, low: bool = False) -> VerifyOutcome:
        """Queue one computation and wait for its outcome (``low``: see :class:`QueueItem`).

        Raises :class:`SchedulerBusyError` (refused, or displaced while queued), :class:`VerificationDroppedError`
        (removed while queued), or whatever the executor raises.
        """
        future: asyncio.Future[VerifyOutcome] = asyncio.get_running_loop().create_future()
        job = _Job(verifier, request, future)
        item = QueueItem(account, connection, job, bounded, low)
        if self.turns is not None:
            self.queue.check(item)  # the local bounds first: refusing costs no database statement
            job.lease = await self.turns.acquire(account, bounded=bounded, low=low)
            item.tag = job.lease.tag
            self.clock = max(self.clock, job.lease.clock)
            try:
                displaced = self.queue.admit(item)
            except SchedulerBusyError:
                self._release(job, ran=False)
                raise
        else:
            displaced = self.queue.admit(item)
        for victim in displaced:
            self._fail(victim, SchedulerBusyError("the verification queue is full; resubmit later"), "displaced")
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if not item.running and self.queue.remove(lambda queued: queued is item):  # nobody waits for it any more
                self._release(job, ran=False)
            raise

    def capacity_changed(self) -> None:
        """The executor can run more at once now (a cluster gained workers): start queued items."""
        self._dispatch()

    def drop_connection(self, connection: Hashable) -> int:
        """Remove the queued items of a closed connection; returns how many."""
        return self._drop(lambda item: item.connection == connection, "disconnected")

    def drop_account(self, account: str) -> int:
        """Remove the queued items of ``account`` (e.g. banned); returns how many."""
        return self._drop(lambda item: item.account == account, "banned")

    def drop_all(self) -> int:
        """Remove every queued item (the server is stopping); running ones finish."""
        return self._drop(lambda item: True, "stopping")

    def _drop(self, match: Callable[[QueueItem], bool], reason: str) -> int:
        removed = self.queue.remove(match)
        for item in removed:
            self._fail(item, VerificationDroppedError(reason), reason)
        return len(removed)

    def _fail(self, item: QueueItem, exc: Exception, reason: str) -> None:
        job: _Job = item.payload
        if not job.future.done():
            job.future.set_exception(exc)
        self._release(job, ran=False)
        self._on_drop(item, reason)

    def _release(self, job: _Job, *, ran: bool) -> None:
        """Give a job's pool-wide lease back (in the background: nothing waits for it)."""
        lease, job.lease = job.lease, None
        if lease is None or self.turns is None:
            return
        if ran and not lease.low:
            self.clock = max(self.clock, lease.tag)
        task = asyncio.get_running_loop().create_task(self.turns.release(lease, ran=ran))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self.running < self.executor.workers or self._current_turn():
            item = self.queue.pop()
            if item is None:
                return
            self.running += 1
            task = loop.create_task(self._execute(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _current_turn(self) -> bool:
        """With pool-wide turns: whether the next item's turn is the pool's current one (its tag at most
        one past the clock). Such an item goes to the cluster at once, beyond this front-end's share of
        the slots, so the cluster — which runs the lowest tags first — can start it before the items
        of later turns that other front-ends sent (``docs/pool.md``)."""
        head = self.queue.peek()
        return head is not None and head.tag is not None and not head.low and head.tag <= self.clock + 1

    async def _execute(self, item: QueueItem) -> None:
        job: _Job = item.payload
        ran = False
        try:
            # With pool-wide turns the cluster orders the front-ends' items by their turns too.
            priority = 0 if job.lease is None else job.lease.priority
            outcome = await self.executor.run(job.verifier, job.request, force=True, priority=priority)
            ran = True
        except Exception as exc:  # delivered to the waiting submit, which answers it
            if not job.future.done():
                job.future.set_exception(exc)
        else:
            if not job.future.done():
                job.future.set_result(outcome)
        finally:
            self.running -= 1
            self.queue.finished(item)
            self._release(job, ran=ran)
            self._dispatch()
