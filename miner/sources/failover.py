"""The failover strategy (after xmrig's ``FailoverStrategy``): the rest of the miner never counts servers.

Servers are tried in priority order. A failed connect, or the loss of an established session,
counts one failure of that server; after ``retries`` consecutive failures the strategy moves to the
next server (wrapping around). Before every reconnect it sleeps a full-jitter exponential backoff
(:class:`~miner.backoff.Backoff`), reset by each successful login, so a fleet that lost its server
does not come back in lock-step.

While on a backup, the primary is tried every ``primary_retry_seconds``; when it answers, the new
session becomes active and the backup is drained, then closed: it stays open while the listener
holds results of the backup's work (being computed, found, or sent and unanswered), at most
``drain_timeout``. Worst-case time from a dead primary to a working backup, when the primary refuses
connections: the backoff bounds of ``retries`` failures, ``initial * (2**retries - 1)`` capped per
step; with a black-holed primary add ``retries * connect_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from miner.backoff import Backoff
from miner.sources.connection import ConnectError, ServerConnection, ServerEndpoint, SessionLostError
from protocol.messages import StratumJob

__all__ = ["FailoverPolicy", "FailoverStrategy", "SourceListener"]

log = structlog.get_logger("miner")

Opener = Callable[[ServerEndpoint], Awaitable[ServerConnection]]


class SourceListener(Protocol):
    """What the strategy reports (the daemon implements it)."""

    def on_connected(self, conn: ServerConnection) -> None:
        """A session became the active one (``conn.first_job`` is its first job)."""

    def on_job(self, conn: ServerConnection, job: StratumJob) -> None:
        """The active session delivered a new job."""

    def on_disconnected(self, conn: ServerConnection, reason: str) -> None:
        """The active session ended (or was replaced)."""

    def on_connect_failed(self, endpoint: ServerEndpoint, reason: str, detail: str) -> None:
        """A connect attempt failed."""

    def on_switch(self, old: ServerEndpoint, new: ServerEndpoint, why: str) -> None:
        """The strategy moves to another server (failover or return to the primary)."""

    def holds_results_for(self, server_url: str) -> bool:
        """Whether results of ``server_url``'s work still need its session: found and not yet answered, or
        being computed. A replaced session is drained (kept open, within ``drain_timeout``) while it is true."""


@dataclass(frozen=True)
class FailoverPolicy:
    """Retry and failover timing (seconds)."""

    retries: int = 3
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    primary_retry: float = 60.0
    drain_timeout: float = 30.0


class FailoverStrategy:
    """Keeps one active session over an ordered server list; see the module docstring."""

    def __init__(self, endpoints: list[ServerEndpoint], opener: Opener, listener: SourceListener,
                 policy: FailoverPolicy | None = None, *, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not endpoints:
            raise ValueError("a failover strategy needs at least one server")
        self.endpoints = endpoints
        self.opener = opener
        self.listener = listener
        self.policy = policy or FailoverPolicy()
        self.backoff = Backoff(self.policy.backoff_initial, self.policy.backoff_max, rng=rng)
        self.index = 0
        self.failures = 0
        self.active: ServerConnection | None = None
        self.draining: list[ServerConnection] = []
        self.switches = 0
        self._background: set[asyncio.Task[None]] = set()
        #: Every wait (backoff, primary probe) goes through this; tests record the delays asked for.
        self._sleep = sleep

    def _open_sessions(self) -> Iterator[ServerConnection]:
        """The open sessions: the active one first, then those being drained."""
        return (c for c in [self.active, *self.draining] if c is not None and not c.closed)

    def connection_for(self, server_url: str) -> ServerConnection | None:
        """An open session with ``server_url`` (the active one, or one being drained), if any."""
        return next((c for c in self._open_sessions() if c.endpoint.url == server_url), None)

    def pool_connection(self, pool_id: str) -> ServerConnection | None:
        """An open session with a server of pool ``pool_id`` (its jobs' ``PoolId``), the active one first."""
        return next((c for c in self._open_sessions() if c.latest_job.pool_id == pool_id), None)

    async def run(self) -> None:
        """Connect, hold, fail over and return, until cancelled."""
        promoted: ServerConnection | None = None
        try:
            while True:
                endpoint = self.endpoints[self.index]
                if promoted is not None:
                    conn, promoted = promoted, None
                else:
                    try:
                        conn = await self.opener(endpoint)
                    except ConnectError as exc:
                        self.listener.on_connect_failed(endpoint, exc.reason, exc.detail)
                        self._count_failure(endpoint, f"{exc.reason}: {exc.detail}")
                        await self._sleep(self.backoff.next_delay())
                        continue
                self.backoff.reset()
                self.failures = 0
                promoted = await self._hold(conn)
                if promoted is None:
                    await self._sleep(self.backoff.next_delay())
        finally:
            await self._close_all()

    def _count_failure(self, endpoint: ServerEndpoint, why: str) -> None:
        self.failures += 1
        if self.failures >= self.policy.retries and len(self.endpoints) > 1:
            new_index = (self.index + 1) % len(self.endpoints)
            self.listener.on_switch(endpoint, self.endpoints[new_index],
                                    f"{self.failures} consecutive failures (last: {why})")
            self.index = new_index
            self.failures = 0
            self.switches += 1

    async def _hold(self, conn: ServerConnection) -> ServerConnection | None:
        """Serve ``conn`` until it ends (returns ``None``) or the primary is back (returns its session)."""
        self.active = conn
        conn.on_job = self._deliver
        self.listener.on_connected(conn)
        session = asyncio.ensure_future(conn.run())
        probe = asyncio.ensure_future(self._probe_primary()) if self.index != 0 else None
        waiting: set[asyncio.Future[Any]] = {session}
        if probe is not None:
            waiting.add(probe)
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            session.cancel()
            if probe is not None:
                probe.cancel()
            raise
        if probe is not None and probe in done and probe.exception() is None and probe.result() is not None:
            primary = probe.result()
            assert isinstance(primary, ServerConnection)
            old = self.endpoints[self.index]
            self.listener.on_switch(old, self.endpoints[0], "the primary server is back")
            self.switches += 1
            self.index = 0
            self.active = None
            self.listener.on_disconnected(conn, "primary_back")
            self._drain(conn, session)
            return primary
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                late = await probe
                if isinstance(late, ServerConnection):
                    await late.close()
        reason = "closed"
        try:
            session.result()
        except SessionLostError as exc:
            reason = exc.reason
            log.info("server_lost", server=conn.endpoint.url, reason=exc.reason, detail=exc.detail)
        except Exception as exc:  # a bug in a session must not stop the strategy
            reason = "error"
            log.exception("session_failed", server=conn.endpoint.url, error=repr(exc))
        self.active = None
        self.listener.on_disconnected(conn, reason)
        self._count_failure(conn.endpoint, reason)
        return None

    def _deliver(self, conn: ServerConnection, job: StratumJob) -> None:
        if conn is self.active:
            self.listener.on_job(conn, job)

    async def _probe_primary(self) -> ServerConnection | None:
        primary = self.endpoints[0]
        while True:
            await self._sleep(self.policy.primary_retry)
            try:
                return await self.opener(primary)
            except ConnectError as exc:
                self.listener.on_connect_failed(primary, exc.reason, exc.detail)

    def _drain(self, conn: ServerConnection, session: asyncio.Future[None]) -> None:
        self.draining.append(conn)

        async def drain() -> None:
            try:
                url = conn.endpoint.url
                await conn.drain(self.policy.drain_timeout, lambda: self.listener.holds_results_for(url))
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(session, 5.0)
            finally:
                with contextlib.suppress(ValueError):
                    self.draining.remove(conn)

        task = asyncio.get_running_loop().create_task(drain())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_all(self) -> None:
        for conn in [self.active, *self.draining]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        for task in list(self._background):
            task.cancel()
        self.active = None
