"""Algo 1 (bpp9000) through the same server: task by URL and hash, canonical nonces, lower is better.

Uses qubic/core's example task with the small golden config (128 rows, 10 steps) so a score takes
milliseconds; the random2 pool of the vectors' seed is built once per test process (~1-3 s).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from Crypto.Hash import KangarooTwelve

from protocol import Algo, ErrorCode, StratumAck, StratumJob
from protocol.server import ServerConfig
from protocol.server.bpp9000 import bpp9000_task
from scoring import bpp9000 as sb
from tests.bpp9000_vectors import TASK, config_texts, vector_pool, vector_seed
from tests.protocol.server.helpers import ADMIN, Miner, run, serving

SMALL = sb.Bpp9000Config.parse(config_texts()[0])  # 18-1-128-32-5000-3-64-10-76


def _config(**overrides: object) -> ServerConfig:
    entry = bpp9000_task(TASK.read_bytes(), seed=vector_seed().hex(), config=SMALL)
    values: dict[str, object] = {"port": 0, "tasks": (entry,), "verify_workers": 1, "admin_token": ADMIN,
                                 "vardiff": False, "messages_per_second": 1000.0, "message_burst": 1000}
    values.update(overrides)
    return ServerConfig(**values)  # type: ignore[arg-type]


def test_bpp9000_job_submit_and_the_algorithm_rules() -> None:
    scorer = sb.Bpp9000Scorer(vector_pool(), sb.read_task_file(TASK), SMALL)

    async def body() -> None:
        async with serving(_config()) as server, Miner.connect(server.ws_url, "bpp") as miner:
            job = await miner.login()
            assert job.algo is Algo.BPP9000 and job.random_seed == vector_seed().hex()
            assert job.task is None and job.task_url is not None and job.threshold == SMALL.threshold
            async with miner.http.get(server.http_url + job.task_url) as resp:
                raw = await resp.read()
            assert KangarooTwelve.new(data=raw).read(32).hex() == job.task_hash == job.task_id
            space = job.nonce_space(bytes([1, 4, 0]))  # head: algo 1, L = 4, K = 0
            pk = job.public_key
            found = []
            for counter in range(400):
                nonce = space.nonce_bytes(counter)
                score = scorer.score(pk, nonce)
                found.append((nonce.hex(), score))
                if job.is_solution(score):
                    break
            nonce, score = found[-1]
            assert job.is_solution(score) and score <= SMALL.threshold  # lower is better
            await miner.send(job.submit(nonce, score))
            ack = await miner.expect(StratumAck)
            assert ack.success and "solution" in ack.message, ack
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.DUPLICATE
            other = space.nonce_bytes(len(found))
            forged = 0 if scorer.score(pk, other) != 0 else 1  # a claimed solution it did not find
            await miner.send(job.submit(other, forged))
            assert (await miner.expect(StratumAck)).code == ErrorCode.SCORE_MISMATCH
            bad_head = "02" + nonce[2:]  # inside the prefix, but not a canonical bpp9000 nonce
            await miner.send(job.submit(bad_head, score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.INVALID_NONCE
            await miner.send(job.submit(nonce[:6] + "ff" * 4 + nonce[14:], score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.NONCE_OUT_OF_RANGE
            async with miner.http.get(server.http_url + f"/api/v1/tasks/{job.task_id}/progress") as resp:
                progress = json.loads(await resp.read())
            assert progress["Algo"] == 1 and progress["Solutions"] == 1 and progress["Training"] is False

    run(body())


def test_bpp9000_vardiff_bars_go_the_other_way() -> None:
    async def body() -> None:
        cfg = _config(vardiff=True, calibration_walks=64, share_interval_seconds=0.2, retarget_seconds=1.0)
        async with serving(cfg) as server, Miner.connect(server.ws_url, "bpp") as miner:
            job = await miner.login()
            while job.share_threshold is None:
                job = await miner.expect(StratumJob, timeout=30)
            assert job.share_threshold >= job.threshold  # easier means more errors allowed

    run(body(), timeout=120)


def test_a_zero_seed_or_a_damaged_task_is_refused() -> None:
    with pytest.raises(ValueError, match="all zero"):
        bpp9000_task(TASK.read_bytes(), seed="00" * 32)
    damaged = bytearray(TASK.read_bytes())
    damaged[-1] ^= 1
    with pytest.raises(sb.TaskFileError):
        bpp9000_task(bytes(damaged), seed=os.urandom(32).hex())


def test_cli_serves_a_bpp9000_task(tmp_path: Path) -> None:
    from miner.cli import build_parser
    from miner.commands.workserver import _bpp9000_task, _InputError

    args = build_parser().parse_args(["workserver", "--bpp9000-task", str(TASK), "--bpp9000-seed",
                                      vector_seed().hex(), "--bpp9000-threshold", "4000", "--bpp9000-version", "v1301"])
    entry = _bpp9000_task(args)
    assert entry.algo is Algo.BPP9000 and entry.threshold == 4000
    assert entry.scoring_entry().name == "bpp9000-v1301" and not entry.training
    args = build_parser().parse_args(["workserver", "--bpp9000-task", str(TASK), "--bpp9000-seed",
                                      vector_seed().hex(), "--bpp9000-threshold", "350"])
    current = _bpp9000_task(args)  # the default: the current scorer, a chain
    assert current.scoring_entry().name == "bpp9000" and current.training
    assert current.threshold == 0xFFFF0000 | 350  # at most 350 errors in frame 0, or any advance
    args = build_parser().parse_args(["workserver", "--bpp9000-task", str(TASK)])
    with pytest.raises(_InputError, match="needs --bpp9000-seed"):
        _bpp9000_task(args)
