"""Verification on a real Dask cluster (``--verifier tcp://...``): same verdicts as the local pool, a
worker process killed mid-verification costs a retry and never a second verdict, a scheduler that is missing
at start stops the server (exit 2) and one lost at run time answers SERVER_BUSY until it is back.

Fair scheduling on Dask is tested with the hardening tests' flood (``test_abuse.py``, parametrised).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from protocol import ErrorCode, StratumAck
from protocol.fields import Algo
from protocol.server.ledger import Ledger
from protocol.server.verify import ScoringVerifier, VerifyOutcome, VerifyRequest
from tests.protocol.server.dask_cluster import dask_processes, local_cluster, require_dask
from tests.protocol.server.helpers import (
    SMALL_SPEC,
    Miner,
    find_nonce,
    run,
    serving,
    small_config,
    start_cli_server,
    until,
)

pytestmark = pytest.mark.usefixtures("_dask")


@pytest.fixture
def _dask() -> None:
    require_dask()


async def _true(value: bool) -> bool:
    return value


async def _verdicts(verifier: str) -> list[tuple[bool, int, str]]:
    """A real solution, a forged score and a real share below the bar, as one miner submits them."""
    config = small_config(threshold=400, training=False, calibration_walks=0, verifier=verifier)
    async with serving(config) as server, Miner.connect(server.ws_url, "same-miner") as miner:
        job = await miner.login()
        solution, score, counter = find_nonce(job, SMALL_SPEC, job.is_solution)
        share, share_score, _ = find_nonce(job, SMALL_SPEC, lambda s: s < 400, start=counter + 1)
        forged, forged_score, _ = find_nonce(job, SMALL_SPEC, lambda s: s < 400, start=counter + 100)
        out = []
        for nonce, claim in ((solution, score), (forged, 10_000), (share, share_score)):
            await miner.send(job.submit(nonce, claim))
            ack = await miner.expect(StratumAck)
            out.append((ack.success, int(ack.code), ack.message))
        assert (out[0][0], out[1][1]) == (True, ErrorCode.SCORE_MISMATCH), out
        assert f"recomputed {forged_score}" in out[1][2]
        return out


def test_dask_verifies_a_real_miners_submissions_exactly_as_the_local_pool() -> None:
    async def body() -> None:
        local = await _verdicts("local")
        async with local_cluster(workers=1) as cluster:
            on_dask = await _verdicts(cluster.scheduler_address)
        assert on_dask == local

    run(body(), timeout=300)


class StallOnFirstRun:
    """The real Neuraxon verifier, for worker processes: each run appends its process id to
    ``gate/runs``; the first one also waits until ``gate/release`` exists (the test kills its process
    meanwhile). Files, because the runs happen in other processes."""

    def __init__(self, gate: Path) -> None:
        self.gate = gate
        self.real = ScoringVerifier("neuraxon")

    @property
    def algo(self) -> Algo:
        return self.real.algo

    def check_nonce(self, nonce: bytes) -> str | None:
        return self.real.check_nonce(nonce)

    def sample_nonce(self, raw: bytes) -> bytes:
        return self.real.sample_nonce(raw)

    def runs(self) -> list[int]:
        """Process ids of the runs so far, in order."""
        path = self.gate / "runs"
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        with (self.gate / "runs").open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        try:
            os.close(os.open(self.gate / "first", os.O_CREAT | os.O_EXCL))  # only the first run claims it
        except FileExistsError:
            pass
        else:
            deadline = time.monotonic() + 120
            while not (self.gate / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.real.compute(request)


def test_a_worker_process_killed_mid_verification_is_retried_and_the_verdict_recorded_once(tmp_path: Path) -> None:
    """Two ``dask worker`` processes; the one verifying a miner's solution is killed with SIGKILL: Dask
    runs the verification again on the other, the miner gets one ack, the ledger holds one row."""
    verifier = StallOnFirstRun(tmp_path)

    async def body(address: str) -> None:
        config = small_config(threshold=400, training=False, calibration_walks=0, verifier=address,
                              verifiers={Algo.NEURAXON: verifier})
        async with serving(config) as server, Miner.connect(server.ws_url, "survivor") as miner:
            job = await miner.login()
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            await until(lambda: _true(len(verifier.runs()) == 1), timeout=120)
            (lost,) = verifier.runs()
            os.kill(lost, signal.SIGKILL)  # the worker process dies while its verification runs
            ack = await miner.expect(StratumAck, timeout=120)
            assert ack.success, ack
            runs = verifier.runs()
            assert len(runs) == 2 and runs[1] != lost, runs  # retried once, in the other worker process
            (tmp_path / "release").touch()
            await miner.send(job.submit(nonce, score))  # a resend of the same result
            again = await miner.expect(StratumAck)  # the next ack: a second verdict would have come first
            assert again.code == ErrorCode.DUPLICATE, again
            rows = await server.service.ledger.call(Ledger.accepted)
            assert [(r["nonce"], r["score"]) for r in rows] == [(nonce, score)]

    try:
        with dask_processes(2, tmp_path / "dask") as address:
            run(body(address), timeout=300)
    finally:
        (tmp_path / "release").touch()


def test_a_scheduler_lost_at_run_time_answers_server_busy_until_it_is_back() -> None:
    from distributed import Scheduler, Worker

    async def body() -> None:
        scheduler = await Scheduler(host="127.0.0.1", port=0, dashboard_address=None)
        port = scheduler.port
        worker = await Worker(scheduler.address, nthreads=1)
        config = small_config(threshold=400, training=False, calibration_walks=0, verifier=scheduler.address,
                              verifier_connect_seconds=60.0)
        async with serving(config) as server, Miner.connect(server.ws_url, "patient") as miner:
            pool: Any = server.service.pool
            job = await miner.login()
            first, s1, counter = find_nonce(job, SMALL_SPEC, job.is_solution)
            second, s2, _ = find_nonce(job, SMALL_SPEC, job.is_solution, start=counter + 1)
            await miner.send(job.submit(first, s1))
            assert (await miner.expect(StratumAck)).success
            await worker.close()
            await scheduler.close()
            await until(lambda: _true(not pool.connected), timeout=30)
            await miner.send(job.submit(second, s2))
            busy = await miner.expect(StratumAck)
            assert busy.code == ErrorCode.SERVER_BUSY and "unreachable" in busy.message, busy
            async with miner.http.get(server.http_url + "/metrics") as resp:
                assert "workserver_verifier_unavailable_total 1.0" in (await resp.text()).splitlines()
            scheduler = await Scheduler(host="127.0.0.1", port=port, dashboard_address=None)
            worker = await Worker(scheduler.address, nthreads=1)
            await until(lambda: _true(pool.connected), timeout=60)
            await miner.send(job.submit(second, s2))  # the miner sends its result again: nothing lost
            assert (await miner.expect(StratumAck)).success
            rows = await server.service.ledger.call(Ledger.accepted)
            assert sorted(r["nonce"] for r in rows) == sorted([first, second])
        await worker.close()
        await scheduler.close()

    run(body(), timeout=300)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workserver(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("neuraxon-miner")
    return subprocess.run([str(script), "workserver", "--port", "0", "--db", ":memory:", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_cli_refuses_to_start_without_its_scheduler_and_serves_with_it(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    done = _workserver("--verifier", address, "--verifier-connect-timeout", "1")
    assert done.returncode == 2, done.stderr
    assert f"cannot reach the Dask scheduler at {address}" in done.stderr
    bad = _workserver("--verifier", "http://example:1")
    assert bad.returncode == 2 and "verifier must be 'local' or a Dask scheduler address" in bad.stderr

    async def body() -> None:
        async with local_cluster(workers=1) as cluster:
            task = tmp_path / "task.json"
            task.write_text(SMALL_SPEC.canonical_json().decode())
            proc, ws_url, _ = await asyncio.to_thread(
                start_cli_server, ["--verifier", cluster.scheduler_address, "--db", ":memory:", "--task", str(task),
                                   "--threshold", "400", "--calibration-walks", "0", "--no-vardiff",
                                   "--no-training", "--verify-mode", "thread"],
                tmp_path / "server.log")
            try:
                async with Miner.connect(ws_url, "cli-miner") as miner:
                    job = await miner.login()
                    nonce, score, counter = await asyncio.to_thread(find_nonce, job, SMALL_SPEC, job.is_solution)
                    await miner.send(job.submit(nonce, score))
                    assert (await miner.expect(StratumAck, timeout=60)).success
                    forged = job.nonce_space().nonce(counter + 1)
                    await miner.send(job.submit(forged, 10_000))
                    ack = await miner.expect(StratumAck, timeout=60)
                    assert ack.code == ErrorCode.SCORE_MISMATCH, ack
            finally:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 60)

    run(body(), timeout=300)
