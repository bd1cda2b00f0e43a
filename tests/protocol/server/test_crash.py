"""``kill -9`` of a ``neuraxon-miner workserver`` process right after acks: after a restart on the same
ledger, every acked solution is there (the ledger commits before the ack), and a miner that resubmits
one is told it is a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from protocol import ErrorCode, StratumAck, StratumJob
from protocol.server.ledger import Ledger
from scoring import neuraxon as NX
from tests.protocol.server.helpers import SMALL_SPEC, SMALL_TASK_PATH, Miner, run, start_cli_server

THRESHOLD = 200  # about one walk in three on the small task: many solutions quickly
MINERS = 3
PER_MINER = 25
KILL_AFTER = 30


def _start(db: Path, log: Path) -> tuple[subprocess.Popen[str], str, str]:
    return start_cli_server(["--db", str(db), "--task", str(SMALL_TASK_PATH), "--threshold", str(THRESHOLD),
                             "--no-training", "--no-vardiff", "--rate", "10000", "--burst", "10000",
                             "--verify-workers", "2"], log)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in task.read_text().split()]
    return out


def _solutions(job: StratumJob, count: int) -> list[tuple[str, int]]:
    space, counter = job.nonce_space(), 0
    out: list[tuple[str, int]] = []
    while len(out) < count:
        nonce = space.nonce(counter)
        counter += 1
        score = NX.score(SMALL_SPEC, job.identity, nonce)
        if job.is_solution(score):
            out.append((nonce, score))
    return out


async def _mine_until_killed(ws_url: str, proc: subprocess.Popen[str], workers: list[int],
                             old_jobs: dict[str, StratumJob]) -> set[tuple[str, str]]:
    acked: set[tuple[str, str]] = set()
    async with Miner.connect(ws_url, "m0") as m0, Miner.connect(ws_url, "m1") as m1, \
            Miner.connect(ws_url, "m2") as m2:
        miners = [m0, m1, m2]
        jobs = [await m.login() for m in miners]
        work = [_solutions(job, PER_MINER) for job in jobs]
        for miner, job, sols in zip(miners, jobs, work, strict=True):
            for nonce, score in sols:
                await miner.send(job.submit(nonce, score))

        async def collect(miner: Miner, job: StratumJob) -> None:
            while True:
                try:
                    ack = await miner.expect(StratumAck, timeout=10)
                except (ConnectionError, TimeoutError):
                    return
                if ack.success:
                    assert ack.nonce is not None
                    acked.add((job.identity, ack.nonce))
                    old_jobs[ack.nonce] = job
                    if len(acked) == KILL_AFTER:
                        workers.extend(_children(proc.pid))  # its verification processes
                        os.kill(proc.pid, signal.SIGKILL)  # right after an ack, with more in flight

        await asyncio.gather(*(collect(m, j) for m, j in zip(miners, jobs, strict=True)))
    return acked


def test_kill_9_right_after_acks_loses_nothing_acked(tmp_path: Path) -> None:
    db, log = tmp_path / "ledger.sqlite", tmp_path / "server.log"
    proc, ws_url, _ = _start(db, log)
    try:
        workers: list[int] = []
        old_jobs: dict[str, StratumJob] = {}
        acked = run(_mine_until_killed(ws_url, proc, workers, old_jobs), timeout=180)
        assert workers
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # its verification processes leave on their own
    while any(Path(f"/proc/{p}").exists() for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()]
    assert KILL_AFTER <= len(acked) < MINERS * PER_MINER, len(acked)  # killed with submissions outstanding

    proc, ws_url, http_url = _start(db, log)  # restart on the same ledger
    try:
        async def after_restart() -> None:
            async with Miner.connect(ws_url, "m0") as miner:
                job = await miner.login()
                async with miner.http.get(f"{http_url}/api/v1/tasks/{job.task_id}/progress") as resp:
                    assert (await resp.json())["Solutions"] >= len(acked)
                identity, nonce = next((i, n) for i, n in sorted(acked) if i == job.identity)
                score = NX.score(SMALL_SPEC, identity, nonce)
                await miner.send(job.submit(nonce, score))  # a miner that lost this ack resubmits it
                assert (await miner.expect(StratumAck)).code == ErrorCode.DUPLICATE
                # ... or resends it unchanged, on the job from before the restart: still recorded.
                await miner.send(old_jobs[nonce].submit(nonce, score))
                assert (await miner.expect(StratumAck)).code == ErrorCode.DUPLICATE

        run(after_restart())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
    ledger = Ledger(db)
    stored = {(r["identity"], r["nonce"]) for r in ledger.accepted("solution")}
    ledger.close()
    assert acked <= stored, sorted(acked - stored)
