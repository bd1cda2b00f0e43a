"""Recomputing scores: the :class:`Verifier` interface, its one implementation, and where it runs.

The server trusts no claimed score. Every submission that passes the cheap checks becomes a
:class:`VerifyRequest`, which a :class:`VerificationExecutor` runs off the event loop: the
:class:`VerificationPool` here (``--verifier local``, the default: threads, as the numba kernels
release the GIL, or processes), or :class:`~protocol.server.dask_verify.DaskVerificationPool`
(``--verifier tcp://scheduler:8786``: a Dask distributed cluster). :class:`ScoringVerifier` is the
protocol-level glue to the scoring registry (:mod:`scoring.registry`): the entry a task resolves to
says whether a nonce is canonical and computes the score — the same function the miner's workers call — plus the walk's
best network when the score is a solution and the algorithm trains networks. The direction of
"better" and the solution/share rules come from the job itself (:meth:`StratumJob.is_solution`,
:meth:`StratumJob.is_share`), so a new algorithm version plugs in as a registry entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from protocol.fields import Algo
from protocol.messages import StratumJob
from scoring import registry
from scoring.ids import k12

if TYPE_CHECKING:
    from protocol.server.tasks import TaskEntry

__all__ = [
    "PoolBusyError",
    "ScoringVerifier",
    "VerificationError",
    "VerificationExecutor",
    "VerificationPool",
    "Verifier",
    "VerifierUnavailableError",
    "VerifyOutcome",
    "VerifyRequest",
    "calibration_requests",
    "verifier_for",
]


class VerificationError(Exception):
    """A verifier could not compute a score (e.g. a parent network that does not fit the task)."""


class PoolBusyError(Exception):
    """The pool already holds its maximum of pending requests (answer SERVER_BUSY)."""


class VerifierUnavailableError(PoolBusyError):
    """The verification cluster cannot be reached (at start: exit 2; later: SERVER_BUSY, retry later)."""


@dataclass(frozen=True)
class VerifyRequest:
    """One score to recompute.

    ``task`` is the task entry's ``payload`` (the verifier's own input type); ``job`` is the job as
    issued (``None`` for calibration walks: then no network is exported); ``parent_network`` is the
    job's parent network object when the job names one, and ``parent_score`` its score when there is
    no job (calibration walks from a parent); ``seed`` is the job's ``RandomSeed``.
    """

    task: Any
    public_key: bytes
    nonce: bytes
    job: StratumJob | None = None
    parent_network: dict[str, Any] | None = None
    seed: bytes | None = None
    parent_score: int | None = None


@dataclass(frozen=True)
class VerifyOutcome:
    """The recomputed score; ``network`` is the walk's best network when the score is a solution of
    ``request.job`` and the algorithm trains networks (else ``None``); ``seconds`` is compute time."""

    score: int
    network: dict[str, Any] | None = None
    seconds: float = 0.0


@runtime_checkable
class Verifier(Protocol):
    """What the server needs from an algorithm. Implementations must be picklable (process pools)."""

    @property
    def algo(self) -> Algo:
        """The algorithm this verifier scores."""
        ...

    def check_nonce(self, nonce: bytes) -> str | None:
        """``None`` if ``nonce`` has the algorithm's canonical layout, else why not (INVALID_NONCE)."""
        ...

    def sample_nonce(self, raw: bytes) -> bytes:
        """A canonical nonce made from 32 random bytes (for calibration walks)."""
        ...

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        """Recompute the score (runs in a pool worker; may take seconds). Raises :class:`VerificationError`."""
        ...


class ScoringVerifier:
    """The verifier of one scoring-registry entry (by name, so it pickles to process pools as a name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def entry(self) -> registry.Algorithm:
        """The registry entry."""
        return registry.entry(self.name)

    @property
    def algo(self) -> Algo:
        return Algo(self.entry.algo)

    def check_nonce(self, nonce: bytes) -> str | None:
        return self.entry.check_nonce(nonce)

    def sample_nonce(self, raw: bytes) -> bytes:
        return self.entry.sample_nonce(raw)

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        started = time.perf_counter()
        entry = self.entry
        parent = None
        if request.parent_network is not None:
            score = request.job.parent.score if request.job is not None and request.job.parent is not None \
                else request.parent_score
            if score is None:
                raise VerificationError("a parent network needs its score (from the job or the request)")
            parent = registry.Parent(request.parent_network, score)
        try:
            prepared = entry.prepare(request.task, seed=request.seed, parent=parent)
        except (registry.ParentError, registry.TaskError) as exc:
            raise VerificationError(str(exc)) from None
        walk = entry.walk(prepared, request.public_key, request.nonce)
        network = None
        if entry.exports_network and request.job is not None and request.job.is_solution(walk.score):
            network = entry.export_network(prepared, walk)
        return VerifyOutcome(walk.score, network, time.perf_counter() - started)


class VerificationExecutor(Protocol):
    """Where verifications run: :class:`VerificationPool` (in-process) or a cluster client
    (:class:`~protocol.server.dask_verify.DaskVerificationPool`). The fair scheduler
    (:mod:`protocol.server.scheduling`) sits in front of either and keeps at most :attr:`workers`
    computations running in it."""

    @property
    def workers(self) -> int:
        """How many computations it runs at once (for a cluster: its threads right now, at least 1)."""
        ...

    async def start(self) -> None:
        """Connect or start; raises :class:`VerifierUnavailableError` when that is impossible."""
        ...

    async def run(self, verifier: Verifier, request: VerifyRequest, *, force: bool = False,
                  priority: int = 0) -> VerifyOutcome:
        """Compute one request (``force``: never refuse it; the scheduler bounds the load itself;
        ``priority``: a cluster runs higher first, the in-process pool ignores it, as the scheduler
        starts no more than it has workers).
        Raises :class:`VerificationError`, :class:`PoolBusyError` or :class:`VerifierUnavailableError`."""
        ...

    async def warm_up(self) -> None:
        """Load the scorers in every worker (numba's cache), so the first submissions do not wait for it."""
        ...

    def watch_capacity(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever :attr:`workers` grows (a cluster gained workers)."""
        ...

    def pause(self) -> None:
        """Suspend local verification work while a large job push runs (calls nest; may do nothing)."""
        ...

    def resume(self) -> None:
        """Undo one :meth:`pause`."""
        ...

    async def aclose(self) -> None:
        """Stop accepting work and release the workers or the connection."""
        ...


def verifier_for(task: TaskEntry, overrides: Mapping[Algo, Verifier] | None = None) -> Verifier:
    """The verifier of a served task: ``overrides[task.algo]`` when given (tests stub verifiers),
    else the registry entry its description resolves to. ``ValueError`` when there is none."""
    if overrides and task.algo in overrides:
        return overrides[task.algo]
    try:
        return ScoringVerifier(task.scoring_entry().name)
    except registry.UnknownAlgorithmError as exc:
        raise ValueError(f"no verifier for task {task.task_id}: {exc}") from None


def calibration_requests(verifier: Verifier, task_id: str, task: Any, count: int,
                         seed: bytes | None = None, *, parent: tuple[str, dict[str, Any], int] | None = None,
                         ) -> list[VerifyRequest]:
    """``count`` reproducible sample walks of a task (identity and nonce from K12 of the task id, the
    parent's id when given, and the sample index), used to learn the task's score distribution — from
    the root, or from ``parent`` = (network id, network, score)."""
    out = []
    label = f"calibration:{task_id}" if parent is None else f"calibration:{task_id}:{parent[0]}"
    for i in range(count):
        raw = k12(f"{label}:{i}".encode(), n=64)
        out.append(VerifyRequest(task=task, public_key=raw[:32], nonce=verifier.sample_nonce(raw[32:]), seed=seed,
                                 parent_network=None if parent is None else parent[1],
                                 parent_score=None if parent is None else parent[2]))
    return out


def _lower_priority(nice: int) -> None:
    # Verification may take all cores; the network loop must still answer within milliseconds.
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError:
        pass


def _process_worker_init(nice: int) -> None:
    _lower_priority(nice)
    parent = os.getppid()

    def watch() -> None:
        # A killed server (kill -9) cannot stop its pool: a worker leaves when it is orphaned.
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _run(verifier: Verifier, request: VerifyRequest) -> VerifyOutcome:
    return verifier.compute(request)


def warm_up_scorers() -> None:
    """Import the scorer and load its compiled kernels (numba's cache) with one tiny score."""
    from scoring import neuraxon as NX  # noqa: PLC0415
    from scoring.neuraxon_task import TaskSpec  # noqa: PLC0415

    tiny = TaskSpec.from_dict({"lifetime_ticks": 2, "worlds": 1, "walk": {"steps": 1}})
    NX.score(tiny, bytes(32), bytes(32))


class VerificationPool:
    """Runs verifier calls off the event loop, with a bound on pending requests.

    ``mode="thread"`` (default) shares the process's prepared tasks; ``mode="process"`` isolates
    verification in ``spawn``-ed processes (no GIL contention with the network loop). Workers run
    at a lower priority (``nice``).
    """

    def __init__(self, workers: int, *, mode: Literal["thread", "process"] = "thread", max_pending: int = 256,
                 nice: int = 5) -> None:
        self.workers = workers
        self.mode = mode
        self.max_pending = max_pending
        self._pending = 0
        self._paused = 0
        self._executor: Executor
        if mode == "process":
            self._executor = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_process_worker_init, initargs=(nice,))
        else:
            self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify",
                                                initializer=_lower_priority, initargs=(nice,))

    @property
    def pending(self) -> int:
        """Requests queued or running."""
        return self._pending

    async def start(self) -> None:
        """Nothing to connect: the workers start with the first request (or :meth:`warm_up`)."""

    def watch_capacity(self, callback: Callable[[], None]) -> None:
        """A fixed number of workers: ``callback`` is never called."""

    async def run(self, verifier: Verifier, request: VerifyRequest, *, force: bool = False,
                  priority: int = 0) -> VerifyOutcome:
        """Compute ``request`` with ``verifier``; raises :class:`PoolBusyError` when full (unless ``force``)."""
        if not force and self._pending >= self.max_pending:
            raise PoolBusyError(f"{self._pending} verifications pending")
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, _run, verifier, request)
        finally:
            self._pending -= 1

    async def warm_up(self) -> None:
        """Start every worker and load the scorer in it, so the first submissions do not wait for that."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, warm_up_scorers) for _ in range(self.workers)))

    async def map(self, verifier: Verifier, requests: list[VerifyRequest]) -> list[VerifyOutcome]:
        """Compute several requests (bypassing the pending bound), results in order."""
        return list(await asyncio.gather(*(self.run(verifier, r, force=True) for r in requests)))

    def _worker_pids(self) -> list[int]:
        # ProcessPoolExecutor keeps its workers in _processes (pid -> Process) on every supported Python.
        processes = getattr(self._executor, "_processes", None) or {}
        return [int(pid) for pid in processes]

    def pause(self) -> None:
        """Suspend the worker processes (SIGSTOP) until :meth:`resume`; calls nest. Thread pools ignore it.

        Job pushes pause verification: on a machine with few cores a running score slows the
        network loop (shared caches and cores) even at the lowest priority, and a push to every
        connection takes only milliseconds.
        """
        self._paused += 1
        if self._paused == 1:
            self._signal_workers(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo one :meth:`pause`."""
        self._paused = max(0, self._paused - 1)
        if self._paused == 0:
            self._signal_workers(signal.SIGCONT)

    def _signal_workers(self, sig: signal.Signals) -> None:
        if self.mode != "process":
            return
        for pid in self._worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def close(self) -> None:
        """Stop accepting work; running computations finish in the background."""
        self._paused = 1
        self.resume()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """:meth:`close`, as the :class:`VerificationExecutor` interface calls it."""
        self.close()
