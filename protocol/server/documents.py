"""JSON documents of the work server's REST endpoints (not stratum messages, but the same rules:
pydantic models with PascalCase names are the only code that writes them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from protocol.fields import AlgoField, Count, EpochNumber, Hex32, Identifier, IdentityText, ScoreValue, ShortText
from protocol.messages import WireModel

__all__ = [
    "AdminState",
    "Health",
    "ProgressPoint",
    "TaskInfo",
    "TaskList",
    "TaskProgress",
    "WorkerInfo",
    "WorkerList",
]

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
UnixTime = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ProgressPoint(WireModel):
    """The task's best score became ``Score`` at ``At`` (Unix seconds), by that solution's network;
    ``Account`` (the wallet, or ``token:<hash>`` of an access token) is given by the dashboard."""

    at: UnixTime
    score: ScoreValue
    network_id: Hex32
    solution_id: Count
    identity: IdentityText
    worker: ShortText
    account: Annotated[str, Field(max_length=128)] | None = None


class TaskProgress(WireModel):
    """``GET /api/v1/tasks/{id}/progress``: the best accepted score over time (cumulative training)."""

    task_id: Identifier
    algo: AlgoField
    name: ShortText
    threshold: ScoreValue
    training: bool
    best_score: ScoreValue | None = None
    best_network_id: Hex32 | None = None
    solutions: Count
    shares: Count
    points: list[ProgressPoint]


class TaskInfo(WireModel):
    """One task of ``GET /api/v1/tasks``."""

    task_id: Identifier
    algo: AlgoField
    name: ShortText
    threshold: ScoreValue
    task_url: str
    task_hash: Hex32
    training: bool
    best_score: ScoreValue | None = None
    calibrated: bool


class TaskList(WireModel):
    """``GET /api/v1/tasks``."""

    epoch: EpochNumber
    idle: bool
    tasks: list[TaskInfo]


class Health(WireModel):
    """``GET /healthz``: ``ok`` while serving, ``stopping`` during shutdown (HTTP 503)."""

    status: Literal["ok", "stopping"]
    uptime_seconds: Seconds
    epoch: EpochNumber
    idle: bool
    connections: Count
    pull_sessions: Count
    verification_pending: Count
    tasks: Count


class WorkerInfo(WireModel):
    """Per-worker counters from the ledger (solutions, shares, mismatches) and, while connected, live
    figures: ``Rejected`` counts this session's other rejected submissions."""

    account: Annotated[str, Field(max_length=128)]
    worker: ShortText
    solutions: Count
    shares: Count
    mismatches: Count
    rejected: Count
    connected: bool
    share_threshold: ScoreValue | None = None
    estimated_walks_per_second: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    reported_it_per_sec: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class WorkerList(WireModel):
    """``GET /api/v1/workers`` (admin)."""

    workers: list[WorkerInfo]


class AdminState(WireModel):
    """``POST /api/v1/admin/state`` body (fields to change) and answer (the state after the change)."""

    idle: bool | None = None
    epoch: EpochNumber | None = None
