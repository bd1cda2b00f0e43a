"""The aiohttp application: WebSocket, pull mode, task and network downloads, progress, admin, health, metrics.

Endpoints (all JSON bodies are protocol models or :mod:`protocol.server.documents`):

==========================================  =========================================================
``GET  /ws``                                 WebSocket: ``StratumLogin`` → jobs; ``StratumSubmit`` → ack
``GET  /api/v1/job``                         pull mode: the worker's current ``StratumJob``
``POST /api/v1/submit``                      pull mode: ``StratumSubmit`` body → ``StratumAck``
``GET  /api/v1/tasks``                       the served tasks (``TaskList``)
``GET  /api/v1/tasks/{id}``                  the task document (``TaskHash`` is its K12)
``GET  /api/v1/tasks/{id}/network``          the task's best accepted network (404 before the first)
``GET  /api/v1/tasks/{id}/networks/{nid}``   a network by id (``Parent.NetworkUrl``; K12 = ``nid``)
``GET  /api/v1/tasks/{id}/progress``         best score over time (``TaskProgress``)
``GET  /api/v1/workers``                     per-worker counters (admin token)
``POST /api/v1/admin/state``                 ``AdminState``: idle on/off, epoch (admin token)
``GET  /healthz``                            ``Health``; 503 while stopping
``GET  /metrics``                            Prometheus text of the server's own registry
``GET  /``, ``/api/v1/dashboard``, ...       the web page (:mod:`protocol.server.dashboard`)
==========================================  =========================================================

Pull-mode credentials travel in headers, mirroring ``StratumLogin``: ``Authorization: Bearer
<AccessToken>`` or ``X-Wallet: <identity>``, plus ``X-Worker`` (required), ``X-Threads``, ``X-Os``,
``X-Version``. They are validated by the ``StratumLogin`` model itself, so errors carry the same codes.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from protocol.codec import decode_as, encode_bytes, validate_object
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import PROTOCOL_VERSION, Message, StratumAck, StratumLogin, StratumSubmit
from protocol.server.admission import ConnectionGuard
from protocol.server.connection import WebSocketConnection
from protocol.server.dashboard import add_dashboard
from protocol.server.documents import (
    AdminState,
    Health,
    ProgressPoint,
    TaskInfo,
    TaskList,
    TaskProgress,
    WorkerInfo,
    WorkerList,
)
from protocol.server.jobs import TaskState
from protocol.server.ledger import Ledger
from protocol.server.limits import BucketTable
from protocol.server.service import WorkService

__all__ = ["SERVICE_KEY", "create_app"]

SERVICE_KEY: web.AppKey[WorkService] = web.AppKey("service", WorkService)
_BUCKETS_KEY: web.AppKey[BucketTable] = web.AppKey("http_buckets", BucketTable)
_STRIKES_KEY: web.AppKey[BucketTable] = web.AppKey("http_rate_strikes", BucketTable)

#: Seconds a closing WebSocket waits for the peer's close frame (a flooder's is never coming soon).
CLOSE_WAIT_SECONDS = 0.5

JSON = "application/json"


def _message(message: Message, status: int = 200) -> web.Response:
    return web.Response(body=encode_bytes(message), status=status, content_type=JSON)


def _ack(ack: StratumAck) -> web.Response:
    code = ack.error_code
    return _message(ack, code.http_status if code is not None else 200)


def _error(err: ProtocolError) -> web.Response:
    return _ack(StratumAck.from_error(err))


def _document(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=doc.model_dump_json(by_alias=True, exclude_none=True).encode(), status=status,
                        content_type=JSON)


def _service(request: web.Request) -> WorkService:
    return request.app[SERVICE_KEY]


# -- WebSocket ------------------------------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: upgrade and serve one miner."""
    service = _service(request)
    if service.closing:
        return _ack(StratumAck.rejected(ErrorCode.SHUTTING_DOWN, "the work server is stopping"))
    limit = service.config.max_frame_bytes
    # aiohttp drops frames above its own cap without an ack; ours is lower, so a frame between the
    # two gets a FRAME_TOO_LARGE ack before the close.
    ws = web.WebSocketResponse(max_msg_size=max(16 * limit, 1 << 20), heartbeat=service.config.ping_interval_seconds,
                               timeout=CLOSE_WAIT_SECONDS, compress=False, decode_text=False)
    await ws.prepare(request)
    await WebSocketConnection(ws, service, request.transport, request.remote).run()
    return ws


# -- pull mode ------------------------------------------------------------------------------------


def _rate_limited(request: web.Request) -> web.Response | None:
    """Count one HTTP frame; the rate-limit answer if its sender is over the limit, else ``None``.

    As on a WebSocket, requests over the limit spend rate-limit strikes; with none left the answer
    also closes the connection and counts as a flood of the address.
    """
    service = _service(request)
    service.metrics.frames.labels(transport="http").inc()
    address = request.remote or "?"
    if request.app[_BUCKETS_KEY].take(address):
        return None
    service.metrics.rejected_frames.labels(code="rate_limited").inc()
    response = _ack(StratumAck.rejected(ErrorCode.RATE_LIMITED, "too many requests; slow down"))
    if not request.app[_STRIKES_KEY].take(address):
        service.flooded(None, request.remote)
        response.force_close()
    return response


def _pull_login(request: web.Request) -> StratumLogin:
    headers = request.headers
    threads_text = headers.get("X-Threads", "1")
    obj: dict[str, Any] = {
        "Method": "StratumLogin",
        "MessageVersion": PROTOCOL_VERSION,
        "Worker": headers.get("X-Worker", ""),
        "Os": headers.get("X-Os", ""),
        "Version": headers.get("X-Version", ""),
        "Threads": int(threads_text) if threads_text.isdigit() and len(threads_text) < 8 else threads_text,
    }
    auth = headers.get("Authorization")
    if auth is not None:
        obj["AccessToken"] = auth.removeprefix("Bearer ")
    if "X-Wallet" in headers:
        obj["Wallet"] = headers["X-Wallet"]
    try:
        return validate_object(obj, StratumLogin)
    except ProtocolError as err:
        if err.field in ("Wallet", "AccessToken"):
            raise ProtocolError(ErrorCode.UNAUTHORIZED, f"bad credentials: {err.message}", field=err.field) from None
        raise


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"body exceeds {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"body exceeds {limit} bytes") from None
    if len(body) > limit:
        raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"body exceeds {limit} bytes")
    return body


async def get_job(request: web.Request) -> web.Response:
    """``GET /api/v1/job``: the worker's current job (the same job until the work or share bar changes)."""
    service = _service(request)
    limited = _rate_limited(request)
    if limited is not None:
        return limited
    try:
        session = await service.pull_session(_pull_login(request), request.remote)
    except ProtocolError as err:
        service.metrics.rejected_frames.labels(code=err.code.name.lower()).inc()
        return _error(err)
    frame = service.current_job(session).frame()
    service.metrics.jobs_sent.labels(reason="pull").inc()
    return web.Response(text=frame, content_type=JSON)


async def post_submit(request: web.Request) -> web.Response:
    """``POST /api/v1/submit``: a ``StratumSubmit`` body; the answer is the ack (3xx verdicts are HTTP 200)."""
    service = _service(request)
    limited = _rate_limited(request)
    if limited is not None:
        return limited
    try:
        body = await _read_body(request, service.config.max_frame_bytes)
        submit = decode_as(body, StratumSubmit, max_bytes=service.config.max_frame_bytes)
        session = await service.pull_session(_pull_login(request), request.remote)
    except ProtocolError as err:
        service.metrics.rejected_frames.labels(code=err.code.name.lower()).inc()
        return _error(err)
    result = await service.submit(session, submit)
    service.after_ack(session, result)
    return _ack(result.ack)


# -- tasks, networks, progress --------------------------------------------------------------------


def _task(request: web.Request) -> TaskState:
    task = _service(request).tasks.get(request.match_info["task_id"])
    if task is None:
        raise web.HTTPNotFound(text="no such task")
    return task


async def list_tasks(request: web.Request) -> web.Response:
    """``GET /api/v1/tasks``."""
    service = _service(request)
    infos = [TaskInfo(task_id=t.task_id, algo=t.algo, name=t.entry.name[:64], threshold=t.entry.threshold,
                      task_url=t.entry.url, task_hash=t.entry.task_hash, training=t.entry.training,
                      best_score=t.parent.score if t.parent else None, calibrated=t.distribution is not None)
             for t in service.tasks.values()]
    return _document(TaskList(epoch=service.epoch, idle=service.idle, tasks=infos))


async def get_task(request: web.Request) -> web.Response:
    """``GET /api/v1/tasks/{id}``: the task document; its K12 is the jobs' ``TaskHash``."""
    entry = _task(request).entry
    return web.Response(body=entry.document, content_type=entry.content_type,
                        headers={"ETag": f'"{entry.task_hash}"', "X-Task-Hash": entry.task_hash})


def _network_response(body: bytes, network_id: str, score: int | None = None) -> web.Response:
    headers = {"ETag": f'"{network_id}"', "X-Network-Id": network_id}
    if score is not None:
        headers["X-Score"] = str(score)
    return web.Response(body=body, content_type=JSON, headers=headers)


async def get_best_network(request: web.Request) -> web.Response:
    """``GET /api/v1/tasks/{id}/network``: the best accepted network so far (canonical JSON)."""
    task = _task(request)
    if task.best is None:
        raise web.HTTPNotFound(text="no accepted solution for this task yet")
    return _network_response(task.best.body, task.best.network_id, task.best.score)


async def get_network(request: web.Request) -> web.Response:
    """``GET /api/v1/tasks/{id}/networks/{network_id}``: a network that was the task's best."""
    task = _task(request)
    network_id = request.match_info["network_id"]
    for known in (task.parent, task.best):
        if known is not None and known.network_id == network_id:
            return _network_response(known.body, network_id, known.score)
    body = await _service(request).ledger.call(Ledger.network, network_id.lower())
    if body is None:
        raise web.HTTPNotFound(text="no such network")
    return _network_response(body, network_id.lower())


async def get_progress(request: web.Request) -> web.Response:
    """``GET /api/v1/tasks/{id}/progress``: the best score over time."""
    task = _task(request)
    points = [ProgressPoint(at=row.at, score=row.score, network_id=row.network_id, solution_id=row.accepted_id,
                            identity=row.identity, worker=row.worker[:64]) for row in task.history]
    return _document(TaskProgress(
        task_id=task.task_id, algo=task.algo, name=task.entry.name[:64], threshold=task.entry.threshold,
        training=task.entry.training, best_score=task.best.score if task.best else None,
        best_network_id=task.best.network_id if task.best else None, solutions=task.solutions,
        shares=task.shares, points=points))


# -- admin, health, metrics -----------------------------------------------------------------------


def _check_admin(request: web.Request) -> None:
    token = _service(request).config.admin_token
    if token is None:
        raise web.HTTPForbidden(text="the admin API is disabled (no admin token configured)")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise web.HTTPUnauthorized(text="admin token required")


async def post_admin_state(request: web.Request) -> web.Response:
    """``POST /api/v1/admin/state``: ``{"Idle": true}`` pushes idle jobs, ``{"Epoch": n}`` moves on."""
    _check_admin(request)
    service = _service(request)
    body = await request.read()
    try:
        change = AdminState.model_validate_json(body, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=f"invalid AdminState: {exc.errors(include_url=False)[0]['msg']}") from None
    if change.epoch is not None:
        service.set_epoch(change.epoch)
    if change.idle is not None:
        service.set_idle(change.idle)
    return _document(AdminState(idle=service.idle, epoch=service.epoch))


async def get_workers(request: web.Request) -> web.Response:
    """``GET /api/v1/workers``: counters from the ledger, live figures of connected workers."""
    _check_admin(request)
    service = _service(request)
    rows = await service.ledger.call(Ledger.workers)
    live = {s.worker_key: s for s in [*service.sessions.values(), *service.pull_sessions.values()]}
    workers = []
    for row in rows:
        s = live.get((row.account, row.worker))
        diff = s.difficulty if s is not None else None
        workers.append(WorkerInfo(
            account=row.account, worker=row.worker[:64], solutions=row.solutions, shares=row.shares,
            mismatches=row.mismatches, rejected=s.rejected if s is not None else 0, connected=s is not None,
            share_threshold=s.issued.share_threshold if s is not None and s.issued is not None else None,
            estimated_walks_per_second=diff.walks_per_second if diff is not None else None,
            reported_it_per_sec=s.reported_rate if s is not None else None))
    return _document(WorkerList(workers=workers))


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``."""
    service = _service(request)
    scheduler = service.scheduler
    doc = Health(status="stopping" if service.closing else "ok",
                 uptime_seconds=time.monotonic() - service.started_at, epoch=service.epoch, idle=service.idle,
                 connections=len(service.sessions), pull_sessions=len(service.pull_sessions),
                 verification_pending=scheduler.pending if scheduler is not None else 0, tasks=len(service.tasks))
    return _document(doc, 503 if service.closing else 200)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the server's own registry."""
    body = _service(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(service: WorkService, guard: ConnectionGuard | None = None) -> web.Application:
    """The aiohttp application around a started :class:`WorkService`; with a ``guard``, a request ends
    its connection's handshake deadline."""
    cfg = service.config
    middlewares = []
    if guard is not None:
        @web.middleware
        async def handshake_done(request: web.Request, handler: Handler) -> web.StreamResponse:
            guard.handshake_done(request.transport)
            return await handler(request)

        middlewares.append(handshake_done)
    app = web.Application(client_max_size=cfg.max_frame_bytes + 1, middlewares=middlewares)
    app[SERVICE_KEY] = service
    app[_BUCKETS_KEY] = BucketTable(cfg.messages_per_second, cfg.message_burst)
    app[_STRIKES_KEY] = BucketTable(cfg.messages_per_second, cfg.max_rate_strikes)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/api/v1/job", get_job)
    app.router.add_post("/api/v1/submit", post_submit)
    app.router.add_get("/api/v1/tasks", list_tasks)
    app.router.add_get("/api/v1/tasks/{task_id}", get_task)
    app.router.add_get("/api/v1/tasks/{task_id}/network", get_best_network)
    app.router.add_get("/api/v1/tasks/{task_id}/networks/{network_id}", get_network)
    app.router.add_get("/api/v1/tasks/{task_id}/progress", get_progress)
    app.router.add_get("/api/v1/workers", get_workers)
    app.router.add_post("/api/v1/admin/state", post_admin_state)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_dashboard(app, service)  # the page at / and its JSON documents (protocol/server/dashboard.py)
    return app
