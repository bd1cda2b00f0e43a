"""Cumulative training and calibration: each task's best network, when it becomes the jobs' parent, and
the score samples that vardiff and parent bars need.

:class:`Training` is the part of the work server that learns. It restores each task's best network,
history and calibration from the ledger, samples calibration walks (in the verification scheduler,
as the server's own account, so submissions interleave), records a new best network when an accepted
solution beats the task's best, and publishes a best as the parent of new jobs at most every
``parent_refresh_seconds`` — after sampling its bar when ``parent_bar_walks`` is set (see
``docs/workserver.md``, "Cumulative training"). It never talks to connections: when new jobs are due
it calls ``broadcast(reason, task)``, and ``on_calibrated(task)`` when a task's distribution arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

from protocol.server.config import ServerConfig
from protocol.server.jobs import ParentNetwork, TaskState
from protocol.server.ledger import AsyncLedger, Ledger, LedgerState, ProgressRow
from protocol.server.metrics import ServerMetrics
from protocol.server.scheduling import VerificationDroppedError
from protocol.server.tasks import k12_hex
from protocol.server.vardiff import ScoreDistribution
from protocol.server.verify import (
    PoolBusyError,
    VerificationError,
    Verifier,
    VerifyOutcome,
    VerifyRequest,
    calibration_requests,
)

__all__ = ["Training", "network_document"]

log = structlog.get_logger("workserver")

#: Computes one walk (the scheduler, as the server's own account).
Compute = Callable[[Verifier, VerifyRequest], Awaitable[VerifyOutcome]]


def network_document(network: dict[str, Any]) -> tuple[bytes, str]:
    """The canonical JSON bytes of a network and its id (K12 of the bytes, hex)."""
    body = json.dumps(network, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return body, k12_hex(body)


class Training:
    """Best networks, parents and calibration of every task (module docstring).

    ``compute`` runs one walk, ``batch`` walks are requested at a time (the pool's size, so that
    submissions interleave); ``spawn`` starts a background coroutine owned by the service.
    """

    def __init__(self, config: ServerConfig, tasks: list[TaskState], ledger: AsyncLedger, metrics: ServerMetrics, *,
                 compute: Compute, batch: int, spawn: Callable[[Coroutine[Any, Any, None]], None],
                 broadcast: Callable[[str, TaskState], None], on_calibrated: Callable[[TaskState], None]) -> None:
        self.config = config
        self.tasks = tasks
        self.ledger = ledger
        self.metrics = metrics
        self._compute = compute
        self._batch = max(1, batch)
        self._spawn = spawn
        self._broadcast = broadcast
        self._on_calibrated = on_calibrated

    def restore(self, state: LedgerState) -> None:
        """Each task's best network, history, counts and calibration as the ledger kept them."""
        for task in self.tasks:
            task_id = task.task_id
            best = state.best.get(task_id)
            if best is not None:
                task.best = ParentNetwork(best.network_id, best.score, json.loads(best.body), best.body)
                self.metrics.best_score.labels(task=task_id[:16]).set(best.score)
            task.history = list(state.history.get(task_id, []))
            task.solutions, task.shares = state.counts.get(task_id, (0, 0))
            if task_id in state.calibration:
                scores, spw = state.calibration[task_id]
                task.distribution = ScoreDistribution.from_samples(
                    scores, higher_is_better=task.algo.higher_is_better, seconds_per_walk=spw)

    def start(self) -> None:
        """Calibrate the tasks that need it (in the background) and publish restored best networks."""
        cfg = self.config
        if (cfg.vardiff or cfg.parent_bar_walks > 0) and cfg.calibration_walks > 0:
            for task in self.tasks:
                if task.distribution is None:
                    task.calibrating = True
                    self._spawn(self._calibrate(task))
        now = time.monotonic()
        for task in self.tasks:  # the restored best network becomes the parent again
            self.publish_if_due(task, now)

    def tick(self, now: float) -> None:
        """Publish every best network that is due (new jobs go out through ``broadcast``)."""
        for task in self.tasks:
            if self.publish_if_due(task, now):
                self._broadcast("change", task)

    # -- solutions --------------------------------------------------------------------------------

    def observe_share(self, task: TaskState, score: int, bar: int) -> None:
        """An accepted root-walk result against ``bar``: a draw from the root walk's tail (vardiff)."""
        if task.distribution is not None:
            task.distribution.observe(score, bar)

    def new_best(self, task: TaskState, network: dict[str, Any], body: bytes, network_id: str, score: int,
                 row: ProgressRow) -> bool:
        """A committed solution became the task's best; returns whether it is the jobs' parent already
        (then the caller sends new jobs). A network this front-end already adopted (its announcement
        can overtake the commit's return) changes nothing."""
        if task.best is not None and task.best.network_id == network_id:
            return False
        task.best = ParentNetwork(network_id, score, network, body)
        task.history.append(row)
        self.metrics.best_score.labels(task=task.task_id[:16]).set(score)
        published = self.publish_if_due(task, time.monotonic())
        log.info("workserver.new_best", task=task.task_id[:16], score=score, network=network_id[:16],
                 worker=row.worker)
        return published

    # -- several front-ends (PostgreSQL) ---------------------------------------------------------------

    async def announced(self, payload: str) -> None:
        """A front-end committed a new best network (``BEST_CHANNEL``: ``"<task_id> <network_id>"``)."""
        task_id, _, network_id = payload.partition(" ")
        await self.adopt(task_id, network_id)

    async def catch_up(self) -> None:
        """Adopt what was committed while this front-end was not listening."""
        for task in self.tasks:
            await self.adopt(task.task_id, None)

    async def adopt(self, task_id: str, network_id: str | None) -> None:
        """The ledger's best network of ``task_id`` (announced as ``network_id``) becomes this
        front-end's best if it beats the one it has; its miners get new jobs when it is published."""
        task = next((t for t in self.tasks if t.task_id == task_id), None)
        if task is None or (network_id is not None and task.best is not None and task.best.network_id == network_id):
            return
        found = await self.ledger.call(Ledger.best_of, task_id)
        if found is None:
            return
        best, row = found
        if task.best is not None and not task.better(best.score, task.best.score):
            return
        log.info("workserver.best_adopted", task=task_id[:16], score=best.score, network=best.network_id[:16])
        if self.new_best(task, json.loads(best.body), best.body, best.network_id, best.score, row) \
                and task.entry.training:
            self._broadcast("change", task)

    # -- sampling ---------------------------------------------------------------------------------

    async def sample_walks(self, task: TaskState, count: int,
                           parent: ParentNetwork | None = None) -> list[VerifyOutcome]:
        """``count`` reproducible sample walks of ``task`` (from ``parent`` when given), requested in
        batches of the pool's size so that submissions interleave."""
        seed = bytes.fromhex(task.entry.seed) if task.entry.seed else None
        origin = None if parent is None else (parent.network_id, parent.network, parent.score)
        requests = calibration_requests(task.verifier, task.task_id, task.entry.payload, count, seed, parent=origin)
        outcomes: list[VerifyOutcome] = []
        for i in range(0, len(requests), self._batch):
            outcomes += await asyncio.gather(*(self._compute(task.verifier, r) for r in requests[i:i + self._batch]))
        return outcomes

    async def _calibrate(self, task: TaskState) -> None:
        try:
            outcomes = await self.sample_walks(task, self.config.calibration_walks)
        except (VerificationError, PoolBusyError, VerificationDroppedError) as exc:
            log.error("workserver.calibration_failed", task=task.task_id[:16], error=str(exc))
            return
        finally:
            task.calibrating = False
        spw = sum(o.seconds for o in outcomes) / len(outcomes)
        task.distribution = ScoreDistribution.from_samples(
            [o.score for o in outcomes], higher_is_better=task.algo.higher_is_better, seconds_per_walk=spw)
        with contextlib.suppress(RuntimeError):
            await self.ledger.call(Ledger.save_calibration, task.task_id, [o.score for o in outcomes], spw)
        log.info("workserver.calibrated", task=task.task_id[:16], walks=len(outcomes), seconds_per_walk=round(spw, 4))
        if self.publish_if_due(task, time.monotonic()):  # a best that waited for the root's sample
            self._broadcast("change", task)
        self._on_calibrated(task)

    # -- publishing -------------------------------------------------------------------------------

    def publish_if_due(self, task: TaskState, now: float) -> bool:
        """Publish the task's best network as its jobs' parent if one is due: at once (returns True; the
        caller sends the new jobs), or after sampling its bar in the background (which sends them)."""
        if not task.publish_due(now, self.config.parent_refresh_seconds):
            return False
        assert task.best is not None
        if self.config.parent_bar_walks > 0 and task.calibrating:
            return False  # published with its bar once the root is sampled (solutions on the root stay valid)
        if self.config.parent_bar_walks > 0 and task.distribution is not None:
            task.publishing = True
            self._spawn(self._publish_with_bar(task, task.best))
            return False
        self._publish(task, task.best, now)
        return True

    def _publish(self, task: TaskState, network: ParentNetwork, now: float) -> None:
        task.publish(network, now)
        log.info("workserver.parent_published", task=task.task_id[:16], score=network.score,
                 network=network.network_id[:16], threshold=task.job_threshold)

    async def _publish_with_bar(self, task: TaskState, network: ParentNetwork) -> None:
        # Walks from the parent start at its score and keep any step that does not lose, so most of them
        # improve on it; the bar keeps a solution as rare as on the root: P(parent walk >= bar) ~= P(root
        # walk >= threshold). Deterministic (seeded by task and network id), so any server agrees.
        assert task.distribution is not None
        try:
            outcomes = await self.sample_walks(task, self.config.parent_bar_walks, network)
            sampled = ScoreDistribution.from_samples([o.score for o in outcomes],
                                                     higher_is_better=task.algo.higher_is_better,
                                                     seconds_per_walk=task.distribution.seconds_per_walk)
            bar = sampled.closest_bar(task.distribution.probability(task.entry.threshold))
            threshold = bar if task.better(bar, task.entry.threshold) else task.entry.threshold
            network = dataclasses.replace(network, threshold=threshold)
        except (VerificationError, PoolBusyError, VerificationDroppedError) as exc:  # publish without a bar, not never
            log.error("workserver.parent_bar_failed", task=task.task_id[:16], error=str(exc))
        finally:
            task.publishing = False
        self._publish(task, network, time.monotonic())
        self._broadcast("change", task)
