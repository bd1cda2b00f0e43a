"""The daemon against the real work server: pull mode, idle jobs, and the stall watchdog."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

from miner import exit_codes
from miner.daemon import MinerDaemon
from miner.scorers import JobInputs, NeuraxonScorer, PreparedWork
from protocol.fields import Algo
from tests.miner.harness import (
    ServerProcess,
    fast_settings,
    ledger_accepted,
    running_daemon,
    set_server_idle,
    wait_for,
)


def test_pull_mode_mines_and_the_books_agree(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()

    async def scenario() -> None:
        settings = fast_settings(tmp_path, [server.url.replace("ws://", "http://").removesuffix("/ws")],
                                 transport="pull", pull_interval_seconds=0.2)
        async with running_daemon(settings) as daemon:
            await wait_for(lambda: daemon.stats.count("accepted") >= 3, 60, "accepted solutions over HTTP pull")
            assert daemon.stats.active_server is not None and daemon.stats.active_server.transport == "pull"
            assert daemon.pool is not None and daemon.submitter is not None
            await asyncio.to_thread(daemon.pool.stop, 5.0)
            await wait_for(lambda: not daemon.submitter.pending, 20, "pending results")
            assert daemon.stats.count("accepted") == len(ledger_accepted(server.db))

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_idle_job_stops_computing_until_work_returns(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()

    async def scenario() -> None:
        async with running_daemon(fast_settings(tmp_path, [server.url])) as daemon:
            await wait_for(lambda: daemon.stats.iterations > 50, 30, "mining")
            await asyncio.to_thread(set_server_idle, server, True)
            await wait_for(lambda: (job := daemon.stats.job) is not None and job.job.is_idle, 10, "the idle job")
            await asyncio.sleep(0.2)
            parked = daemon.stats.iterations
            await asyncio.sleep(1.0)
            assert daemon.stats.iterations == parked  # no computing while idle
            await asyncio.to_thread(set_server_idle, server, False)
            await wait_for(lambda: daemon.stats.iterations > parked + 50, 10, "mining to resume")

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


class _Hang(PreparedWork):
    def __init__(self, inner: PreparedWork, release: threading.Event, after: float) -> None:
        self.inner, self.release, self.hang_at = inner, release, time.monotonic() + after

    def score(self, nonce: bytes) -> int:
        if time.monotonic() > self.hang_at:
            self.release.wait()  # a worker stuck in native code
        return self.inner.score(nonce)


class HangingScorer(NeuraxonScorer):
    def __init__(self, release: threading.Event, after: float) -> None:
        self.release, self.after = release, after

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        return _Hang(super().prepare(inputs), self.release, self.after)


def test_stall_watchdog_stops_pinging_systemd_and_exits_42(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    received: list[tuple[float, str]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                received.extend((time.monotonic(), m) for m in sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                continue

    release = threading.Event()
    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    try:
        settings = fast_settings(tmp_path, [server.url], stall_timeout_seconds=3.0)
        daemon = MinerDaemon(settings, scorers={Algo.NEURAXON: HangingScorer(release, after=2.0)},
                             environ={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"})
        started = time.monotonic()
        assert asyncio.run(daemon.run()) == exit_codes.EXIT_STALLED
        assert time.monotonic() - started < 30
        assert daemon.stats.stalled
    finally:
        release.set()
        done.set()
        reader.join()
        sock.close()
        server.stop()
    states = [m for _, m in received]
    assert "READY=1" in states and "WATCHDOG=1" in states and states[-1] == "STOPPING=1"
    last_ping = max(t for t, m in received if m == "WATCHDOG=1")
    stopping = next(t for t, m in received if m == "STOPPING=1")
    assert stopping - last_ping >= 1.0  # no WATCHDOG=1 once the workers stopped making progress


def test_bpp9000_jobs_are_self_tested_mined_and_accepted(tmp_path: Path) -> None:
    """Algo 1 end to end: the task file is downloaded and hash-checked, the scorer self-tests on its
    first job, canonical nonces ``[1, L, 0] + prefix + counter`` are mined and the server accepts them
    (threshold relaxed to about the median error count of this identity's walks)."""
    server = ServerProcess(tmp_path / "ledger.sqlite", task="bpp9000", threshold=5300).start()

    async def scenario() -> None:
        # The server builds its own 512 MiB pool and scores ~1 walk/s: give its answers time.
        settings = fast_settings(tmp_path, [server.url], self_test=True, bpp9000_changes=3,
                                 submit_timeout_seconds=60.0)
        async with running_daemon(settings) as daemon:
            await wait_for(lambda: daemon.stats.count("accepted") >= 1, 120, "an accepted bpp9000 solution")
            job = daemon.stats.job
            assert job is not None and job.job.algo is Algo.BPP9000 and job.computable
            assert daemon.preparer is not None and Algo.BPP9000 in daemon.preparer.tested
        nonces = [nonce for _, nonce in ledger_accepted(server.db)]
        assert nonces and all(n.startswith("010300") for n in nonces)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
