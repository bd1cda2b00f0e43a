"""The daemon against the real work server: pull mode, idle jobs, worker faults, and the stall watchdog."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from miner import exit_codes
from miner.daemon import MinerDaemon
from miner.journal import JournalRecord
from miner.scorers import JobInputs, PreparedWork, Scorer
from protocol.fields import Algo
from tests.miner.harness import (
    ServerProcess,
    fast_settings,
    journal_pending,
    ledger_accepted,
    running_daemon,
    set_server_idle,
    wait_for,
    wait_for_async,
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
            pool, idle = daemon.pool, daemon.stats.job
            assert pool is not None and idle is not None
            await wait_for(lambda: pool.parked_on == [idle.generation], 10, "the worker to park")
            parked = daemon.stats.iterations
            await asyncio.sleep(1.0)  # the server's periodic job arrives; still idle, still parked
            assert daemon.stats.iterations == parked and pool.parked_on[0] is not None  # no computing while idle
            await asyncio.to_thread(set_server_idle, server, False)
            await wait_for(lambda: daemon.stats.iterations > parked + 50, 10, "mining to resume")

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_result_being_journaled_when_the_stop_comes_is_still_submitted(tmp_path: Path) -> None:
    """A stop that arrives while a found result is being written to the journal (fsync on a slow disk) waits
    for it and submits it: the stop does not report "nothing kept" while the result sits unsent."""
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    entered, release = threading.Event(), threading.Event()
    held: list[str] = []

    async def scenario() -> None:
        async with running_daemon(fast_settings(tmp_path, [server.url])) as daemon:
            await wait_for(lambda: daemon.stats.count("accepted") >= 1, 60, "an accepted solution")
            write = daemon.journal.add

            def slow_write(record: JournalRecord) -> None:
                if not held:  # the next result found: its write is held until the stop is under way
                    held.append(json.loads(record.submit)["Nonce"])
                    entered.set()
                    release.wait(30)
                write(record)

            daemon.journal.add = slow_write  # type: ignore[method-assign]
            assert await asyncio.to_thread(entered.wait, 60), "no result found"
            daemon.request_stop("test: stop while a result is being journaled")
            await asyncio.sleep(1.0)  # the stop is under way (without the wait, the daemon has finished by now)
            release.set()

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        server.stop()
    (nonce,) = held
    assert nonce in {n for _, n in ledger_accepted(server.db)}  # submitted during the stop, and accepted
    assert journal_pending(tmp_path / "journal.jsonl") == {}


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket whose messages a thread collects, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._listen, daemon=True)
        self._reader.start()

    def _listen(self) -> None:
        while not self._done.is_set():
            try:
                self.states.extend(self._sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                continue

    def close(self) -> None:
        self._done.set()
        self._reader.join()
        self._sock.close()


class _Hang(PreparedWork):
    def __init__(self, inner: PreparedWork, release: threading.Event, hung: threading.Event, after: float,
                 on_hang: list[object]) -> None:
        self.inner, self.release, self.hung, self.on_hang = inner, release, hung, on_hang
        self.hang_at = time.monotonic() + after

    def score(self, nonce: bytes) -> int:
        if time.monotonic() > self.hang_at:
            if not self.hung.is_set():
                for callback in self.on_hang:
                    callback()  # type: ignore[operator]
                self.hung.set()
            self.release.wait()  # a worker stuck in native code
        return self.inner.score(nonce)


class HangingScorer(Scorer):
    def __init__(self, release: threading.Event, after: float) -> None:
        super().__init__(Algo.NEURAXON)
        self.release, self.after = release, after
        self.hung = threading.Event()
        self.on_hang: list[object] = []

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        return _Hang(super().prepare(inputs), self.release, self.hung, self.after, self.on_hang)


def test_stall_watchdog_stops_pinging_systemd_and_exits_42(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    notify = NotifySocket(tmp_path / "notify.sock")
    release = threading.Event()
    scorer = HangingScorer(release, after=2.0)
    try:
        settings = fast_settings(tmp_path, [server.url], stall_timeout_seconds=5.0)
        daemon = MinerDaemon(settings, scorers={Algo.NEURAXON: scorer},
                             environ={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"})
        at_hang: list[list[str]] = []
        scorer.on_hang.append(lambda: at_hang.append(list(daemon.notifier.sent)))
        assert asyncio.run(daemon.run()) == exit_codes.EXIT_STALLED
        assert daemon.stats.stalled and scorer.hung.is_set()
    finally:
        release.set()
        notify.close()
        server.stop()
    assert "READY=1" in notify.states and "WATCHDOG=1" in notify.states and notify.states[-1] == "STOPPING=1"
    # Pings continue only while the last finished iteration is within WatchdogSec (1 s: one tick, two at
    # most), not through the 5 s stall before the exit.
    sent = daemon.notifier.sent
    assert sent[:len(at_hang[0])] == at_hang[0]
    assert sent[len(at_hang[0]):].count("WATCHDOG=1") <= 2


class _Breakable(PreparedWork):
    def __init__(self, inner: PreparedWork, broken: threading.Event) -> None:
        self.inner, self.broken = inner, broken

    def score(self, nonce: bytes) -> int:
        if self.broken.is_set():
            raise FloatingPointError("scorer blew up")
        return self.inner.score(nonce)


class BreakableScorer(Scorer):
    """The real scorer, raising on every iteration while ``broken`` is set."""

    def __init__(self) -> None:
        super().__init__(Algo.NEURAXON)
        self.broken = threading.Event()

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        return _Breakable(super().prepare(inputs), self.broken)


def test_worker_exceptions_are_logged_counted_restarted_and_make_the_miner_unhealthy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    notify = NotifySocket(tmp_path / "notify.sock")
    scorer = BreakableScorer()

    async def readyz(http: aiohttp.ClientSession, base: str) -> tuple[int, str]:
        async with http.get(base + "/readyz") as resp:
            return resp.status, (await resp.json())["reason"]

    async def scenario() -> None:
        settings = fast_settings(tmp_path, [server.url], api_enabled=True, api_port=0, worker_error_limit=3)
        async with running_daemon(settings, scorers={Algo.NEURAXON: scorer},
                                  environ={"NOTIFY_SOCKET": str(notify.path)}) as daemon, \
                aiohttp.ClientSession() as http:
            base, pool = daemon.stats.api_url, daemon.pool
            assert base is not None and pool is not None
            answers: list[tuple[int, str]] = []

            async def poll(status: int) -> bool:
                answers.append(await readyz(http, base))
                return answers[-1][0] == status

            await wait_for_async(lambda: poll(200), 60, "/readyz 200 while mining")
            scorer.broken.set()
            await wait_for_async(lambda: poll(503), 30, "/readyz 503 after worker_error_limit failures")
            assert answers[-1][1].startswith("unhealthy: a worker failed") and "FloatingPointError" in answers[-1][1]
            assert pool.errors >= 3 and pool.restarts[0] >= 3  # restarted after each failure, with a backoff
            async with http.get(base + "/metrics") as resp:
                families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
            (errors,) = [s for s in families["neuraxon_miner_worker_errors"].samples if s.name.endswith("_total")]
            assert errors.labels == {"algo": "neuraxon"} and errors.value >= 3
            await wait_for(lambda: any(s.startswith("STATUS=UNHEALTHY") for s in notify.states), 10,
                           "STATUS=UNHEALTHY to systemd")
            assert any(e.kind == "worker" and "FloatingPointError" in e.message for e in daemon.stats.recent_errors)
            scorer.broken.clear()  # the fault clears: one good iteration and the miner is healthy again
            await wait_for_async(lambda: poll(200), 60, "/readyz 200 after the fault cleared")
            assert daemon.stats.worker_errors_in_a_row == 0

    try:
        asyncio.run(scenario())
    finally:
        notify.close()
        server.stop()
    log = capsys.readouterr().out
    assert len(re.findall(r"\bworker_error\b", log)) == 1  # logged once, with its traceback
    assert "Traceback" in log and "FloatingPointError: scorer blew up" in log


def test_bpp9000_jobs_are_self_tested_mined_and_accepted(tmp_path: Path) -> None:
    """Algo 1 end to end: the task file is downloaded and hash-checked, the scorer self-tests on its
    first job, canonical nonces ``[1, L, 0] + prefix + counter`` are mined and the server accepts them
    (threshold relaxed to about the median error count of this identity's walks)."""
    server = ServerProcess(tmp_path / "ledger.sqlite", task="bpp9000", threshold=5300).start()

    async def scenario() -> None:
        # The server builds its own 512 MiB pool and scores ~1 walk/s, and the miner first self-tests the
        # job's bpp9000 version (v1.301 here: a pool per known answer): give them time.
        settings = fast_settings(tmp_path, [server.url], self_test=True, bpp9000_changes=3,
                                 submit_timeout_seconds=60.0)
        async with running_daemon(settings) as daemon:
            # Hang guards only, generous: at a load average of 8 the self-test alone took 77 s.
            await wait_for(lambda: daemon.preparer is not None and "bpp9000-v1301" in daemon.preparer.tested, 400,
                           "the bpp9000 self-test")
            await wait_for(lambda: daemon.stats.count("accepted") >= 1, 400, "an accepted bpp9000 solution")
            job = daemon.stats.job
            assert job is not None and job.job.algo is Algo.BPP9000 and job.computable
            assert daemon.preparer is not None and daemon.preparer.tested == {"neuraxon", "neuraxon-v2",
                                                                              "bpp9000-v1301"}
        nonces = [nonce for _, nonce in ledger_accepted(server.db)]
        assert nonces and all(n.startswith("010300") for n in nonces)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_journal_with_unreadable_records_is_quarantined_and_the_miner_mines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    journal = tmp_path / "journal.jsonl"
    damaged = [b'{"v":1,"op":"found","id":"r1","submit":"\xff\xfe\xfd","kind":"solution"}',  # not UTF-8
               b'{"v":1,"op":"found","id":"r2",',  # cut short, and not the last line
               b'{"v":1,"op":"done","id":"r3","verdict":"accepted"}']
    journal.write_bytes(b"\n".join(damaged) + b"\n")

    async def scenario() -> None:
        async with running_daemon(fast_settings(tmp_path, [server.url])) as daemon:
            await wait_for(lambda: daemon.stats.count("accepted") >= 1, 60, "an accepted solution")
            metrics = daemon.metrics.render().decode()
            assert "neuraxon_miner_journal_quarantined_total 2.0" in metrics

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert (tmp_path / "journal.jsonl.quarantine").read_bytes() == damaged[0] + b"\n" + damaged[1] + b"\n"
    assert capsys.readouterr().out.count("journal_quarantined") == 1
