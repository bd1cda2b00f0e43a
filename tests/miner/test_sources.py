"""Sessions and failover against a small scripted server (the real server's tests are in test_faults.py)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from miner.sources.connection import (
    ConnectError,
    ConnectionPolicy,
    Credentials,
    PullConnection,
    ServerConnection,
    ServerEndpoint,
    SessionLostError,
    WebSocketConnection,
    open_connection,
)
from miner.sources.failover import FailoverPolicy, FailoverStrategy
from protocol.codec import decode_as, encode
from protocol.errors import ErrorCode
from protocol.messages import StratumAck, StratumJob, StratumLogin, StratumSubmit
from tests.miner.fakes import IDENTITY, FakeConnection, make_job

CREDS = Credentials(worker="rig-1", threads=2, wallet=IDENTITY)
POLICY = ConnectionPolicy(connect_timeout=2.0, submit_timeout=2.0, heartbeat=5.0, job_timeout=5.0, pull_interval=0.1)


class ScriptedServer:
    """``/ws`` and pull mode: a job after login, an accepted ack per submit; tests add garbage or refusals."""

    def __init__(self, *, websocket: bool = True, refuse_login: bool = False) -> None:
        self.websocket = websocket
        self.refuse_login = refuse_login
        self.sockets: list[web.WebSocketResponse] = []
        self.logins: list[StratumLogin] = []
        self.pull_headers: list[dict[str, str]] = []
        self.job = make_job("s.1")
        self.url = ""
        #: Frames sent before each submit's own answer (e.g. an error answer that names no submit).
        self.before_ack: list[StratumAck] = []

    async def ws(self, request: web.Request) -> web.StreamResponse:
        if not self.websocket:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for msg in ws:
            message = decode_as(msg.data, (StratumLogin, StratumSubmit))
            if isinstance(message, StratumLogin):
                self.logins.append(message)
                if self.refuse_login:
                    await ws.send_str(encode(StratumAck.rejected(ErrorCode.UNAUTHORIZED, "no")))
                    await ws.close()
                else:
                    await ws.send_str(encode(self.job))
            elif isinstance(message, StratumSubmit):
                for extra in self.before_ack:
                    await ws.send_str(encode(extra))
                await ws.send_str(encode(StratumAck.accepted(message)))
        return ws

    async def pull_job(self, request: web.Request) -> web.Response:
        self.pull_headers.append(dict(request.headers))
        return web.Response(text=encode(self.job), content_type="application/json")

    async def pull_submit(self, request: web.Request) -> web.Response:
        submit = decode_as(await request.read(), StratumSubmit)
        return web.Response(text=encode(StratumAck.accepted(submit)), content_type="application/json")


@contextlib.asynccontextmanager
async def serve(server: ScriptedServer) -> AsyncIterator[ScriptedServer]:
    app = web.Application()
    app.router.add_get("/ws", server.ws)
    app.router.add_get("/api/v1/job", server.pull_job)
    app.router.add_post("/api/v1/submit", server.pull_submit)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
    try:
        yield server
    finally:
        await runner.cleanup()


def test_endpoint_urls() -> None:
    e = ServerEndpoint.parse("ws://h:1/ws", 0)
    assert (e.ws_url, e.http_base) == ("ws://h:1/ws", "http://h:1")
    e = ServerEndpoint.parse("https://pool.example/miner", 1)
    assert (e.ws_url, e.http_base) == ("wss://pool.example/miner/ws", "https://pool.example/miner")
    assert e.resolve("/api/v1/tasks/x") == "https://pool.example/miner/api/v1/tasks/x"
    assert e.resolve("http://cdn/x") == "http://cdn/x"


def test_websocket_session_login_jobs_and_acks() -> None:
    async def scenario() -> None:
        async with serve(ScriptedServer()) as server, aiohttp.ClientSession() as http:
            conn = await open_connection(ServerEndpoint.parse(server.url, 0), http, CREDS, POLICY)
            assert isinstance(conn, WebSocketConnection)
            assert conn.first_job == server.job
            assert server.logins[0].worker == "rig-1" and server.logins[0].wallet == IDENTITY
            jobs: list[StratumJob] = []
            conn.on_job = lambda c, j: jobs.append(j)
            runner = asyncio.ensure_future(conn.run())
            acks = await asyncio.gather(*(conn.submit(server.job.submit(bytes([0, 0, 0, 1, i]) + bytes(27), 300 + i))
                                          for i in range(3)))
            assert all(a.success for a in acks) and {a.nonce[8:10] for a in acks} == {"00", "01", "02"}
            new_job = make_job("s.2")
            await server.sockets[0].send_str(encode(new_job))
            while not jobs:
                await asyncio.sleep(0.01)
            assert jobs == [new_job] and conn.latest_job == new_job
            await conn.close()
            await runner

    asyncio.run(scenario())


def test_an_error_answer_that_names_no_submit_is_recorded_not_pinned_on_a_submit() -> None:
    async def scenario() -> None:
        server = ScriptedServer()
        # Error answers naming no submit (a refused stats report) or another one, ahead of the real answer.
        server.before_ack = [StratumAck.rejected(ErrorCode.RATE_LIMITED, "slow down"),
                             StratumAck.rejected(ErrorCode.SCORE_MISMATCH, "not yours",
                                                 submit=server.job.submit(bytes([9]) * 32, 1))]
        async with serve(server) as server, aiohttp.ClientSession() as http:
            conn = await open_connection(ServerEndpoint.parse(server.url, 0), http, CREDS, POLICY)
            unmatched: list[StratumAck] = []
            conn.on_unmatched_answer = lambda c, ack: unmatched.append(ack)
            runner = asyncio.ensure_future(conn.run())
            submit = server.job.submit(bytes([0, 0, 0, 1]) + bytes(28), 300)
            ack = await conn.submit(submit)
            assert ack.success and (ack.job_id, ack.nonce) == (submit.job_id, submit.nonce)
            assert [a.code for a in unmatched] == [ErrorCode.RATE_LIMITED, ErrorCode.SCORE_MISMATCH]
            await conn.close()
            await runner

    asyncio.run(scenario())


def test_garbage_from_the_server_ends_the_session_cleanly() -> None:
    async def scenario() -> None:
        async with serve(ScriptedServer()) as server, aiohttp.ClientSession() as http:
            conn = await open_connection(ServerEndpoint.parse(server.url, 0), http, CREDS, POLICY)
            runner = asyncio.ensure_future(conn.run())
            pending = asyncio.ensure_future(asyncio.sleep(0))
            await pending
            await server.sockets[0].send_str('{"Method": "StratumJob", "JobId": ')
            with pytest.raises(SessionLostError) as err:
                await runner
            assert err.value.reason == "protocol" and conn.closed

    asyncio.run(scenario())


def test_refused_login_is_a_connect_error() -> None:
    async def scenario() -> None:
        async with serve(ScriptedServer(refuse_login=True)) as server, aiohttp.ClientSession() as http:
            with pytest.raises(ConnectError) as err:
                await open_connection(ServerEndpoint.parse(server.url, 0), http, CREDS, POLICY)
            assert err.value.reason == "unauthorized"

    asyncio.run(scenario())


def test_connection_refused_is_a_connect_error() -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(ConnectError) as err:
                await open_connection(ServerEndpoint.parse("ws://127.0.0.1:9/ws", 0), http, CREDS, POLICY)
            assert err.value.reason == "refused"

    asyncio.run(scenario())


def test_pull_fallback_when_the_websocket_is_refused() -> None:
    async def scenario() -> None:
        async with serve(ScriptedServer(websocket=False)) as server, aiohttp.ClientSession() as http:
            conn = await open_connection(ServerEndpoint.parse(server.url, 0), http, CREDS, POLICY)
            assert isinstance(conn, PullConnection) and conn.first_job == server.job
            assert server.pull_headers[0]["X-Wallet"] == IDENTITY and server.pull_headers[0]["X-Worker"] == "rig-1"
            jobs: list[StratumJob] = []
            conn.on_job = lambda c, j: jobs.append(j)
            runner = asyncio.ensure_future(conn.run())
            ack = await conn.submit(server.job.submit(bytes(32), 5))
            assert ack.success
            server.job = make_job("s.3")
            while not jobs:
                await asyncio.sleep(0.02)
            assert jobs[0].job_id == "s.3"
            await conn.close()
            await runner
            with pytest.raises(ConnectError):
                await open_connection(ServerEndpoint.parse(server.url, 0, "websocket"), http, CREDS, POLICY)

    asyncio.run(scenario())


class Recorder:
    """A SourceListener that remembers what happened, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        #: Servers whose work still has results that need their session.
        self.holding: set[str] = set()

    def on_connected(self, conn: ServerConnection) -> None:
        self.events.append(("connected", conn.endpoint.url))

    def on_job(self, conn: ServerConnection, job: StratumJob) -> None:
        self.events.append(("job", job.job_id))

    def on_disconnected(self, conn: ServerConnection, reason: str) -> None:
        self.events.append(("disconnected", reason))

    def on_connect_failed(self, endpoint: ServerEndpoint, reason: str, detail: str) -> None:
        self.events.append(("failed", endpoint.url))

    def on_switch(self, old: ServerEndpoint, new: ServerEndpoint, why: str) -> None:
        self.events.append(("switch", new.url))

    def holds_results_for(self, server_url: str) -> bool:
        return server_url in self.holding

    def names(self, kind: str) -> list[Any]:
        return [value for k, value in self.events if k == kind]


class RecordingSleep:
    """The strategy's waits: each delay it asks for is recorded (then slept: they are short), so tests
    check the policy's delays instead of timing the machine."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay)


PRIMARY, BACKUP = "ws://primary:1/ws", "ws://backup:1/ws"


class FakeServers:
    """A primary and a backup that are up or down (``up``); the opener connects to the ones that are up
    and keeps the last session opened with each (``opened``)."""

    def __init__(self, *, primary_up: bool) -> None:
        self.up = {PRIMARY: primary_up, BACKUP: True}
        self.opened: dict[str, FakeConnection] = {}

    async def opener(self, endpoint: ServerEndpoint) -> ServerConnection:
        if not self.up[endpoint.url]:
            raise ConnectError("refused", "down")
        conn = self.opened[endpoint.url] = FakeConnection(endpoint.url)
        return conn


def test_failover_after_retries_and_return_to_the_primary() -> None:
    primary, backup = PRIMARY, BACKUP
    servers = FakeServers(primary_up=True)
    up, opened, opener = servers.up, servers.opened, servers.opener

    async def scenario() -> None:
        recorder = Recorder()
        sleep = RecordingSleep()
        endpoints = [ServerEndpoint.parse(primary, 0), ServerEndpoint.parse(backup, 1)]
        strategy = FailoverStrategy(endpoints, opener, recorder,
                                    FailoverPolicy(retries=3, backoff_initial=0.02, backoff_max=0.05,
                                                   primary_retry=0.3, drain_timeout=0.2), rng=random.Random(1),
                                    sleep=sleep)
        runner = asyncio.ensure_future(strategy.run())
        while strategy.active is None:
            await asyncio.sleep(0.005)
        assert strategy.active.endpoint.url == primary and sleep.delays == []
        up[primary] = False
        opened[primary].end()  # the primary dies
        while strategy.active is None or strategy.active.endpoint.url != backup:
            await asyncio.sleep(0.005)
        # one lost session + two refused reconnects = 3 failures, then the switch; the waits in between are
        # the policy's backoff: three of them, each within its doubling bound under the 0.05 s cap
        assert recorder.names("failed") == [primary, primary]
        backoffs = sleep.delays[:3]
        assert all(0 <= d <= min(0.05, 0.02 * 2**i) for i, d in enumerate(backoffs))
        up[primary] = True
        while strategy.active is None or strategy.active.endpoint.url != primary:
            await asyncio.sleep(0.005)
        # on the backup, the primary is probed every primary_retry (and no other wait), then returned to
        probes = sleep.delays[3:]
        assert probes and set(probes) == {0.3}
        assert recorder.names("switch") == [backup, primary]
        assert strategy.switches == 2
        await asyncio.sleep(0.3)
        assert opened[backup].closed  # drained and closed
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        assert opened[primary].closed

    asyncio.run(scenario())


def test_the_backup_stays_open_after_the_return_while_results_of_its_work_are_held() -> None:
    # Results found on the backup's job but not yet sent when the primary comes back (being computed,
    # waiting to be journaled, queued behind others) go out on the backup: its session stays open for
    # them, up to the drain timeout, and closes as soon as none is left.
    primary, backup = PRIMARY, BACKUP
    servers = FakeServers(primary_up=False)
    up, opened, opener = servers.up, servers.opened, servers.opener

    async def scenario() -> None:
        recorder = Recorder()
        endpoints = [ServerEndpoint.parse(primary, 0), ServerEndpoint.parse(backup, 1)]
        strategy = FailoverStrategy(endpoints, opener, recorder,
                                    FailoverPolicy(retries=1, backoff_initial=0.01, backoff_max=0.01,
                                                   primary_retry=0.05, drain_timeout=30.0))
        runner = asyncio.ensure_future(strategy.run())
        while strategy.active is None or strategy.active.endpoint.url != backup:
            await asyncio.sleep(0.005)
        recorder.holding.add(backup)  # a result of the backup's work, not sent yet
        up[primary] = True
        while strategy.active is None or strategy.active.endpoint.url != primary:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
        assert not opened[backup].closed and strategy.connection_for(backup) is opened[backup]
        recorder.holding.clear()  # its verdict came
        await asyncio.sleep(0.3)
        assert opened[backup].closed and strategy.connection_for(backup) is None
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(scenario())


def test_single_server_keeps_retrying_with_growing_jittered_delays() -> None:
    attempts: list[int] = []

    async def opener(endpoint: ServerEndpoint) -> ServerConnection:
        attempts.append(len(sleep.delays))  # waits so far
        raise ConnectError("refused", "down")

    sleep = RecordingSleep()

    async def scenario() -> None:
        strategy = FailoverStrategy([ServerEndpoint.parse("ws://only:1/ws", 0)], opener, Recorder(),
                                    FailoverPolicy(retries=2, backoff_initial=0.01, backoff_max=0.08), sleep=sleep)
        runner = asyncio.ensure_future(strategy.run())
        while len(attempts) < 8:
            await asyncio.sleep(0.005)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        assert attempts[:8] == list(range(8))  # one wait before each reconnect
        bounds = [min(0.08, 0.01 * 2**i) for i in range(7)]
        assert all(0 <= d <= b for d, b in zip(sleep.delays, bounds, strict=False))  # growing, then capped
        assert len({round(d, 9) for d in sleep.delays[:7]}) == 7  # jittered, not a fixed pause
        assert strategy.index == 0 and strategy.switches == 0

    asyncio.run(scenario())
