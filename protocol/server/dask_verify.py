"""Verification on a Dask distributed cluster: ``neuraxon-miner workserver --verifier tcp://host:8786``.

A verification is a pure function of (task, identity, nonce, seed, parent): :func:`compute` calls
:meth:`Verifier.compute <protocol.server.verify.Verifier.compute>` on a worker — for the built-in
verifiers the scoring registry's one scoring path, exactly as the in-process pool does. Being pure,
a verification whose worker is lost is simply run again by Dask (the scheduler reschedules the
tasks of a lost worker), and the front-end that submitted it receives one outcome and records one
verdict: the ledger's unique key would refuse a second record anyway.

Workers load the scorers once: :class:`VerifierPlugin` (a Dask ``WorkerPlugin``) imports the
scorers and loads their compiled kernels (numba's cache) on every worker, and prepares the
front-end's tasks there, so the registry's per-process prepare cache (keyed by the task's content,
seed and parent) already holds them when the first submission arrives. A front-end registers it in
:meth:`DaskVerificationPool.warm_up`; ``dask worker --preload protocol.server.dask_verify`` warms a
worker before it takes any task (:func:`dask_setup`).

Failures: a scheduler that cannot be reached at start raises
:class:`~protocol.server.verify.VerifierUnavailableError` (the CLI exits 2); one that goes away later
fails the verifications in flight and new ones with the same error (the submit is answered
``SERVER_BUSY``: the miner keeps its result and sends it again), while a background task reconnects
(the client's own reconnection, then a new client) until the scheduler is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from distributed import Client, WorkerPlugin
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from protocol.server.verify import (
    VerificationError,
    Verifier,
    VerifierUnavailableError,
    VerifyOutcome,
    VerifyRequest,
    warm_up_scorers,
)
from scoring import registry
from scoring.ids import k12_hex

__all__ = ["DaskVerificationPool", "PreparedTask", "VerifierPlugin", "compute", "dask_setup"]

log = structlog.get_logger("workserver")

#: (registry entry name, task model, seed): a task a worker prepares once, when the plugin is set up.
PreparedTask = tuple[str, Any, bytes | None]

#: Exceptions meaning "the scheduler (or the connection to it) is gone", not "the score failed".
_LOST = (FutureCancelledError, CommClosedError, OSError)


def compute(verifier: Verifier, request: VerifyRequest) -> VerifyOutcome:
    """The Dask task: one verification, on a worker (pure; safe to run again after a worker loss)."""
    return verifier.compute(request)


class VerifierPlugin(WorkerPlugin):
    """Loads the scorers once per worker and prepares ``tasks`` there (see the module docstring).

    Set up in a thread of the worker, so a first JIT compile does not stall its heartbeats.
    """

    def __init__(self, tasks: Sequence[PreparedTask] = ()) -> None:
        self.tasks = tuple(tasks)
        digest = k12_hex(repr(sorted((name, repr(registry.entry(name).task_key(task)), seed)
                                     for name, task, seed in self.tasks)).encode())
        self.name = f"neuraxon-verifier-{digest[:16]}"

    async def setup(self, worker: Any) -> None:
        await asyncio.to_thread(self.prepare)

    def prepare(self) -> None:
        """Warm the kernels, then prepare every task (the registry's prepare cache keeps them)."""
        warm_up_scorers()
        for name, task, seed in self.tasks:
            with contextlib.suppress(registry.TaskError, registry.ParentError):  # the verification says why
                registry.entry(name).prepare(task, seed=seed)


async def dask_setup(worker: Any) -> None:
    """``dask worker --preload protocol.server.dask_verify``: warm the scorers before taking tasks."""
    await worker.plugin_add(VerifierPlugin(), name="neuraxon-verifier-preload")


class DaskVerificationPool:
    """A :class:`~protocol.server.verify.VerificationExecutor` on the Dask cluster at ``address``.

    ``tasks`` are prepared on every worker by :meth:`warm_up`; ``on_capacity`` is called when the
    cluster's thread count grows (the fair scheduler then starts more verifications);
    ``connect_timeout`` bounds each connection attempt, in seconds; ``refresh_seconds`` is how often
    the thread count is read (and a lost scheduler tried again).
    """

    def __init__(self, address: str, *, tasks: Sequence[PreparedTask] = (), connect_timeout: float = 10.0,
                 refresh_seconds: float = 2.0, name: str = "workserver") -> None:
        self.address = address
        self.tasks = tuple(tasks)
        self.connect_timeout = connect_timeout
        self.refresh_seconds = refresh_seconds
        self.name = name
        self.on_capacity: Callable[[], None] | None = None
        self._client: Client | None = None
        self._threads = 0
        self._reconnect: asyncio.Task[None] | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def workers(self) -> int:
        return max(1, self._threads)

    def watch_capacity(self, callback: Callable[[], None]) -> None:
        self.on_capacity = callback

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the scheduler right now."""
        return self._client is not None and self._client.status == "running"

    async def start(self) -> None:
        """Connect; :class:`VerifierUnavailableError` (naming the address) when the scheduler does not answer."""
        try:
            await self._connect()
        except (*_LOST, TimeoutError) as exc:
            raise VerifierUnavailableError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        self._refresh = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _connect(self) -> None:
        client = await Client(self.address, asynchronous=True, timeout=self.connect_timeout,
                              name=self.name, set_as_default=False)
        old, self._client = self._client, client
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        await self._read_threads()
        log.info("workserver.verifier_connected", scheduler=self.address, threads=self._threads)

    async def _read_threads(self) -> None:
        assert self._client is not None and self._client.scheduler is not None
        info = await self._client.scheduler.identity(n_workers=0)
        threads = int(info.get("total_threads", 0))
        grew = threads > self._threads
        self._threads = threads
        if grew and self.on_capacity is not None:
            self.on_capacity()

    async def _refresh_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.refresh_seconds)
            if self.connected:
                with contextlib.suppress(*_LOST, TimeoutError):
                    await self._read_threads()
            elif self._client is not None and self._client.status in ("closed", "closing", "failed"):
                self._unavailable()

    def _unavailable(self) -> VerifierUnavailableError:
        """Count an outage, start reconnecting (once), and the error to answer with."""
        if self._reconnect is None or self._reconnect.done():
            log.warning("workserver.verifier_unavailable", scheduler=self.address)
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())
        return VerifierUnavailableError(f"the verification cluster at {self.address} is unreachable")

    async def _reconnect_loop(self) -> None:
        # The client reconnects on its own for a while ("connecting"); once it gave up, a new one.
        while not self._closed and not self.connected:
            client = self._client
            if client is None or client.status not in ("connecting", "running"):
                with contextlib.suppress(*_LOST, TimeoutError):
                    await self._connect()
                    return
            await asyncio.sleep(min(1.0, self.refresh_seconds))
        if self.connected:
            with contextlib.suppress(*_LOST, TimeoutError):
                await self._read_threads()
            log.info("workserver.verifier_connected", scheduler=self.address, threads=self._threads)

    async def run(self, verifier: Verifier, request: VerifyRequest, *, force: bool = False,
                  priority: int = 0) -> VerifyOutcome:
        """Compute ``request`` on the cluster (``force`` is moot: the fair scheduler bounds the load);
        the scheduler starts queued tasks of higher ``priority`` first (the pool-wide turns of
        :mod:`protocol.server.turns`)."""
        client = self._client
        if self._closed or client is None or not self.connected:
            raise self._unavailable()
        future = client.submit(compute, verifier, request, pure=False, priority=priority)
        try:
            outcome: VerifyOutcome = await future
        except _LOST:
            raise self._unavailable() from None
        except KilledWorker as exc:  # it took down several workers in turn: do not try it again
            raise VerificationError(f"the verification killed the workers that ran it: {exc}") from None
        finally:
            with contextlib.suppress(Exception):
                future.release()
        return outcome

    async def warm_up(self) -> None:
        """Register :class:`VerifierPlugin` (with this front-end's tasks): every worker, present and
        future, warms its scorers and prepares the tasks once."""
        if self._client is None or not self.connected:
            return
        plugin = VerifierPlugin(self.tasks)
        await self._client.register_plugin(plugin, name=plugin.name)

    def pause(self) -> None:
        """Workers run elsewhere: a job push does not compete with them."""

    def resume(self) -> None:
        """See :meth:`pause`."""

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._refresh, self._reconnect):
            if task is not None:
                task.cancel()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
