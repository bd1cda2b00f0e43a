"""Shared helpers of the work-server tests: run coroutines, start a real server, a small miner client.

No pytest-asyncio: each test is a plain function that runs its body with :func:`run` (one fresh event
loop per test, with a hard timeout), which keeps the test dependencies as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from Crypto.Hash import KangarooTwelve

from protocol import (
    Message,
    StratumAck,
    StratumJob,
    StratumLogin,
    decode,
    encode,
    identity_from_public_key,
)
from protocol.fields import Algo
from protocol.server import ServerConfig, WorkServer, neuraxon_task
from protocol.server.verify import VerifyOutcome, VerifyRequest
from scoring import neuraxon as NX
from scoring.neuraxon_task import TaskSpec

T = TypeVar("T")

SMALL_TASK_PATH = Path(__file__).resolve().parents[2] / "data" / "neuraxon-task" / "small.json"
SMALL_SPEC = TaskSpec.from_dict(json.loads(SMALL_TASK_PATH.read_text()))
ADMIN = "admin-secret"
TOKEN = "miner-token-1"


def run(coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
    """Run ``coro`` on a fresh event loop, failing after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def wallet(seed: str) -> str:
    """A valid 60-letter identity derived from ``seed``."""
    return identity_from_public_key(bytes(KangarooTwelve.new(data=seed.encode()).read(32)))


def small_config(**overrides: Any) -> ServerConfig:
    """A loopback server on the small Neuraxon task (3 ms per score), easy to reason about."""
    threshold = overrides.pop("threshold", None)
    training = overrides.pop("training", True)
    base: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "tasks": (neuraxon_task(SMALL_SPEC, threshold=threshold, training=training),),
        "admin_token": ADMIN, "access_tokens": frozenset({TOKEN}), "verify_workers": 2, "vardiff": False,
        "messages_per_second": 1000.0, "message_burst": 1000, "job_interval_seconds": 30.0,
    }
    base.update(overrides)
    return ServerConfig(**base)


@asynccontextmanager
async def serving(config: ServerConfig) -> AsyncIterator[WorkServer]:
    """A started :class:`WorkServer`, closed on exit."""
    server = WorkServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


class StubVerifier:
    """A Neuraxon-shaped verifier whose score is a cheap hash of (public key, nonce): 0..999."""

    @property
    def algo(self) -> Algo:
        return Algo.NEURAXON

    def check_nonce(self, nonce: bytes) -> str | None:
        return None

    def sample_nonce(self, raw: bytes) -> bytes:
        return raw

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        return VerifyOutcome(stub_score(request.public_key, request.nonce))


class GatedVerifier(StubVerifier):
    """The stub score, computed only when the test releases it; records whose walks started, in order.

    Pickled (to the workers of an in-process Dask cluster) as a reference to this very object.
    """

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.started: list[str] = []  # job identities
        _GATED[id(self)] = self

    def __reduce__(self) -> tuple[object, ...]:
        return (_gated, (id(self),))

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        assert request.job is not None
        self.started.append(request.job.identity)
        self.gate.acquire(timeout=60)
        return super().compute(request)

    async def release_until_answered(self, miner: Miner) -> StratumAck:
        """Release the gated walks one by one until ``miner``'s submit is answered; returns its answer."""
        while True:
            self.gate.release()
            with contextlib.suppress(TimeoutError):
                return await miner.expect(StratumAck, timeout=0.2)


_GATED: dict[int, GatedVerifier] = {}


def _gated(key: int) -> GatedVerifier:
    return _GATED[key]


def stub_score(public_key: bytes, nonce: bytes | str) -> int:
    """The :class:`StubVerifier` score."""
    raw = bytes.fromhex(nonce) if isinstance(nonce, str) else nonce
    return int.from_bytes(KangarooTwelve.new(data=public_key + raw).read(2), "little") % 1000


class Miner:
    """A WebSocket miner for tests: raw frames in and out, typed helpers on top."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, name: str) -> None:
        self.http = http
        self.ws = ws
        self.name = name
        self.wallet = wallet(name)
        self.job: StratumJob | None = None
        self.backlog: list[Message] = []

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str, name: str = "miner", *, source: str | None = None,
                      **kwargs: Any) -> AsyncIterator[Miner]:
        """Connect (from the loopback address ``source``, e.g. ``127.0.0.2``, when given)."""
        connector = aiohttp.TCPConnector(local_addr=(source, 0) if source else None)
        async with aiohttp.ClientSession(connector=connector) as http, http.ws_connect(url, **kwargs) as ws:
            yield cls(http, ws, name)

    async def send(self, message: Message) -> None:
        await self.ws.send_str(encode(message))

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def recv(self, timeout: float = 10.0) -> Message:
        """The next message (from the backlog first); raises ``ConnectionError`` on close."""
        if self.backlog:
            return self.backlog.pop(0)
        msg = await self.ws.receive(timeout=timeout)
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise ConnectionError(f"connection closed ({msg.type.name}, code {self.ws.close_code})")
        message = decode(msg.data)
        if isinstance(message, StratumJob):
            self.job = message
        return message

    async def drain(self) -> list[Message]:
        """Every message that is already waiting (the backlog first), without blocking."""
        out, self.backlog = self.backlog, []
        while True:
            try:
                out.append(await self.recv(timeout=0.002))
            except TimeoutError:
                return out

    async def expect(self, kind: type[T], timeout: float = 10.0) -> T:
        """The next message of type ``kind``; others are kept for later :meth:`recv` calls."""
        kept: list[Message] = []
        try:
            while True:
                message = await self.recv(timeout)
                if isinstance(message, kind):
                    return message
                kept.append(message)
        finally:
            self.backlog[:0] = kept

    async def login(self, **fields: Any) -> StratumJob:
        values: dict[str, Any] = {"wallet": self.wallet, "worker": self.name, "os": "test", "version": "0",
                                  "threads": 1}
        values.update(fields)
        await self.send(StratumLogin(**values))
        return await self.expect(StratumJob)

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the connection; returns the close code."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code
            if msg.type is aiohttp.WSMsgType.ERROR:
                return self.ws.close_code


async def fetch_parent(http: aiohttp.ClientSession, base_url: str, job: StratumJob) -> NX.Parent | None:
    """The job's parent as a scorer ``Parent`` (downloading ``NetworkUrl`` when needed)."""
    if job.parent is None:
        return None
    network = job.parent.network
    if network is None:
        assert job.parent.network_url is not None
        async with http.get(base_url + job.parent.network_url) as resp:
            assert resp.status == 200
            body = await resp.read()
        assert KangarooTwelve.new(data=body).read(32).hex() == job.parent.network_hash
        network = json.loads(body)
    return NX.Parent(network, job.parent.score)


def find_nonce(job: StratumJob, spec: TaskSpec, accept: Callable[[int], bool], *, start: int = 0,
               parent: NX.Parent | None = None, limit: int = 5000) -> tuple[str, int, int]:
    """The first nonce of the job's space (from counter ``start``) whose real score passes ``accept``:
    ``(nonce, score, counter)``."""
    space = job.nonce_space()
    for counter in range(start, start + limit):
        nonce = space.nonce(counter)
        score = NX.score(spec, job.identity, nonce, parent=parent)
        if accept(score):
            return nonce, score, counter
    raise AssertionError("no nonce found")


async def submit_a_solution(miner: Miner, job: StratumJob) -> tuple[str, int, int]:
    """Find a real solution of ``job`` on the small task, submit it and check it is accepted:
    ``(nonce, score, counter)``."""
    nonce, score, counter = find_nonce(job, SMALL_SPEC, job.is_solution)
    await miner.send(job.submit(nonce, score))
    ack = await miner.expect(StratumAck)
    assert ack.success, ack
    return nonce, score, counter


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, step: float = 0.02) -> None:
    """Poll ``predicate`` until true or fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def random_nonce() -> str:
    return os.urandom(32).hex()


def ack_of(message: Message) -> StratumAck:
    assert isinstance(message, StratumAck), f"expected an ack, got {message.METHOD}"
    return message


def stop_processes(procs: Sequence[subprocess.Popen[Any]], timeout: float = 30.0) -> None:
    """SIGTERM every process still running, wait up to ``timeout`` seconds for each, SIGKILL the rest."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_cli_server(args: list[str], log: Path, *, env: Mapping[str, str] | None = None,
                     nofile: tuple[int, int] | None = None) -> tuple[subprocess.Popen[str], str, str]:
    """``neuraxon-miner workserver --port 0 --log-format json <args>`` as a process of its own (stderr
    appended to ``log``; ``nofile``: its (soft, hard) open-file limits); returns it with its WebSocket
    and HTTP URLs once it is listening."""
    script = Path(sys.executable).with_name("neuraxon-miner")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "miner"]
    command += ["workserver", "--port", "0", "--log-format", "json", *args]
    if nofile is not None:  # set the limit in a launcher that then becomes the server (exec)
        command = [sys.executable, "-c", "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, "
                   f"{nofile!r}); os.execv(sys.argv[1], sys.argv[1:])", *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log.open("a"), text=True, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("workserver ready:"):
                ws_url, http_url = line.split()[2:4]
                return proc, ws_url, http_url
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError(f"server did not start; log:\n{log.read_text()[-3000:]}")
