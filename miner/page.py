"""The miner's web page at ``/`` of its API: live hash rate, threads, verdicts, servers and errors.

==========================  ======================================================================
``GET /``                   the page (HTML); with ``api_token`` set and no session, a sign-in form
``GET /?token=<api_token>`` signs in (sets the session cookie) and redirects to ``/``, so the token
                            leaves the address bar: for a bookmark or a kiosk screen
``POST /login``             the sign-in form (field ``token``): the same
``GET /events``             server-sent events: a :class:`PageSnapshot` (``event: snapshot``) at once,
                            then one every ``interval`` seconds
``GET /api/page``           one :class:`PageSnapshot` (JSON)
``GET /static/<name>``      the page's script and style sheet (public code, served without a token)
==========================  ======================================================================

A browser cannot put ``Authorization: Bearer`` on a page load or an ``EventSource``, so with a token
the page uses a cookie instead: ``neuraxon_miner_session`` holds HMAC-SHA256(api_token, a fixed
label) — proof of the token, not the token — ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, for the
browser session. The API accepts either that cookie or the bearer header on every endpoint.
Changing ``api_token`` invalidates every cookie.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import time

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from miner.stats import MinerEvent, MinerStats
from miner.status import StatusDocument, readiness, status_document
from protocol.server.assets import SHARED, asset_response

__all__ = ["COOKIE", "MinerPage", "PageSnapshot", "page_snapshot", "session_value"]

#: The session cookie's name.
COOKIE = "neuraxon_miner_session"
_LABEL = b"neuraxon-miner page session v1"
#: The page's own files, and those it shares with the work server's page.
ASSETS = {**SHARED, "miner.js": "miner", "miner.html": "miner"}


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaultView(_Doc):
    """A distinct worker error and how often it happened."""

    algo: str
    error: str
    where: str
    count: int
    first_at: float
    last_at: float
    worker: int
    traceback: str


class EventView(_Doc):
    """An entry of the last errors or of the server history."""

    at: float
    kind: str
    message: str


class PageSnapshot(_Doc):
    """Everything the page shows, in one document (``GET /api/page``, each ``/events`` message)."""

    now: float
    status: StatusDocument
    ready_reason: str
    healthy: bool
    #: ``[unix time, it/s]`` every 5 s over the last 15 minutes (each the rate over the 10 s before it).
    hashrate: list[tuple[float, float]]
    worker_faults: list[FaultView]
    #: Newest first.
    recent_errors: list[EventView]
    server_history: list[EventView]


def _events(log: list[MinerEvent]) -> list[EventView]:
    return [EventView(at=e.at, kind=e.kind, message=e.message) for e in reversed(log)]


def page_snapshot(stats: MinerStats) -> PageSnapshot:
    """The page's document of the current state."""
    now_wall, now_mono = time.time(), time.monotonic()
    _, reason = readiness(stats)
    # Sample times are monotonic; the chart wants wall-clock times.
    points = [(round(now_wall - (now_mono - t), 3), round(rate, 4)) for t, rate in stats.rate.series()]
    faults = stats.pool.fault_list() if stats.pool is not None else []
    return PageSnapshot(
        now=now_wall, status=status_document(stats), ready_reason=reason, healthy=not stats.workers_failing,
        hashrate=points,
        worker_faults=[FaultView(algo=f.algo, error=f.error, where=f.where, count=f.count, first_at=f.first_at,
                                 last_at=f.last_at, worker=f.worker, traceback=f.traceback) for f in faults],
        recent_errors=_events(list(stats.recent_errors)), server_history=_events(list(stats.server_history)))


def session_value(token: str) -> str:
    """The session cookie's value for ``token``."""
    return hmac.new(token.encode(), _LABEL, hashlib.sha256).hexdigest()


_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>neuraxon-miner: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/page.css"></head>
<body><main class="narrow"><h1>neuraxon-miner</h1>
<p>This miner's API requires its <code>api_token</code>.</p>{error}
<form method="post" action="/login"><label>API token <input type="password" name="token" autofocus
autocomplete="current-password"></label> <button type="submit">Sign in</button></form></main></body></html>
"""


class MinerPage:
    """The page's routes over ``stats``; ``token`` is the API token (``None``: no sign-in)."""

    def __init__(self, stats: MinerStats, token: str | None, *, interval: float = 2.0) -> None:
        self.stats = stats
        self.token = token
        self.interval = interval
        self._session = session_value(token) if token is not None else None

    def add_routes(self, app: web.Application) -> None:
        """Register the page's routes on the API application."""
        app.router.add_get("/", self._index)
        app.router.add_post("/login", self._login)
        app.router.add_get("/events", self._events)
        app.router.add_get("/api/page", self._snapshot)
        app.router.add_get("/static/{name}", self._static)

    # -- authentication (used by the API's middleware) ---------------------------------------------

    def public(self, request: web.Request) -> bool:
        """Paths served without a token: the sign-in routes and the static files."""
        return request.path in ("/", "/login") or request.path.startswith("/static/")

    def has_session(self, request: web.Request) -> bool:
        """Whether the request carries a valid session cookie."""
        value = request.cookies.get(COOKIE)
        return (self._session is not None and value is not None
                and hmac.compare_digest(value.encode(), self._session.encode()))

    def _signed_in(self, request: web.Request) -> bool:
        if self.token is None or self.has_session(request):
            return True
        given = request.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given.removeprefix("Bearer ").encode(),
                                                                   self.token.encode())

    def _sign_in(self, given: str) -> web.Response:
        assert self.token is not None and self._session is not None
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return self._login_form(403, "wrong token")
        response = web.Response(status=303, headers={"Location": "/", "Cache-Control": "no-store"})
        response.set_cookie(COOKIE, self._session, httponly=True, samesite="Strict", path="/")
        return response

    def _login_form(self, status: int, error: str | None = None) -> web.Response:
        note = f'<p class="bad">{html.escape(error)}</p>' if error else ""
        return web.Response(text=_LOGIN.format(error=note), status=status, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    # -- handlers ---------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if self.token is not None and "token" in request.query:
            return self._sign_in(request.query["token"])
        if not self._signed_in(request):
            return self._login_form(401)
        return asset_response(ASSETS, "miner.html")

    async def _login(self, request: web.Request) -> web.Response:
        if self.token is None:
            raise web.HTTPSeeOther("/")
        form = await request.post()
        token = form.get("token")
        return self._sign_in(token if isinstance(token, str) else "")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name.endswith(".html"):
            raise web.HTTPNotFound(text="no such file")
        return asset_response(ASSETS, name)

    async def _snapshot(self, request: web.Request) -> web.Response:
        return web.Response(text=page_snapshot(self.stats).model_dump_json(), content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        try:
            while not self.stats.stopping:
                payload = page_snapshot(self.stats).model_dump_json()
                await response.write(f"event: snapshot\ndata: {payload}\n\n".encode())
                await asyncio.sleep(self.interval)
        except (ConnectionResetError, ConnectionError):
            pass  # the browser went away
        return response

