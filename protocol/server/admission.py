"""Admission control at accept time: open files, per-address caps, bans, handshake deadlines, clean closes.

Every TCP connection passes a :class:`ConnectionGuard` before aiohttp sees it:

* **Open files.** At start the soft ``RLIMIT_NOFILE`` is raised to the hard limit
  (:func:`raise_open_file_limit`); connections beyond what the limit leaves (minus a reserve for the
  ledger, the verification workers and imports) are refused, so the process never meets ``EMFILE``
  (which asyncio answers with a traceback per accept attempt).
* **Per address.** At most ``max_per_address`` connections from one client address.
* **Bans.** An address banned by :mod:`protocol.server.abuse` is refused at once.
* **Handshake deadline.** A connection must complete an HTTP request (a WebSocket upgrade, a pull
  call) within ``handshake_timeout`` seconds, else it is dropped: idle or half-open sockets do not
  pile up. (Logged-in WebSocket sessions then have the login deadline and pings, see
  :mod:`protocol.server.connection`.)

A refused connection gets a one-line HTTP answer (``503`` with ``Retry-After``, or ``403`` for a
ban) and is closed; refusals are counted in ``workserver_refused_connections_total{reason}`` and
logged at most once per ``log_interval`` per reason (with the count since the last line).

Closes are *lingering*: the guard hands aiohttp a transport whose ``close()`` stops passing data on
and discards what the peer still sends until it closes its side (or ``linger_seconds`` pass), then
closes. Closing a socket with unread input makes the kernel send a reset, which destroys the close
frame before the peer reads it — a 10 MB frame then ends with 1006 instead of 1009.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import resource
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from protocol.server.metrics import ServerMetrics

__all__ = [
    "ConnectionGuard",
    "GuardedSite",
    "ThrottledLog",
    "hang_up",
    "open_file_count",
    "raise_open_file_limit",
    "throttled_exception_handler",
]

log = structlog.get_logger("workserver")

#: File descriptors kept free for everything that is not a client connection (the ledger, the
#: verification workers' pipes, files opened while importing), besides the accept batch below.
FD_RESERVE = 64
#: Bounds of the listen backlog. asyncio accepts up to ``backlog`` pending connections in one go before
#: any of them reaches :meth:`ConnectionGuard.admit`, so that many descriptors must stay free too.
MIN_BACKLOG, MAX_BACKLOG = 64, 4096

_RESPONSES = {
    "banned": b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    "default": b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 10\r\nContent-Length: 0\r\n\r\n",
}


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns ``(soft, hard)`` afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        with contextlib.suppress(ValueError, OSError):  # e.g. an infinite hard limit the kernel caps
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def open_file_count() -> int | None:
    """File descriptors this process has open (``None`` where ``/proc`` is missing)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError:
        return None


class ThrottledLog:
    """Logs an event at most once per ``interval`` seconds per key, with how often it happened since."""

    def __init__(self, event: str, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.event = event
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._counts: Counter[str] = Counter()

    def due(self, key: str) -> int:
        """Count one occurrence of ``key``; when a report is due, how many occurred since the last one
        (this one included), else 0."""
        self._counts[key] += 1
        now = self._clock()
        if now - self._last.get(key, float("-inf")) < self.interval:
            return 0
        self._last[key] = now
        return self._counts.pop(key)

    def __call__(self, key: str, **fields: Any) -> bool:
        """Count one occurrence; returns whether a line was written."""
        count = self.due(key)
        if count:
            log.warning(self.event, reason=key, count=count, interval_seconds=self.interval, **fields)
        return count > 0


#: ``accept()`` failures that mean "out of descriptors or memory": asyncio pauses accepting for a
#: second and retries; they are a refusal for lack of resources, not a fault.
_ACCEPT_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def throttled_exception_handler(
    interval: float = 10.0, *, accept_exhausted: Callable[[OSError], None] | None = None,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event-loop exception handler that reports each distinct message at most once per ``interval``
    seconds (with how many occurred since), through the loop's default handler.

    ``accept_exhausted`` (e.g. :meth:`ConnectionGuard.accept_exhausted`) takes the ``accept()``
    failures for lack of descriptors instead: the guard's budget keeps the server below the limit,
    but descriptors opened elsewhere in the process (a busy verifier, the ledger) can still reach it
    between two measurements, and that is reported as a refusal, not as a traceback."""
    throttle = ThrottledLog("asyncio", interval)

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (accept_exhausted is not None and isinstance(exc, OSError) and exc.errno in _ACCEPT_EXHAUSTED
                and "accept" in str(context.get("message", ""))):
            accept_exhausted(exc)
            return
        message = str(context.get("message", ""))
        count = throttle.due(message)
        if count > 1:
            context = {**context, "message": f"{message} ({count} like it since the last report)"}
        if count:
            loop.default_exception_handler(context)

    return handle


class ConnectionGuard:
    """Decides at accept time which connections aiohttp gets, and drops those that never make a request.

    ``banned(address)`` tells whether an address is banned. Call :meth:`start` once (it raises the
    open-file limit and measures what is left), then use :meth:`protocol_factory` as the server's
    protocol factory and call :meth:`handshake_done` when a connection's first request arrives.
    """

    def __init__(self, metrics: ServerMetrics, *, max_per_address: int = 256, handshake_timeout: float = 10.0,
                 banned: Callable[[str], bool] = lambda address: False, linger_seconds: float = 2.0,
                 log_interval: float = 10.0) -> None:
        self.metrics = metrics
        self.max_per_address = max_per_address
        self.handshake_timeout = handshake_timeout
        self.banned = banned
        self.linger_seconds = linger_seconds
        self.closing = False
        self.open = 0
        self.max_connections = 1 << 30
        self.fd_limit: int | None = None
        #: The listen backlog (and asyncio's accept batch): an eighth of the open-file limit.
        self.backlog = MAX_BACKLOG
        self._per_address: Counter[str] = Counter()
        self._deadlines: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}
        self._transports: set[_LingeringTransport] = set()
        self._measured_at = float("-inf")
        self._refused = ThrottledLog("workserver.connections_refused", log_interval)

    def start(self) -> None:
        """Raise the open-file limit to the hard limit and size the connection budget from it."""
        soft, hard = raise_open_file_limit()
        self.fd_limit = soft if soft != resource.RLIM_INFINITY else None
        if self.fd_limit is not None:
            self.backlog = min(MAX_BACKLOG, max(MIN_BACKLOG, self.fd_limit // 8))
        self._measure()
        log.info("workserver.open_files", soft_limit=soft, hard_limit=hard, max_connections=self.max_connections)

    def _measure(self) -> None:
        self._measured_at = time.monotonic()
        used = open_file_count()
        if self.fd_limit is None or used is None:
            return
        others = max(0, used - self.open)  # descriptors that are not client connections
        self.max_connections = max(1, self.fd_limit - others - FD_RESERVE - self.backlog)

    def admit(self, address: str) -> str | None:
        """``None`` to accept a connection from ``address``, else the reason to refuse it."""
        if self.closing:
            return "closing"
        if self.banned(address):
            return "banned"
        if self.max_per_address and self._per_address[address] >= self.max_per_address:
            return "address_cap"
        if self.open >= 0.75 * self.max_connections and time.monotonic() - self._measured_at > 5.0:
            self._measure()  # near the limit: count again what else holds descriptors
        if self.open >= self.max_connections:
            return "open_files"
        return None

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` that admits connections before ``inner`` sees them."""
        return lambda: _GuardedProtocol(self, inner)

    def handshake_done(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection made a request: its handshake deadline no longer applies."""
        if transport is not None:
            timer = self._deadlines.pop(transport, None)
            if timer is not None:
                timer.cancel()

    # -- called by the protocol ------------------------------------------------------------------

    def _opened(self, address: str, transport: _LingeringTransport) -> None:
        self.open += 1
        self._transports.add(transport)
        self._per_address[address] += 1
        if self.handshake_timeout > 0:
            # Up to a quarter later at random: sockets opened together are not all dropped in one burst.
            delay = self.handshake_timeout * (1.0 + 0.25 * random.random())
            self._deadlines[transport] = asyncio.get_running_loop().call_later(delay, self._expire, transport)

    def _closed(self, address: str, transport: _LingeringTransport) -> None:
        self.open -= 1
        self._transports.discard(transport)
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]
        self.handshake_done(transport)

    def _expire(self, transport: _LingeringTransport) -> None:
        self._deadlines.pop(transport, None)
        self.metrics.connection_timeouts.labels(stage="handshake").inc()
        transport.abort()  # nothing was said: free the descriptor at once

    def _refuse(self, reason: str, address: str, transport: asyncio.Transport) -> None:
        self.metrics.refused_connections.labels(reason=reason).inc()
        self._refused(reason, last_address=address, open_connections=self.open,
                      max_connections=self.max_connections)
        # No lingering: a refusal must free its descriptor at once (close() still sends the answer).
        transport.write(_RESPONSES.get(reason, _RESPONSES["default"]))
        transport.close()

    def accept_exhausted(self, exc: OSError) -> None:
        """``accept()`` failed for lack of descriptors (asyncio retries in a second): count and log it
        as an ``open_files`` refusal (throttled like the others) and measure the budget again."""
        self.metrics.refused_connections.labels(reason="open_files").inc()
        self._refused("open_files", error=exc.strerror or str(exc), open_connections=self.open,
                      max_connections=self.max_connections)
        self._measure()

    def close_all(self) -> None:
        """Stop admitting and close every connection still open or lingering (server shutdown)."""
        self.closing = True
        for transport in list(self._transports):
            transport.abort()


class _LingeringTransport(asyncio.Transport):
    """The transport aiohttp gets: the real one, except that ``close()`` lingers (module docstring)."""

    def __init__(self, real: asyncio.Transport, linger_seconds: float) -> None:
        super().__init__()
        self._real = real
        self._linger = linger_seconds
        self._closing = False
        self._hung_up = False
        self._timer: asyncio.TimerHandle | None = None

    def hang_up(self) -> None:
        """Read nothing more from this peer, and close without lingering (see :func:`hang_up`)."""
        self._hung_up = True
        self._real.pause_reading()

    @property
    def lingering(self) -> bool:
        """``close()`` was called: incoming data is discarded until the real close."""
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        real = self._real
        if real.is_closing():
            return
        if self._hung_up:
            real.close()  # what the peer still sends is not worth reading
            return
        # No FIN either: a WebSocket peer that sees the end of the stream before it could send its own
        # close frame reports 1006 (aiohttp does), whatever close code it read.
        if not real.is_reading():
            real.resume_reading()  # keep draining what the peer sends, or its writes never finish
        self._timer = asyncio.get_running_loop().call_later(self._linger, real.close)

    def peer_closed(self) -> None:
        """The peer closed its side while we linger: finish the close now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._real.close()

    def abort(self) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        self._real.abort()

    def is_closing(self) -> bool:
        return self._closing or self._real.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:
            self._real.write(data)

    def writelines(self, list_of_data: Any) -> None:
        if not self._closing:
            self._real.writelines(list_of_data)

    def write_eof(self) -> None:
        if not self._closing:
            self._real.write_eof()

    def can_write_eof(self) -> bool:
        return self._real.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def pause_reading(self) -> None:
        if not self._closing:
            self._real.pause_reading()

    def resume_reading(self) -> None:
        if not self._hung_up:
            self._real.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._real.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._real.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._real.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._real.get_protocol()


def hang_up(transport: asyncio.BaseTransport | None) -> None:
    """Stop reading from a client about to be dropped (a flood, a ban): the close that follows does not
    linger to drain what it still sends, and nothing more of it is parsed."""
    if isinstance(transport, _LingeringTransport):
        transport.hang_up()
    elif isinstance(transport, asyncio.ReadTransport) and transport.is_reading():
        transport.pause_reading()


class _GuardedProtocol(asyncio.Protocol):
    """Admits or refuses a connection; hands it to aiohttp's protocol once the peer sends its first bytes.

    Until then a connection costs only this object and its deadline (no aiohttp handler, no task), so a
    thousand sockets that never speak are cheap to hold and to drop.
    """

    def __init__(self, guard: ConnectionGuard, inner: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make_inner = inner
        self._inner: asyncio.Protocol | None = None
        self._transport: _LingeringTransport | None = None
        self._address = ""
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        reason = self._guard.admit(self._address)
        if reason is not None:
            self._guard._refuse(reason, self._address, transport)
            return
        self._transport = _LingeringTransport(transport, self._guard.linger_seconds)
        self._guard._opened(self._address, self._transport)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.lingering:
            return
        if self._inner is None:
            self._inner = self._make_inner()
            self._inner.connection_made(transport)
            if self._paused:
                self._inner.pause_writing()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._transport is not None and self._transport.lingering:
            self._transport.peer_closed()
            return None
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return
        self._guard._closed(self._address, self._transport)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._paused = True
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._paused = False
        if self._inner is not None:
            self._inner.resume_writing()


class GuardedSite(web.TCPSite):
    """A :class:`aiohttp.web.TCPSite` whose connections pass a :class:`ConnectionGuard` first."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self.guard.protocol_factory(server), self._host, self._port, ssl=self._ssl_context,
            backlog=self.guard.backlog, reuse_address=self._reuse_address, reuse_port=self._reuse_port)
