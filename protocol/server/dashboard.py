"""The work server's page: what the network of miners is doing and what it has trained.

==========================================  =============================================================
``GET /``                                   the page (HTML; polls the two JSON documents below)
``GET /api/v1/dashboard``                   :class:`Dashboard`: miners connected, verifications/s, the
                                            top 20 accounts by accepted results, and per task its
                                            training curve (each new best with the account that found it,
                                            from the ledger, so it survives restarts)
``GET /api/v1/tasks/{id}/replay``           :class:`ReplayDocument`: the task's best network living in
                                            its median world, frame by frame (Neuraxon tasks; 404 before
                                            the first solution)
``GET /static/{name}``                      the page's script and style sheet
==========================================  =============================================================

The replay is recorded by :func:`scoring.neuraxon_replay.replay`, the scoring kernel itself, once
per best network (in a thread; cached), so its food and collision counts are those of the score.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated

from aiohttp import web
from pydantic import Field

from protocol.fields import Algo, Count, EpochNumber, Hex32, Identifier, ScoreValue
from protocol.messages import WireModel
from protocol.rates import RateMeter
from protocol.server.assets import SHARED, asset_response
from protocol.server.documents import ProgressPoint, TaskProgress
from protocol.server.ledger import AccountRow, ImprovementRow, Ledger
from protocol.server.service import WorkService

__all__ = ["TOP_ACCOUNTS", "Dashboard", "ReplayDocument", "add_dashboard"]

#: Accounts listed on the page.
TOP_ACCOUNTS = 20
ASSETS = {**SHARED, "pool.js": "protocol", "pool.html": "protocol"}

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Account = Annotated[str, Field(max_length=128)]


class AccountStats(WireModel):
    """One account's accepted results (all its workers)."""

    account: Account
    workers: Count
    solutions: Count
    shares: Count
    mismatches: Count
    last_seen: Seconds


class TaskCurve(TaskProgress):
    """A task and its training curve: ``Points`` are each new best with the account that found it."""

    #: Path of the best network's replay, when the task's algorithm has one and there is a best network.
    replay_url: str | None = None


class Dashboard(WireModel):
    """``GET /api/v1/dashboard``."""

    epoch: EpochNumber
    idle: bool
    uptime_seconds: Seconds
    miners: Count
    verification_pending: Count
    verifications_total: Count
    #: Scores recomputed per second over the last minute (``None`` until a few seconds are sampled).
    verifications_per_second: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    accounts: list[AccountStats]
    tasks: list[TaskCurve]


class ReplayFrames(WireModel):
    """Per tick (column-wise, each list has one entry per tick lived): the agent's position after the
    tick, its move, whether it collided, which food source it ate from (-1: none), its energy, cells
    explored so far, network neurons firing, and the units left at each food source."""

    x: list[int]
    y: list[int]
    move_x: list[int]
    move_y: list[int]
    collided: list[int]
    eaten: list[int]
    energy: list[int]
    explored: list[int]
    firing: list[int]
    food_left: list[list[int]]


class ReplayDocument(WireModel):
    """``GET /api/v1/tasks/{id}/replay``: the best network's lifetime in its median world."""

    task_id: Identifier
    network_id: Hex32
    score: ScoreValue
    world: Count
    world_fitness: list[int]
    fitness: int
    width: Count
    height: Count
    #: Rows of the grid, ``"1"`` for rock and ``"0"`` for land.
    terrain: list[str]
    #: ``[x, y]`` per food source (``[-1, -1]``: an unused slot).
    food: list[list[int]]
    start: list[int]
    food_units: Count
    energy_start: int
    energy_max: int
    ticks: Count
    food_eaten: Count
    collisions: Count
    cells_explored: Count
    frames: ReplayFrames


def _verifications(service: WorkService) -> int:
    """Scores recomputed so far (the verification histogram's count)."""
    for family in service.metrics.verification_seconds.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                return int(sample.value)
    return 0


class DashboardView:
    """The page's state: a sampler of the verification rate and a cache of replays."""

    def __init__(self, service: WorkService) -> None:
        self.service = service
        self.rate = RateMeter(max_window=120.0)
        self._replays: dict[str, tuple[str, bytes]] = {}  # task id -> (network id, document)
        self._locks: dict[str, asyncio.Lock] = {}
        # What the ledger said, and after how many of its writes: anyone may ask for the page, so a
        # flood of requests must not become a flood of ledger queries.
        self._ledger_view: tuple[int, list[AccountRow], dict[str, list[ImprovementRow]]] | None = None
        self._ledger_lock = asyncio.Lock()

    async def _ledger_rows(self) -> tuple[list[AccountRow], dict[str, list[ImprovementRow]]]:
        """The top accounts and every task's training curve, read again only after the ledger changed."""
        service = self.service
        async with self._ledger_lock:
            cached = self._ledger_view
            if cached is None or cached[0] != service.ledger_writes:
                version = service.ledger_writes
                accounts = await service.ledger.call(Ledger.top_accounts, TOP_ACCOUNTS)
                curves = {task_id: await service.ledger.call(Ledger.improvements, task_id)
                          for task_id in service.tasks}
                cached = self._ledger_view = (version, accounts, curves)
            return cached[1], cached[2]

    async def sample(self) -> None:
        """Sample the verification count once a second, until cancelled."""
        while True:
            self.rate.sample(_verifications(self.service))
            await asyncio.sleep(1.0)

    async def dashboard(self) -> Dashboard:
        """The :class:`Dashboard` document now."""
        service = self.service
        accounts, curves = await self._ledger_rows()
        tasks = []
        for task in service.tasks.values():
            rows = curves[task.task_id]
            best = task.best
            replay = (f"/api/v1/tasks/{task.task_id}/replay" if best is not None and task.algo is Algo.NEURAXON
                      else None)
            tasks.append(TaskCurve(
                task_id=task.task_id, algo=task.algo, name=task.entry.name[:64], threshold=task.entry.threshold,
                training=task.entry.training, best_score=best.score if best else None,
                best_network_id=best.network_id if best else None, solutions=task.solutions, shares=task.shares,
                points=[ProgressPoint(at=r.at, score=r.score, network_id=r.network_id, solution_id=r.accepted_id,
                                      identity=r.identity, worker=r.worker[:64], account=r.account[:128])
                        for r in rows], replay_url=replay))
        rate = self.rate.rate(60.0)
        scheduler = service.scheduler
        return Dashboard(
            epoch=service.epoch, idle=service.idle, uptime_seconds=max(0.0, time.monotonic() - service.started_at),
            miners=len(service.sessions) + len(service.pull_sessions),
            verification_pending=scheduler.pending if scheduler is not None else 0,
            verifications_total=_verifications(service),
            verifications_per_second=None if rate is None else max(0.0, rate),
            accounts=[AccountStats(account=a.account[:128], workers=a.workers, solutions=a.solutions,
                                   shares=a.shares, mismatches=a.mismatches, last_seen=a.last_seen)
                      for a in accounts],
            tasks=tasks)

    async def replay(self, task_id: str) -> bytes:
        """The replay document of the task's best network (JSON), computed once per network."""
        task = self.service.tasks.get(task_id)
        if task is None:
            raise web.HTTPNotFound(text="no such task")
        if task.algo is not Algo.NEURAXON:
            raise web.HTTPNotFound(text=f"no replay for {task.algo.label} tasks")
        best = task.best
        if best is None:
            raise web.HTTPNotFound(text="no accepted solution for this task yet")
        lock = self._locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            cached = self._replays.get(task_id)
            if cached is not None and cached[0] == best.network_id:
                return cached[1]
            doc = await asyncio.to_thread(_replay_document, task.entry.payload, task_id, best.network_id,
                                          best.network)
            body = doc.model_dump_json().encode()
            self._replays[task_id] = (best.network_id, body)
            return body


def _replay_document(spec: object, task_id: str, network_id: str, network: dict[str, object]) -> ReplayDocument:
    from engine import foraging as F  # noqa: PLC0415 - numba kernels load when a replay is first asked for
    from scoring.neuraxon_replay import replay  # noqa: PLC0415

    rec = replay(spec, network)  # type: ignore[arg-type]
    t = rec.trace
    steps = t.steps

    def column(index: int) -> list[int]:
        return [int(v) for v in steps[:, index]]

    frames = ReplayFrames(
        x=column(F.T_X), y=column(F.T_Y), move_x=column(F.T_MOVE_X), move_y=column(F.T_MOVE_Y),
        collided=column(F.T_COLLIDED), eaten=column(F.T_EATEN), energy=column(F.T_ENERGY),
        explored=column(F.T_EXPLORED), firing=column(F.T_FIRING), food_left=t.food_left.tolist())
    return ReplayDocument(
        task_id=task_id, network_id=network_id, score=rec.score, world=t.world, world_fitness=rec.world_fitness,
        fitness=t.fitness, width=int(t.terrain.shape[1]), height=int(t.terrain.shape[0]),
        terrain=["".join("1" if c else "0" for c in row) for row in t.terrain.tolist()],
        food=[[int(x), int(y)] for x, y in t.food.tolist()], start=[int(v) for v in t.start.tolist()],
        food_units=t.food_units, energy_start=t.energy_start, energy_max=t.energy_max, ticks=t.ticks,
        food_eaten=int(t.stats[F.S_FOOD]), collisions=int(t.stats[F.S_COLLISIONS]),
        cells_explored=int(t.stats[F.S_EXPLORED]), frames=frames)


_VIEW_KEY: web.AppKey[DashboardView] = web.AppKey("dashboard", DashboardView)


def add_dashboard(app: web.Application, service: WorkService) -> None:
    """Add the page's routes to the work server's application (and its rate sampler to its lifetime)."""
    view = DashboardView(service)
    app[_VIEW_KEY] = view

    async def sampler(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(view.sample())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def index(request: web.Request) -> web.Response:
        return asset_response(ASSETS, "pool.html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name.endswith(".html"):
            raise web.HTTPNotFound(text="no such file")
        return asset_response(ASSETS, name)

    async def dashboard(request: web.Request) -> web.Response:
        doc = await view.dashboard()
        return web.Response(text=doc.model_dump_json(exclude_none=True), content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    async def replay(request: web.Request) -> web.Response:
        body = await view.replay(request.match_info["task_id"])
        return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-store"})

    app.cleanup_ctx.append(sampler)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/v1/dashboard", dashboard)
    app.router.add_get("/api/v1/tasks/{task_id}/replay", replay)
