"""Connections that cost the server without ever mining: too many from one address, sockets that never
speak, sessions that stop answering pings, and running out of open files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import select
import socket
import time
import urllib.parse
from pathlib import Path

import aiohttp

from protocol import StratumJob
from tests.protocol.server.helpers import Miner, run, serving, small_config, start_cli_server, until


def _raw(port: int, source: str) -> socket.socket:
    """A TCP connection from loopback address ``source`` that says nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.settimeout(10)
    return sock


async def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as a close)."""
    def read() -> bytes:
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(4096):
                data += chunk
        return data

    return await asyncio.get_running_loop().run_in_executor(None, read)


async def _true(value: bool) -> bool:
    return value


async def _read_until_closed(miner: Miner) -> None:
    while (await miner.ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
        pass


def test_connections_from_one_address_are_capped_and_others_still_get_in() -> None:
    async def body() -> None:
        async with serving(small_config()) as server:  # the default cap: 256 per address
            guard = server.guard
            socks = [_raw(server.port, "127.0.0.4") for _ in range(256)]
            try:
                await until(lambda: _true(guard.open == 256))
                extra = _raw(server.port, "127.0.0.4")
                answer = await _answer(extra)
                assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After" in answer
                extra.close()
                async with Miner.connect(server.ws_url, "neighbour") as miner:  # another address: served
                    assert not (await miner.login()).is_idle
                text = server.service.metrics.render().decode()
                assert 'workserver_refused_connections_total{reason="address_cap"} 1.0' in text
            finally:
                for sock in socks:
                    sock.close()

    run(body())


def test_a_socket_that_never_makes_a_request_is_dropped_at_the_handshake_deadline() -> None:
    async def body() -> None:
        async with serving(small_config(handshake_timeout_seconds=0.3)) as server:
            silent = _raw(server.port, "127.0.0.5")
            slow = _raw(server.port, "127.0.0.5")
            slow.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")  # a request head that never ends
            assert await _answer(silent) == b"" and await _answer(slow) == b""
            silent.close()
            slow.close()
            await until(lambda: _true(server.guard.open == 0))
            async with Miner.connect(server.ws_url) as miner:  # a real miner is not affected
                await asyncio.sleep(0.5)
                assert not (await miner.login()).is_idle
            text = server.service.metrics.render().decode()
            assert 'workserver_connection_timeouts_total{stage="handshake"} 2.0' in text

    run(body())


def test_a_logged_in_session_that_answers_no_ping_is_closed() -> None:
    async def body() -> None:
        async with serving(small_config(ping_interval_seconds=0.2)) as server, \
                Miner.connect(server.ws_url, "silent", autoping=False) as silent, \
                Miner.connect(server.ws_url, "alive") as alive:
            await silent.login()
            await alive.login()
            answering = asyncio.get_running_loop().create_task(_read_until_closed(alive))  # pongs while reading
            pings = 0
            while True:  # it reads (sees the pings) but never answers them
                msg = await silent.ws.receive(timeout=10)
                if msg.type is aiohttp.WSMsgType.PING:
                    pings += 1
                    continue
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    break
            assert pings >= 1
            await until(lambda: _true(len(server.service.sessions) == 1))  # the one that answers stays
            await asyncio.sleep(0.5)
            assert not alive.ws.closed and not answering.done() and len(server.service.sessions) == 1
            answering.cancel()

    run(body())


def test_out_of_open_files_new_connections_are_refused_cleanly_then_served_again(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    proc, ws_url, _ = start_cli_server(
        ["--db", ":memory:", "--demo", "--calibration-walks", "0", "--verify-workers", "1", "--verify-mode", "thread",
         "--handshake-timeout", "5"], log, nofile=(64, 256))
    port = urllib.parse.urlsplit(ws_url).port or 80
    socks: list[socket.socket] = []
    try:
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        (line,) = [row for row in limits.splitlines() if row.startswith("Max open files")]
        assert line.split()[3:5] == ["256", "256"], line  # the soft limit was raised to the hard one
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
                                                    resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        for i in range(300):  # more idle sockets than the server has descriptors, from a few addresses
            socks.append(_raw(port, f"127.0.1.{1 + i // 100}"))
        time.sleep(0.5)
        readable, _, _ = select.select(socks, [], [], 0)
        refused = 0
        for sock in readable:  # those over the budget are answered 503 and closed, not left hanging
            with contextlib.suppress(OSError):
                refused += sock.recv(100).startswith(b"HTTP/1.1 503 ")
        assert refused >= 20, refused

        async def login_eventually() -> StratumJob:
            deadline = time.monotonic() + 60
            while True:  # once the idle sockets are dropped at their deadline, miners get in again
                try:
                    async with Miner.connect(ws_url, "late") as miner:
                        return await miner.login()
                except (aiohttp.WSServerHandshakeError, aiohttp.ClientError, ConnectionError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)

        assert not run(login_eventually()).is_idle
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    refusals = [json.loads(row) for row in text.splitlines() if '"workserver.connections_refused"' in row]
    assert 1 <= len(refusals) <= 3 and refusals[0]["reason"] == "open_files", refusals  # one line per 10 s
    assert "Traceback" not in text and "out of system resource" not in text
    assert len(text) < 50_000


def test_an_accept_out_of_descriptors_is_a_counted_refusal_not_a_traceback() -> None:
    """Descriptors opened elsewhere in the process (a busy verifier, the ledger) can reach the limit
    between two of the guard's measurements; asyncio then reports ``accept()`` failing with EMFILE.
    That is logged as an ``open_files`` refusal (throttled, counted), never as a traceback, while
    other loop faults still reach the default handler."""
    import errno
    import logging

    from protocol.server.admission import ConnectionGuard, throttled_exception_handler
    from protocol.server.metrics import ServerMetrics

    metrics = ServerMetrics()
    guard = ConnectionGuard(metrics)
    handler = throttled_exception_handler(accept_exhausted=guard.accept_exhausted)
    loop = asyncio.new_event_loop()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    asyncio_log = logging.getLogger("asyncio")
    keep = Keep()
    asyncio_log.addHandler(keep)
    try:
        for _ in range(5):
            handler(loop, {"message": "socket.accept() out of system resource",
                           "exception": OSError(errno.EMFILE, "Too many open files")})
        refused = metrics.registry.get_sample_value("workserver_refused_connections_total", {"reason": "open_files"})
        assert refused == 5
        assert records == []  # nothing went to asyncio's traceback logger
        handler(loop, {"message": "Task exception was never retrieved", "exception": RuntimeError("boom")})
        assert [r.getMessage() for r in records] == ["Task exception was never retrieved"]
    finally:
        asyncio_log.removeHandler(keep)
        loop.close()
