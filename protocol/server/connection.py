"""One WebSocket connection: a reader that decodes and dispatches frames, a writer that sends in order.

The reader never waits on verification: each submit runs as its own task and its ack is delivered
when ready, so one connection may have several submissions in flight (acks echo ``JobId`` and
``Nonce``). Acks and pushed jobs leave in the order they are delivered: written to the socket at once
when it is idle (frames are built here: unmasked, uncompressed text frames, as a server sends them),
else queued for a writer task that honours flow control.

Close policy (``protocol.CLOSE_POLICY``): codes in ``always_close`` are acked, then the connection
closes with ``ErrorCode.ws_close_code``; malformed-message codes count strikes (a valid message
resets them) and the 16th consecutive strike closes; everything else is acked and the connection
stays open. A failed login (unknown token, refused wallet, a banned account or address, or a
malformed ``Wallet``/``AccessToken``) is an ``UNAUTHORIZED`` ack and a close, as is no login within
``login_timeout_seconds``.

Flow control: a message over the connection's token bucket is dropped unread. A dropped submit is
acked ``RATE_LIMITED`` naming its ``JobId`` and ``Nonce`` (so the miner sends it again); of the other
messages only the first of a run is acked. Each dropped message spends a *rate-limit strike* from a
second bucket (``max_rate_strikes``, refilling at the message rate), so a flood gets a bounded number
of answers: when the bucket is empty the connection is closed (``RATE_LIMITED`` ack, close 1008,
nothing more read), which counts toward a ban of the address (:mod:`protocol.server.abuse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass

import structlog
from aiohttp import WSMsgType, web

from protocol.codec import decode_as, echo_request, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import CLIENT_MESSAGES, Message, StratumAck, StratumLogin, StratumStats, StratumSubmit
from protocol.server.admission import hang_up
from protocol.server.jobs import Session
from protocol.server.limits import StrikeCounter, TokenBucket
from protocol.server.service import SubmitResult, WorkService

__all__ = ["DIRECT_WRITE_LIMIT", "MAX_QUEUED_MESSAGES", "WebSocketConnection"]

log = structlog.get_logger("workserver")

#: A connection whose writer falls this many messages behind is too slow and is dropped.
MAX_QUEUED_MESSAGES = 512

_CREDENTIAL_FIELDS = frozenset({"Wallet", "AccessToken"})


#: Write a frame directly only while the socket's send buffer holds less than this (bytes).
DIRECT_WRITE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class _Close:
    code: int
    #: Stop reading the peer first (a flood or a ban): see :func:`protocol.server.admission.hang_up`.
    hang_up: bool = False


def _text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed, final WebSocket text frame (RFC 6455 §5.2) — what a server sends."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class WebSocketConnection:
    """Serves one accepted WebSocket until either side closes it."""

    def __init__(self, ws: web.WebSocketResponse, service: WorkService,
                 transport: asyncio.Transport | None = None, address: str | None = None) -> None:
        cfg = service.config
        self.ws = ws
        self.service = service
        self.address = address
        self.session: Session | None = None
        self._queue: asyncio.Queue[Message | str | _Close | None] = asyncio.Queue()
        self._bucket = TokenBucket(cfg.messages_per_second, cfg.message_burst)
        self._rate_strikes = TokenBucket(cfg.messages_per_second, cfg.max_rate_strikes)
        self._limited = False  # the last message was dropped by the rate limit
        self._strikes = StrikeCounter(cfg.max_strikes)
        self._closing = False
        self._done = False
        self._writing = False
        self._transport = transport
        self._submits: set[asyncio.Task[None]] = set()

    # -- outbound ---------------------------------------------------------------------------------

    def deliver(self, message: Message | str) -> None:
        """Send ``message`` (or its encoded text) in order; dropped once the connection is closing.

        When nothing is queued and the socket has room, the frame is written at once (a job push
        to a thousand connections then costs a thousand socket writes, not a thousand task wake-ups);
        otherwise it joins the queue that the writer task drains with flow control.
        """
        if self._closing or self._done:
            return
        transport = self._transport
        if (not self._writing and self._queue.empty() and transport is not None and not transport.is_closing()
                and not self.ws.closed and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT):
            text = message if isinstance(message, str) else encode(message)
            transport.write(_text_frame(text.encode("utf-8")))
            return
        if self._queue.qsize() >= MAX_QUEUED_MESSAGES:
            log.warning("workserver.slow_client", session=self.session.id if self.session else None)
            self._closing = True
            self._queue.put_nowait(_Close(1008))
            return
        self._queue.put_nowait(message)

    def disconnect(self, code: ErrorCode, message: str) -> None:
        """Send an error ack with ``code``, then close (shutdown; a ban, which stops reading at once)."""
        self._fail(StratumAck.rejected(code, message), code, hang_up=code == ErrorCode.UNAUTHORIZED)

    def _fail(self, ack: StratumAck, code: ErrorCode, *, hang_up: bool = False) -> None:
        if self._closing or self._done:
            return
        self.deliver(ack)
        self._closing = True
        self._queue.put_nowait(_Close(code.ws_close_code, hang_up))

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            self._writing = True
            try:
                if isinstance(item, _Close):
                    if item.hang_up:
                        hang_up(self._transport)
                    await self.ws.close(code=item.code)
                    return
                await self.ws.send_str(item if isinstance(item, str) else encode(item))
            except (ConnectionError, RuntimeError):
                return  # the peer is gone; the reader sees the close
            finally:
                self._writing = False

    # -- inbound ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read frames until the connection closes; then stop the writer and forget the session."""
        writer = asyncio.get_running_loop().create_task(self._write_loop())
        try:
            await self._read_loop()
        finally:
            if self.session is not None:
                self.service.close_session(self.session)
            self._queue.put_nowait(None)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer, timeout=5.0)
            self._done = True

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.service.config.login_timeout_seconds
        while not self._closing:
            timeout = None if self.session is not None else max(0.001, deadline - loop.time())
            try:
                msg = await self.ws.receive(timeout=timeout)
            except TimeoutError:
                self.service.metrics.connection_timeouts.labels(stage="login").inc()
                self._fail(StratumAck.rejected(ErrorCode.UNAUTHORIZED, "no login in time"), ErrorCode.UNAUTHORIZED)
                return
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    await self._frame(msg.data)
                except Exception:  # no frame may take the connection (or the server) down
                    log.exception("workserver.frame_failed")
                    self.deliver(echo_request(StratumAck.rejected(ErrorCode.INTERNAL,
                                                                  "internal error; nothing was stored"), msg.data))
            else:
                return  # CLOSE, CLOSING, CLOSED or ERROR (aiohttp already closes on protocol errors)

    async def _frame(self, data: bytes | str) -> None:
        metrics = self.service.metrics
        metrics.frames.labels(transport="ws").inc()
        if not self._bucket.take():
            self._rate_limited(data)
            return
        self._limited = False
        try:
            message = decode_as(data, CLIENT_MESSAGES, max_bytes=self.service.config.max_frame_bytes)
        except ProtocolError as err:
            self._protocol_error(err, data)
            return
        self._strikes.reset()
        if isinstance(message, StratumLogin):
            await self._login(message)
        elif self.session is None:
            submit = message if isinstance(message, StratumSubmit) else None
            self.deliver(StratumAck.rejected(ErrorCode.LOGIN_REQUIRED, "log in first (StratumLogin)", submit=submit))
        elif isinstance(message, StratumSubmit):
            task = asyncio.get_running_loop().create_task(self._submit(self.session, message))
            self._submits.add(task)
            task.add_done_callback(self._submits.discard)
        elif isinstance(message, StratumStats):
            self.service.record_stats(self.session, message)

    def _rate_limited(self, data: bytes | str) -> None:
        self.service.metrics.rejected_frames.labels(code=ErrorCode.RATE_LIMITED.name.lower()).inc()
        if not self._rate_strikes.take():
            self.service.flooded(self.session, self.address)
            self._fail(StratumAck.rejected(ErrorCode.RATE_LIMITED, "message flood: closing"), ErrorCode.RATE_LIMITED,
                       hang_up=True)
            return
        # Answered unread, but naming the submit it refuses when the frame is one (see echo_request): a
        # miner must learn which submit to send again. Anything else is answered once per run.
        ack = echo_request(StratumAck.rejected(ErrorCode.RATE_LIMITED, "too many messages; slow down (messages "
                                               "over the limit are dropped; a flood is closed)"), data)
        if ack.job_id is None:
            if self._limited:
                return
            self._limited = True
        self.deliver(ack)

    def _protocol_error(self, err: ProtocolError, data: bytes | str = "") -> None:
        metrics = self.service.metrics
        if self.session is None and err.field in _CREDENTIAL_FIELDS:
            metrics.logins.labels(result="unauthorized").inc()
            err = ProtocolError(ErrorCode.UNAUTHORIZED, f"bad credentials: {err.message}", field=err.field)
        metrics.rejected_frames.labels(code=err.code.name.lower()).inc()
        ack = echo_request(StratumAck.from_error(err), data)
        if err.closes_connection:
            self._fail(ack, err.code)
        elif self._strikes.strike(err.code):
            self._fail(StratumAck.rejected(err.code, f"{err.message} (too many malformed messages: closing)",
                                           field=err.field), err.code)
        else:
            self.deliver(ack)

    async def _login(self, login: StratumLogin) -> None:
        if self.session is not None:
            self._protocol_error(ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "already logged in", field="Method"))
            return
        if self.service.closing:
            self.disconnect(ErrorCode.SHUTTING_DOWN, "the work server is stopping")
            return
        try:
            session = await self.service.open_session(login, "ws", address=self.address, deliver=self.deliver,
                                                      disconnect=self.disconnect)
        except ProtocolError as err:  # counted and logged (at most once per interval) by the service
            self._fail(StratumAck.from_error(err), err.code)
            return
        self.session = session
        self.service.send_job(session, "login")

    async def _submit(self, session: Session, submit: StratumSubmit) -> None:
        try:
            result = await self.service.submit(session, submit)
        except Exception:  # the connection must outlive any bug in one submission
            log.exception("workserver.submit_failed", job=submit.job_id)
            result = SubmitResult(StratumAck.rejected(ErrorCode.INTERNAL, "internal error; nothing was stored",
                                                      submit=submit))
        self.deliver(result.ack)
        self.service.after_ack(session, result)
