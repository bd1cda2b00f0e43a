"""What the miner's integration tests share: a test wallet, fast settings, the real server in-process
or in a killable process, a WebSocket proxy that can freeze or inject garbage, and ledger queries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from Crypto.Hash import KangarooTwelve

from miner.daemon import MinerDaemon
from miner.settings import MinerSettings
from miner.status import StatusDocument
from protocol.identity import identity_from_public_key
from tests.miner.server_process import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parent.parent.parent
#: The tests' wallet; on the small task at threshold 400 about 0.7 % of its walks are solutions.
WALLET = identity_from_public_key(bytes(KangarooTwelve.new(data=b"neuraxon-miner test wallet").read(32)))


def fast_settings(tmp_path: Path, servers: list[str], **overrides: Any) -> MinerSettings:
    """Settings with short timings so fault tests take seconds, not minutes."""
    values: dict[str, Any] = {
        "servers": servers, "wallet": WALLET, "worker": "test-rig", "threads": "1", "api_enabled": False,
        "journal_file": tmp_path / "journal.jsonl", "self_test": False, "retries": 2,
        "backoff_initial_seconds": 0.1, "backoff_max_seconds": 0.5, "primary_retry_seconds": 1.0,
        "connect_timeout_seconds": 2.0, "submit_timeout_seconds": 5.0, "heartbeat_seconds": 5.0,
        "job_timeout_seconds": 15.0, "print_interval_seconds": 5.0, "shutdown_timeout_seconds": 3.0,
        "stale_result_seconds": 60.0,
    }
    values.update(overrides)
    return MinerSettings.model_validate(values)


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll until ``predicate()`` (``timeout`` only guards against a hang; tests assert on events, not time)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_for_async(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str,
                         interval: float = 0.05) -> None:
    """Poll an async predicate until it is true (``timeout`` only guards against a hang)."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running_daemon(settings: MinerSettings, **daemon_args: Any) -> AsyncIterator[MinerDaemon]:
    """A miner daemon (``MinerDaemon(settings, **daemon_args)``) running in this event loop; stopped (and
    its exit code checked) on exit."""
    daemon = MinerDaemon(settings, **daemon_args)
    task = asyncio.get_running_loop().create_task(daemon.run())
    try:
        await wait_for(lambda: daemon.pool is not None or task.done(), 30, "the daemon to start")
        if task.done():
            raise AssertionError(f"the daemon exited with {task.result()}")
        yield daemon
    finally:
        daemon.request_stop("test over")
        code = await asyncio.wait_for(task, 60)
        assert code == 0, f"daemon exit code {code}"


class ServerProcess:
    """The real work server in a child process (``tests/miner/server_process.py``), killable with SIGKILL."""

    def __init__(self, db: Path, port: int = 0, **options: Any) -> None:
        self.db = db
        self.port = port
        self.options = options
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        args = [sys.executable, "-m", "tests.miner.server_process", "--port", str(self.port), "--db", str(self.db)]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            raise AssertionError(f"work server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


def set_server_idle(server: ServerProcess, idle: bool) -> None:
    """Switch a test server's idle jobs on or off through its admin API (blocking; run it in a thread)."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/v1/admin/state", method="POST",
                                     data=json.dumps({"Idle": idle}).encode(),
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()


def ledger_accepted(db: Path, worker: str = "test-rig") -> list[tuple[str, str]]:
    """``(kind, nonce)`` of every accepted submission of ``worker`` in a server's ledger file."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [(k, n) for k, n in conn.execute("SELECT kind, nonce FROM accepted WHERE worker = ? ORDER BY id",
                                                (worker,))]


def journal_pending(journal: Path) -> dict[str, str]:
    """Result id -> nonce of every result in a miner's journal file without a verdict."""
    found: dict[str, str] = {}
    for line in journal.read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:  # a torn last line
            continue
        if obj["op"] == "found":
            found[obj["id"]] = json.loads(obj["submit"])["Nonce"]
        elif obj["op"] == "done":
            found.pop(obj["id"], None)
    return found


def ledger_mismatches(db: Path, worker: str = "test-rig") -> int:
    """Score mismatches the server counted for ``worker``."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT mismatches FROM workers WHERE worker = ?", (worker,)).fetchone()
    return int(row[0]) if row else 0


class WsProxy:
    """A WebSocket relay between a miner and a real server.

    ``freeze()`` drops miner→server frames (submits vanish, as on a dead link); ``inject(text)``
    sends a frame of the test's choosing to every connected miner. Other GET requests (task and
    network downloads) are relayed as they are.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.frozen = False
        self.dropped = 0
        self.clients: list[web.WebSocketResponse] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> WsProxy:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get("/ws", self._relay)
        app.router.add_get("/{path:.*}", self._get)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        for ws in list(self.clients):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def inject(self, text: str) -> None:
        for ws in list(self.clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)

    def freeze(self, frozen: bool = True) -> None:
        self.frozen = frozen

    async def _get(self, request: web.Request) -> web.Response:
        assert self._http is not None
        target = self.upstream.replace("ws://", "http://").removesuffix("/ws") + request.path_qs
        async with self._http.get(target) as resp:
            return web.Response(body=await resp.read(), status=resp.status,
                                content_type=resp.content_type)

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        client = web.WebSocketResponse()
        await client.prepare(request)
        try:
            upstream = await self._http.ws_connect(self.upstream)
        except aiohttp.ClientError:
            await client.close()
            return client
        self.clients.append(client)

        async def down() -> None:
            async for msg in upstream:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await client.send_str(msg.data)
            await client.close()

        pump = asyncio.ensure_future(down())
        try:
            async for msg in client:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                if self.frozen:
                    self.dropped += 1
                    continue
                await upstream.send_str(msg.data)
        finally:
            pump.cancel()
            await upstream.close()
            with contextlib.suppress(ValueError):
                self.clients.remove(client)
        return client


def miner_status(port: int) -> StatusDocument | None:
    """``GET /status`` of a miner process's API on loopback ``port``; None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as resp:
            return StatusDocument.model_validate_json(resp.read())
    except OSError:
        return None


def miner_command(*args: str) -> list[str]:
    """The real CLI, as the README runs it."""
    return [str(ROOT / ".venv" / "bin" / "neuraxon-miner"), *args] if (ROOT / ".venv" / "bin" / "neuraxon-miner") \
        .exists() else [sys.executable, "-m", "miner", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any NEURAXON_MINER_* or systemd variables of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEURAXON_MINER_", "NOTIFY_SOCKET", "WATCHDOG"))}
    env.update(extra)
    return env
