"""The miner's local HTTP API: ``/metrics``, ``/healthz``, ``/readyz``, ``/status`` — read-only.

Bound to 127.0.0.1 by default; binding anywhere else requires ``api_token`` (the settings refuse to
start otherwise), and with a token every endpoint wants ``Authorization: Bearer <token>`` (401
without one, 403 with a wrong one) or the web page's session cookie (:mod:`miner.page`).

* ``/`` — the web page (:mod:`miner.page`): live hash rate chart, threads, verdicts, servers, errors.

* ``/healthz`` — 200 ``{"status": "ok"}`` while the event loop runs and the stall watchdog is
  quiet; 503 otherwise. Docker's HEALTHCHECK (``neuraxon-miner healthcheck``) uses it.
* ``/readyz`` — 200 when a session with a server is open and the workers make progress (or the
  server said idle); 503 with the reason otherwise.
* ``/status`` — :class:`StatusDocument`, a versioned JSON summary (HiveOS ``h-stats.sh`` reads it).
* ``/metrics`` — Prometheus text (:mod:`miner.metrics`).
"""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from miner.metrics import MinerMetrics
from miner.page import MinerPage
from miner.stats import MinerStats
from miner.status import STATUS_SCHEMA_VERSION, StatusDocument, readiness, status_document

__all__ = ["STATUS_SCHEMA_VERSION", "MinerApi", "StatusDocument", "readiness", "status_document"]


class MinerApi:
    """The aiohttp application and its site; ``await start()`` binds, ``await close()`` stops."""

    def __init__(self, stats: MinerStats, metrics: MinerMetrics, *, host: str, port: int, token: str | None,
                 page_interval: float = 2.0) -> None:
        self.stats = stats
        self.metrics = metrics
        self.host = host
        self.port = port
        self.token = token
        self.page = MinerPage(stats, token, interval=page_interval)
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The application (tests may serve it themselves)."""
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        self.page.add_routes(app)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None and not (self.page.public(request) or self.page.has_session(request)):
            given = request.headers.get("Authorization", "")
            if not given.startswith("Bearer "):
                return web.json_response({"error": "this API requires 'Authorization: Bearer <api_token>'"},
                                         status=401, headers={"WWW-Authenticate": 'Bearer realm="neuraxon-miner"'})
            if not hmac.compare_digest(given.removeprefix("Bearer ").encode(), self.token.encode()):
                return web.json_response({"error": "wrong api_token"}, status=403)
        response: web.StreamResponse = await handler(request)
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.stats.stalled:
            return web.json_response({"status": "stalled"}, status=503)
        return web.json_response({"status": "ok", "uptime_seconds": round(self.stats.uptime, 3)})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, reason = readiness(self.stats)
        return web.json_response({"ready": ready, "reason": reason}, status=200 if ready else 503)

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(text=status_document(self.stats).model_dump_json(), content_type="application/json")

    async def start(self) -> str:
        """Bind and serve; returns the base URL (with the real port when ``port`` was 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = int(self._runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
