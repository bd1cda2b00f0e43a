"""``WorkServer``: the service, its connection guard and its aiohttp site as one async context manager."""

from __future__ import annotations

import asyncio
import socket
import ssl
from types import TracebackType

from aiohttp import web

from protocol.server.admission import ConnectionGuard, GuardedSite
from protocol.server.app import create_app
from protocol.server.config import ServerConfig
from protocol.server.metrics import ServerMetrics
from protocol.server.service import WorkService

__all__ = ["WorkServer"]


class WorkServer:
    """A running work server. ``await start()`` (or ``async with``) binds ``config.host:config.port``
    (port 0 picks a free one; :attr:`port` tells which) and ``await close()`` stops it: connected
    miners get a ``SHUTTING_DOWN`` ack, running submissions finish and are committed, the ledger closes.
    """

    def __init__(self, config: ServerConfig, *, metrics: ServerMetrics | None = None) -> None:
        self.config = config
        self.service = WorkService(config, metrics=metrics)
        bans = self.service.bans
        self.guard = ConnectionGuard(self.service.metrics, max_per_address=config.max_connections_per_address,
                                     handshake_timeout=config.handshake_timeout_seconds,
                                     banned=lambda address: bans.of(address=address) is not None)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = config.port

    async def start(self) -> WorkServer:
        """Start the service, then listen."""
        await self.service.start()
        self.guard.start()
        self.service.metrics.open_connections.set_function(lambda: self.guard.open)
        ssl_context = None
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(str(self.config.tls_cert), str(self.config.tls_key))
        try:
            self._runner = web.AppRunner(create_app(self.service, self.guard), access_log=None, handle_signals=False,
                                         shutdown_timeout=2.0, keepalive_timeout=self.config.keepalive_timeout_seconds)
            await self._runner.setup()
            self._site = GuardedSite(self._runner, self.config.host, self.config.port, self.guard,
                                     ssl_context=ssl_context)
            await self._site.start()
        except BaseException:
            await self.service.close()
            if self._runner is not None:
                await self._runner.cleanup()
            raise
        self.port = int(self._runner.addresses[0][1])
        self.service.front_end_id = self.front_end_id
        self.service.metrics.identify(self.front_end_id)
        return self

    @property
    def front_end_id(self) -> str:
        """This front-end's name in logs and metrics: ``config.front_end_id``, else ``HOST:PORT`` — this
        machine's host name and the port it listens on (with port 0, the one it got, once started)."""
        return self.config.front_end_id or f"{socket.gethostname()}:{self.port}"

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:8080``."""
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self._host_for_url()}:{self.port}"

    @property
    def ws_url(self) -> str:
        """URL of the WebSocket endpoint, e.g. ``ws://127.0.0.1:8080/ws``."""
        scheme = "wss" if self.config.tls else "ws"
        return f"{scheme}://{self._host_for_url()}:{self.port}/ws"

    def _host_for_url(self) -> str:
        host = self.config.host
        if host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        return f"[{host}]" if ":" in host else host

    async def close(self) -> None:
        """Stop listening, disconnect miners (SHUTTING_DOWN), finish running submissions, close the ledger."""
        if self._site is not None:
            site, self._site = self._site, None
            await site.stop()
        await self.service.close()
        await asyncio.sleep(0.05)  # let connection writers flush the shutdown acks
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.guard.close_all()

    async def __aenter__(self) -> WorkServer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
