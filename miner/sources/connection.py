"""One logged-in session with one work server, over a WebSocket (push) or HTTP (pull).

A :class:`ServerConnection` is opened by :func:`open_connection`, which connects, logs in and waits
for the first job within ``connect_timeout`` (or raises :class:`ConnectError`). ``run()`` then
delivers jobs to ``on_job`` until the session ends, which it reports by raising
:class:`SessionLostError` with a short reason (a metric label). ``submit()`` sends a result and
returns the server's :class:`StratumAck`. Every frame in or out goes through :mod:`protocol`'s
``encode``/``decode``; a frame that does not decode ends the session (reason ``protocol``), so the
strategy reconnects instead of trusting a confused server.

``auto`` transport tries the WebSocket first and falls back to HTTP pull when the server answers
the upgrade with an HTTP error (no WebSocket endpoint, or a proxy that strips upgrades).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog

from miner._version import __version__
from protocol.codec import decode_as, encode, encode_bytes
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import StratumAck, StratumJob, StratumLogin, StratumStats, StratumSubmit

__all__ = [
    "ConnectError",
    "ConnectionPolicy",
    "Credentials",
    "PullConnection",
    "ServerConnection",
    "ServerEndpoint",
    "SessionLostError",
    "SourceError",
    "WebSocketConnection",
    "open_connection",
]

log = structlog.get_logger("miner")

Transport = Literal["auto", "websocket", "pull"]

#: Largest job frame or downloaded document accepted from a server (tasks and networks are inline).
MAX_FRAME_BYTES = 16 << 20
_serials = itertools.count(1)


class SourceError(Exception):
    """A work-source failure; ``reason`` is a short, stable label (used in metrics and logs)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ConnectError(SourceError):
    """Could not connect, log in, or get the first job."""


class SessionLostError(SourceError):
    """An established session ended (closed, timed out, or the server sent garbage)."""


@dataclass(frozen=True)
class ServerEndpoint:
    """A configured server: its URL as given, priority (0 = primary) and derived WebSocket/HTTP URLs."""

    url: str
    priority: int
    ws_url: str
    http_base: str
    transport: Transport

    @classmethod
    def parse(cls, url: str, priority: int, transport: Transport = "auto") -> ServerEndpoint:
        """``ws://h:p/ws`` → HTTP base ``http://h:p``; ``http://h:p`` → WebSocket ``ws://h:p/ws``."""
        parts = urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        path = parts.path.rstrip("/")
        if parts.scheme in ("ws", "wss"):
            ws_path = path or "/ws"
            base_path = ws_path[: -len("/ws")] if ws_path.endswith("/ws") else ws_path.rsplit("/", 1)[0]
        else:
            base_path = path
            ws_path = base_path + "/ws"
        ws_url = urlunsplit(("wss" if secure else "ws", parts.netloc, ws_path, "", ""))
        http_base = urlunsplit(("https" if secure else "http", parts.netloc, base_path, "", ""))
        return cls(url, priority, ws_url, http_base, transport)

    def resolve(self, target: str) -> str:
        """An absolute URL for a ``TaskUrl``/``NetworkUrl`` (a path is relative to this server)."""
        if target.startswith(("http://", "https://")):
            return target
        return self.http_base + target


@dataclass(frozen=True)
class Credentials:
    """Who mines: exactly one of ``wallet`` and ``access_token``, the worker name and thread count."""

    worker: str
    threads: int
    wallet: str | None = None
    access_token: str | None = None

    def login(self) -> StratumLogin:
        """The ``StratumLogin`` message."""
        return StratumLogin(wallet=self.wallet, access_token=self.access_token, worker=self.worker,
                            os=_os_name(), version=__version__, threads=max(1, self.threads))

    def headers(self) -> dict[str, str]:
        """Pull-mode login headers (the server validates them as a ``StratumLogin``)."""
        login = self.login()
        headers = {"X-Worker": login.worker, "X-Threads": str(login.threads), "X-Os": login.os,
                   "X-Version": login.version}
        if login.access_token is not None:
            headers["Authorization"] = f"Bearer {login.access_token}"
        if login.wallet is not None:
            headers["X-Wallet"] = login.wallet
        return headers


def _os_name() -> str:
    return f"{platform.system()} {platform.machine()}"[:64]


@dataclass(frozen=True)
class ConnectionPolicy:
    """Timeouts of one session (seconds); see :class:`miner.settings.MinerSettings` for each."""

    connect_timeout: float = 10.0
    submit_timeout: float = 30.0
    heartbeat: float = 20.0
    job_timeout: float = 90.0
    pull_interval: float = 5.0


def _login_error(ack: StratumAck) -> ConnectError:
    reason = "unauthorized" if ack.code == ErrorCode.UNAUTHORIZED else (
        "shutting_down" if ack.code == ErrorCode.SHUTTING_DOWN else "login_refused")
    return ConnectError(reason, f"server answered code {ack.code}: {ack.message}")


class ServerConnection(ABC):
    """A logged-in session. ``on_job`` is called for every job after the first (``first_job``)."""

    transport: str

    def __init__(self, endpoint: ServerEndpoint, http: aiohttp.ClientSession, policy: ConnectionPolicy,
                 first_job: StratumJob) -> None:
        self.serial = next(_serials)
        self.endpoint = endpoint
        self.http = http
        self.policy = policy
        self.first_job = first_job
        self.latest_job = first_job
        self.on_job: Callable[[ServerConnection, StratumJob], None] = lambda conn, job: None
        #: Called with an error answer that names no submit waiting on this session (see ``_ack``).
        self.on_unmatched_answer: Callable[[ServerConnection, StratumAck], None] = lambda conn, ack: None
        self.inflight = 0
        self.closed = False

    @abstractmethod
    async def run(self) -> None:
        """Deliver jobs until the session ends; raises :class:`SessionLostError` (returns after ``close()``)."""

    @abstractmethod
    async def submit(self, submit: StratumSubmit) -> StratumAck:
        """Send a result and return the server's answer; :class:`SessionLostError` if none comes."""

    @abstractmethod
    async def send_stats(self, stats: StratumStats) -> None:
        """Report speed (best effort)."""

    @abstractmethod
    async def close(self) -> None:
        """End the session (idempotent)."""

    def _job(self, job: StratumJob) -> None:
        self.latest_job = job
        self.on_job(self, job)

    async def fetch(self, target: str) -> bytes:
        """Download a ``TaskUrl`` or ``NetworkUrl`` (a path is relative to this server)."""
        url = self.endpoint.resolve(target)
        timeout = aiohttp.ClientTimeout(total=max(60.0, self.policy.connect_timeout))
        try:
            async with self.http.get(url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise SourceError("http_error", f"GET {url}: HTTP {resp.status}")
                body = await resp.content.read(MAX_FRAME_BYTES + 1)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SourceError("fetch_failed", f"GET {url}: {type(exc).__name__}") from None
        if len(body) > MAX_FRAME_BYTES:
            raise SourceError("fetch_failed", f"GET {url}: larger than {MAX_FRAME_BYTES} bytes")
        return body

    async def drain(self, timeout: float, holds: Callable[[], bool] | None = None) -> None:
        """Wait up to ``timeout`` for submissions in flight to be answered (and, with ``holds``, for as long
        as it says results still need this session), then close."""
        deadline = time.monotonic() + timeout
        while ((self.inflight or (holds is not None and holds())) and time.monotonic() < deadline
               and not self.closed):
            await asyncio.sleep(0.05)
        await self.close()


class WebSocketConnection(ServerConnection):
    """Push mode over ``/ws``: jobs arrive unasked; acks are matched to submits by (JobId, Nonce)."""

    transport = "websocket"

    def __init__(self, endpoint: ServerEndpoint, http: aiohttp.ClientSession, policy: ConnectionPolicy,
                 ws: aiohttp.ClientWebSocketResponse, first_job: StratumJob) -> None:
        super().__init__(endpoint, http, policy, first_job)
        self.ws = ws
        # (JobId, Nonce) -> (send time, future); insertion order = send order.
        self._waiting: dict[tuple[str, str], tuple[float, asyncio.Future[StratumAck]]] = {}
        self._lost: SessionLostError | None = None

    @classmethod
    async def open(cls, endpoint: ServerEndpoint, http: aiohttp.ClientSession, creds: Credentials,
                   policy: ConnectionPolicy) -> WebSocketConnection:
        """Connect, log in, and wait for the first job (all within ``connect_timeout``)."""
        ws = None
        try:
            async with asyncio.timeout(policy.connect_timeout):
                ws = await http.ws_connect(endpoint.ws_url, heartbeat=policy.heartbeat, max_msg_size=MAX_FRAME_BYTES,
                                           autoping=True)
                await ws.send_str(encode(creds.login()))
                while True:
                    msg = await ws.receive()
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        raise ConnectError("closed", f"the server closed the connection during login ({msg.type.name})")
                    first = decode_as(msg.data, (StratumJob, StratumAck), max_bytes=MAX_FRAME_BYTES)
                    if isinstance(first, StratumJob):
                        return cls(endpoint, http, policy, ws, first)
                    if isinstance(first, StratumAck) and not first.success:
                        raise _login_error(first)
        except aiohttp.WSServerHandshakeError:
            if ws is not None:
                await ws.close()
            raise
        except ProtocolError as exc:
            await _close_quietly(ws)
            raise ConnectError("protocol", f"login answer does not decode: {exc}") from None
        except TimeoutError:
            await _close_quietly(ws)
            raise ConnectError("timeout", f"no job within {policy.connect_timeout:g} s") from None
        except aiohttp.ClientError as exc:
            await _close_quietly(ws)
            raise ConnectError("refused", f"{type(exc).__name__}: {exc}") from None
        except BaseException:
            await _close_quietly(ws)
            raise

    async def run(self) -> None:
        try:
            while not self.closed:
                try:
                    msg = await self.ws.receive(timeout=self.policy.job_timeout)
                except TimeoutError:
                    raise SessionLostError("no_message", f"nothing from the server in {self.policy.job_timeout:g} s") \
                        from None
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._frame(msg.data)
                    continue
                if self.closed:
                    return
                if self._lost is not None:
                    raise self._lost
                if msg.type == aiohttp.WSMsgType.ERROR:
                    raise SessionLostError("closed", f"WebSocket error: {self.ws.exception()!r}")
                code = self.ws.close_code
                raise SessionLostError("heartbeat" if code == 1006 and self.ws.exception() is not None else "closed",
                                     f"closed by the server (code {code})")
        except SessionLostError as exc:
            self._fail_waiting(exc)
            await self.close()
            raise
        finally:
            if self.closed:
                self._fail_waiting(SessionLostError("closed", "connection closed"))

    def _frame(self, data: str | bytes) -> None:
        try:
            message = decode_as(data, (StratumJob, StratumAck), max_bytes=MAX_FRAME_BYTES)
        except ProtocolError as exc:
            preview = data[:80] if isinstance(data, str) else data[:80].decode("utf-8", "replace")
            log.warning("server_garbage", server=self.endpoint.url, code=exc.code.name, error=exc.message[:200],
                        frame=preview)
            raise SessionLostError("protocol", f"frame does not decode: {exc.message[:120]}") from None
        if isinstance(message, StratumJob):
            self._job(message)
        elif isinstance(message, StratumAck):
            self._ack(message)

    def _ack(self, ack: StratumAck) -> None:
        # An answer belongs to the submit whose (JobId, Nonce) it echoes, and to no other: an error
        # answer without that echo (a rate-limited stats report, a frame the server could not read)
        # or with a stale one is recorded as unmatched, never pinned on whichever submit came last.
        # The submit it may have been meant for is resent after its timeout, and answered then.
        entry = self._waiting.pop((ack.job_id or "", ack.nonce or ""), None)
        if entry is not None:
            if not entry[1].done():
                entry[1].set_result(ack)
        elif not ack.success:
            log.warning("server_unmatched_answer", server=self.endpoint.url, code=ack.code, message=ack.message[:200],
                        job=ack.job_id, nonce=ack.nonce, waiting=len(self._waiting),
                        detail="an error answer that names no submit waiting for one; not counted as a verdict")
            self.on_unmatched_answer(self, ack)
        if ack.closes_connection:
            self._lost = SessionLostError("shutting_down" if ack.code == ErrorCode.SHUTTING_DOWN else "closed",
                                        f"server closes: code {ack.code} {ack.message[:120]}")

    def _fail_waiting(self, exc: SessionLostError) -> None:
        waiting, self._waiting = self._waiting, {}
        for _, future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    async def submit(self, submit: StratumSubmit) -> StratumAck:
        if self.closed:
            raise SessionLostError("closed", "connection closed")
        key = (submit.job_id, submit.nonce)
        future: asyncio.Future[StratumAck] = asyncio.get_running_loop().create_future()
        self._waiting[key] = (time.monotonic(), future)
        self.inflight += 1
        try:
            try:
                await self.ws.send_str(encode(submit))
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
                raise SessionLostError("closed", f"send failed: {type(exc).__name__}") from None
            try:
                return await asyncio.wait_for(future, self.policy.submit_timeout)
            except TimeoutError:
                lost = SessionLostError("submit_timeout", f"no answer to a submit in {self.policy.submit_timeout:g} s")
                self._fail_waiting(lost)
                await self.close()
                raise lost from None
        finally:
            self.inflight -= 1
            self._waiting.pop(key, None)

    async def send_stats(self, stats: StratumStats) -> None:
        if self.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await self.ws.send_str(encode(stats))

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await _close_quietly(self.ws)


class PullConnection(ServerConnection):
    """Pull mode: ``GET /api/v1/job`` every ``pull_interval`` (and right after each answer), ``POST /api/v1/submit``."""

    transport = "pull"

    def __init__(self, endpoint: ServerEndpoint, http: aiohttp.ClientSession, policy: ConnectionPolicy,
                 creds: Credentials, first_job: StratumJob) -> None:
        super().__init__(endpoint, http, policy, first_job)
        self.creds = creds
        self._poll_now = asyncio.Event()

    @staticmethod
    async def _get_job(endpoint: ServerEndpoint, http: aiohttp.ClientSession, creds: Credentials,
                       timeout: float) -> StratumJob:
        url = endpoint.http_base + "/api/v1/job"
        async with http.get(url, headers=creds.headers(), timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await resp.content.read(MAX_FRAME_BYTES + 1)
            try:
                message = decode_as(body, (StratumJob, StratumAck), max_bytes=MAX_FRAME_BYTES)
            except ProtocolError as exc:
                raise SessionLostError("protocol" if resp.status == 200 else "http_error",
                                     f"GET {url}: HTTP {resp.status}, {exc.message[:120]}") from None
        if isinstance(message, StratumAck):
            raise _login_error(message)
        if not isinstance(message, StratumJob):
            raise SessionLostError("protocol", f"GET {url}: a {message.METHOD}, not a job")
        return message

    @classmethod
    async def open(cls, endpoint: ServerEndpoint, http: aiohttp.ClientSession, creds: Credentials,
                   policy: ConnectionPolicy) -> PullConnection:
        """Fetch the first job (that is the login in pull mode)."""
        try:
            job = await cls._get_job(endpoint, http, creds, policy.connect_timeout)
        except SessionLostError as exc:
            raise ConnectError(exc.reason, exc.detail) from None
        except TimeoutError:
            raise ConnectError("timeout", f"no job within {policy.connect_timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise ConnectError("refused", f"{type(exc).__name__}: {exc}") from None
        return cls(endpoint, http, policy, creds, job)

    async def run(self) -> None:
        while not self.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.pull_interval):
                    await self._poll_now.wait()
            self._poll_now.clear()
            if self.closed:
                return
            try:
                job = await self._get_job(self.endpoint, self.http, self.creds, self.policy.connect_timeout)
            except ConnectError as exc:
                await self.close()
                raise SessionLostError(exc.reason, exc.detail) from None
            except SessionLostError:
                await self.close()
                raise
            except (TimeoutError, aiohttp.ClientError) as exc:
                await self.close()
                raise SessionLostError("closed" if not isinstance(exc, TimeoutError) else "timeout",
                                     f"job poll failed: {type(exc).__name__}") from None
            if job.job_id != self.latest_job.job_id:
                self._job(job)

    async def submit(self, submit: StratumSubmit) -> StratumAck:
        if self.closed:
            raise SessionLostError("closed", "connection closed")
        url = self.endpoint.http_base + "/api/v1/submit"
        self.inflight += 1
        try:
            timeout = aiohttp.ClientTimeout(total=self.policy.submit_timeout)
            async with self.http.post(url, data=encode_bytes(submit), headers=self.creds.headers(),
                                      timeout=timeout) as resp:
                body = await resp.content.read(MAX_FRAME_BYTES + 1)
            ack = decode_as(body, StratumAck, max_bytes=MAX_FRAME_BYTES)
        except ProtocolError as exc:
            await self.close()
            raise SessionLostError("protocol", f"submit answer does not decode: {exc.message[:120]}") from None
        except TimeoutError:
            await self.close()
            raise SessionLostError("submit_timeout", f"no answer to a submit in {self.policy.submit_timeout:g} s") \
                from None
        except aiohttp.ClientError as exc:
            await self.close()
            raise SessionLostError("closed", f"submit failed: {type(exc).__name__}") from None
        finally:
            self.inflight -= 1
        self._poll_now.set()  # an accepted result may change the work (new parent)
        return ack

    async def send_stats(self, stats: StratumStats) -> None:
        return None  # pull mode has no stats endpoint; the server estimates speed from shares

    async def close(self) -> None:
        self.closed = True
        self._poll_now.set()


async def _close_quietly(ws: aiohttp.ClientWebSocketResponse | None) -> None:
    if ws is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 2.0)


async def open_connection(endpoint: ServerEndpoint, http: aiohttp.ClientSession, creds: Credentials,
                          policy: ConnectionPolicy) -> ServerConnection:
    """Open a session with ``endpoint`` using its transport; ``auto`` falls back to pull on a refused upgrade."""
    if endpoint.transport == "pull":
        return await PullConnection.open(endpoint, http, creds, policy)
    try:
        return await WebSocketConnection.open(endpoint, http, creds, policy)
    except aiohttp.WSServerHandshakeError as exc:
        if endpoint.transport == "websocket":
            raise ConnectError("http_error", f"WebSocket upgrade refused: HTTP {exc.status}") from None
        log.info("websocket_refused", server=endpoint.url, status=exc.status, fallback="pull")
        return await PullConnection.open(endpoint, http, creds, policy)

