"""The WebSocket endpoint against a real server on loopback, with the real scorer on the small task."""

from __future__ import annotations

import asyncio

import aiohttp

from protocol import ErrorCode, StratumAck, StratumJob, StratumStats, StratumSubmit
from protocol.server import WorkServer
from protocol.server.ledger import Ledger
from tests.protocol.server.helpers import (
    ADMIN,
    SMALL_SPEC,
    TOKEN,
    Miner,
    ack_of,
    fetch_parent,
    find_nonce,
    run,
    serving,
    small_config,
    submit_a_solution,
    wallet,
)

LOGIN = '{"Method":"StratumLogin","MessageVersion":1,"Wallet":"WALLET","Worker":"w","Os":"","Version":"","Threads":1}'


def test_login_job_submit_ack_then_a_new_job() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url, "rig-1") as miner:
            job = await miner.login()
            assert not job.is_idle and job.identity == miner.wallet and job.epoch == 1
            assert job.task is None and job.task_url == f"/api/v1/tasks/{job.task_id}"  # small jobs by default
            assert job.task_id == SMALL_SPEC.task_id.hex()
            assert job.threshold == SMALL_SPEC.threshold and job.parent is None and len(job.nonce_prefix) == 8
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            ack = ack_of(await miner.recv())
            assert ack.success and ack.code == 0 and ack.job_id == job.job_id and ack.nonce == nonce
            assert "solution" in ack.message
            pushed = await miner.expect(StratumJob)  # training: the solution is the new parent
            assert pushed.parent is not None and pushed.parent.score == score and pushed.job_id != job.job_id
            rows = server.service.ledger
            stored = await rows.call(Ledger.accepted, "solution")
            assert [(r["nonce"], r["score"], r["worker"]) for r in stored] == [(nonce, score, "rig-1")]

    run(body())


def test_stale_job_after_the_parent_improves_and_after_an_epoch_change() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url, "rig-1") as miner, \
                Miner.connect(server.ws_url, "rig-2") as other:
            job = await miner.login()
            other_job = await other.login()
            nonce, score, counter = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            assert ack_of(await miner.recv()).success
            # The other miner's work is now stale: its job had no parent.
            pushed = await other.expect(StratumJob)
            assert pushed.parent is not None
            nonce2, score2, _ = find_nonce(other_job, SMALL_SPEC, other_job.is_solution)
            await other.send(other_job.submit(nonce2, score2))
            ack = await other.expect(StratumAck)
            assert ack.code == ErrorCode.STALE_JOB and ack.field == "JobId"
            # An epoch change makes every job stale; a wrong epoch in a submit is its own code.
            fresh = await miner.expect(StratumJob)
            async with miner.http.post(server.http_url + "/api/v1/admin/state", data=b'{"Epoch":7}',
                                       headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                assert resp.status == 200
            moved = await miner.expect(StratumJob)
            assert moved.epoch == 7
            await miner.send(StratumSubmit(job_id=moved.job_id, epoch=1, nonce=nonce, claimed_score=score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.WRONG_EPOCH
            await miner.send(fresh.submit(fresh.nonce_space().nonce(counter + 1), 10**6))
            assert (await miner.expect(StratumAck)).code == ErrorCode.STALE_JOB

    run(body())


def test_duplicate_and_in_flight_copy() -> None:
    async def body() -> None:
        async with serving(small_config(training=False)) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            nonce, score, counter = await submit_a_solution(miner, job)
            await miner.send(job.submit(nonce, score))
            ack = await miner.expect(StratumAck)
            assert ack.code == ErrorCode.DUPLICATE and ack.field == "Nonce"
            # Two copies in flight at once: exactly one is accepted; the other is told to retry
            # later (not DUPLICATE, which is definitive while that verification could still fail),
            # and its retry then learns it is recorded.
            nonce2, score2, _ = find_nonce(job, SMALL_SPEC, job.is_solution, start=counter + 1)
            await miner.send(job.submit(nonce2, score2))
            await miner.send(job.submit(nonce2, score2))
            codes = sorted([(await miner.expect(StratumAck)).code, (await miner.expect(StratumAck)).code])
            assert codes == [ErrorCode.OK, ErrorCode.SERVER_BUSY]
            await miner.send(job.submit(nonce2, score2))
            assert (await miner.expect(StratumAck)).code == ErrorCode.DUPLICATE
            assert len(await server.service.ledger.call(Ledger.accepted)) == 2

    run(body())


def test_a_result_belongs_to_its_epoch() -> None:
    async def body() -> None:
        async with serving(small_config(training=False)) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            nonce, score, _ = await submit_a_solution(miner, job)
            await miner.expect(StratumJob)  # the job after the submit
            server.service.set_epoch(2)
            moved = await miner.expect(StratumJob)
            assert moved.epoch == 2 and moved.owns_nonce(nonce)
            await miner.send(moved.submit(nonce, score))  # the same nonce is new work in the new epoch
            ack = await miner.expect(StratumAck)
            assert ack.success, ack
            await miner.send(moved.submit(nonce, score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.DUPLICATE
            rows = await server.service.ledger.call(Ledger.accepted)
            assert [(r["epoch"], r["nonce"]) for r in rows] == [(1, nonce), (2, nonce)]

    run(body())


def test_forged_scores_are_rejected_and_counted() -> None:
    async def body() -> None:
        async with serving(small_config(training=False)) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            nonce, score, counter = find_nonce(job, SMALL_SPEC, lambda s: not job.is_solution(s))
            await miner.send(job.submit(nonce, job.threshold + 50))  # claims a solution it did not find
            ack = await miner.expect(StratumAck)
            assert ack.code == ErrorCode.SCORE_MISMATCH and f"recomputed {score}" in ack.message
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution, start=counter + 1)
            await miner.send(job.submit(nonce, score + 1))  # off by one on a real solution
            assert (await miner.expect(StratumAck)).code == ErrorCode.SCORE_MISMATCH
            await miner.send(job.submit(nonce, job.threshold - 1))  # claimed below the bar: not even verified
            assert (await miner.expect(StratumAck)).code == ErrorCode.BELOW_THRESHOLD
            outside = "ff" * 4 + nonce[8:] if not nonce.startswith("ffffffff") else "00" * 32
            await miner.send(job.submit(outside, score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.NONCE_OUT_OF_RANGE
            await miner.send(StratumSubmit(job_id="nope", epoch=1, nonce=nonce, claimed_score=score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.UNKNOWN_JOB
            await miner.send(StratumSubmit(job_id="abcdef.1", epoch=1, nonce=nonce, claimed_score=score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.STALE_JOB  # a job of an earlier run
            assert await server.service.ledger.call(Ledger.accepted) == []  # nothing stored
            async with miner.http.get(server.http_url + "/api/v1/workers",
                                      headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                workers = (await resp.json())["Workers"]
            assert [(w["Worker"], w["Mismatches"], w["Solutions"]) for w in workers] == [("miner", 2, 0)]

    run(body())


def test_parent_must_be_beaten() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            nonce, score, counter = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).success
            child = await miner.expect(StratumJob)
            assert child.parent is not None and child.parent.network is None  # sent by URL and hash
            parent = await fetch_parent(miner.http, server.http_url, child)
            assert parent is not None and parent.id == child.parent.parent_id
            await miner.send(child.submit(child.nonce_space().nonce(counter + 1), child.parent.score))
            ack = await miner.expect(StratumAck)
            assert ack.code == ErrorCode.PARENT_NOT_BEATEN

    run(body())


def test_bad_credentials_get_unauthorized_and_a_close() -> None:
    async def body() -> None:
        cfg = small_config(wallet_allowlist=frozenset({wallet("allowed")}))
        async with serving(cfg) as server:
            broken = wallet("x")[:-1] + ("A" if wallet("x")[-1] != "A" else "B")  # checksum broken
            async with Miner.connect(server.ws_url) as miner:
                await miner.send_raw(LOGIN.replace("WALLET", broken))
                ack = ack_of(await miner.recv())
                assert ack.code == ErrorCode.UNAUTHORIZED and ack.field == "Wallet" and "checksum" in ack.message
                assert await miner.closed_with() == 1008
            async with Miner.connect(server.ws_url, "stranger") as miner:
                await miner.send_raw(LOGIN.replace("WALLET", miner.wallet))
                assert ack_of(await miner.recv()).code == ErrorCode.UNAUTHORIZED
                assert await miner.closed_with() == 1008
            async with Miner.connect(server.ws_url) as miner:
                await miner.send_raw('{"Method":"StratumLogin","MessageVersion":1,"AccessToken":"wrong",'
                                     '"Worker":"w","Os":"","Version":"","Threads":1}')
                assert ack_of(await miner.recv()).code == ErrorCode.UNAUTHORIZED
                assert await miner.closed_with() == 1008
            async with Miner.connect(server.ws_url, "allowed") as miner:
                await miner.send(StratumStats(it_per_sec=1.0, threads=1, solutions=0))  # before login
                assert ack_of(await miner.recv()).code == ErrorCode.LOGIN_REQUIRED
                job = await miner.login()
                assert job.identity == wallet("allowed")
            async with Miner.connect(server.ws_url, "token-user") as miner:
                job = await miner.login(wallet=None, access_token=TOKEN)
                assert job.identity != miner.wallet  # token logins mine for the pool identity

    run(body())


def test_idle_job_is_pushed_and_work_resumes() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            admin = {"Authorization": f"Bearer {ADMIN}"}
            async with miner.http.post(server.http_url + "/api/v1/admin/state", data=b'{"Idle":true}',
                                       headers=admin) as resp:
                assert (await resp.json())["Idle"] is True
            idle = await miner.expect(StratumJob)
            assert idle.is_idle and idle.random_seed == "0" * 64 and idle.task is None and idle.task_url is None
            await miner.send(idle.submit("00" * 32, 1000))
            assert (await miner.expect(StratumAck)).code == ErrorCode.STALE_JOB  # idle: nothing to submit
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).code == ErrorCode.STALE_JOB
            async with miner.http.post(server.http_url + "/api/v1/admin/state", data=b'{"Idle":false}',
                                       headers=admin) as resp:
                assert resp.status == 200
            working = await miner.expect(StratumJob)
            assert not working.is_idle and working.task_url is not None
            async with miner.http.post(server.http_url + "/api/v1/admin/state", data=b'{"Idle":true}') as resp:
                assert resp.status == 401  # admin needs the token

    run(body())


def test_idle_schedule_flips_jobs_on_the_clock() -> None:
    from protocol.server import IdleSchedule

    async def body() -> None:
        async with serving(small_config(idle_schedule=IdleSchedule(0.3, 0.3))) as server, \
                Miner.connect(server.ws_url) as miner:
            first = await miner.login()
            second = await miner.expect(StratumJob, timeout=5)
            assert first.is_idle != second.is_idle

    run(body())


def test_shutdown_sends_shutting_down_and_closes() -> None:
    async def body() -> None:
        server = await WorkServer(small_config()).start()
        try:
            async with Miner.connect(server.ws_url) as miner:
                await miner.login()
                closing = asyncio.get_running_loop().create_task(server.close())
                ack = await miner.expect(StratumAck)
                assert ack.code == ErrorCode.SHUTTING_DOWN
                assert await miner.closed_with() == 1001
                await closing
        finally:
            await server.close()

    run(body())


def test_tls_when_given_a_certificate(tmp_path: object) -> None:
    import shutil
    import ssl
    import subprocess
    from pathlib import Path

    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("openssl not available to make a test certificate")
    d = Path(str(tmp_path))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)

    async def body() -> None:
        async with serving(small_config(tls_cert=d / "cert.pem", tls_key=d / "key.pem")) as server:
            assert server.ws_url.startswith("wss://")
            ctx = ssl.create_default_context(cafile=str(d / "cert.pem"))
            ctx.check_hostname = False
            async with Miner.connect(server.ws_url, ssl=ctx) as miner:
                job = await miner.login()
                assert not job.is_idle
            async with aiohttp.ClientSession() as http, http.get(server.http_url + "/healthz", ssl=ctx) as resp:
                assert resp.status == 200

    run(body())


def test_inline_task_and_parent_when_configured() -> None:
    async def body() -> None:
        async with serving(small_config(inline_task=True, inline_parent=True)) as server, \
                Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            assert job.task == SMALL_SPEC.to_dict() and job.task_url is None and job.task_hash is None
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).success
            child = await miner.expect(StratumJob)
            assert child.parent is not None and child.parent.network is not None and child.parent.network_url is None
            parent = await fetch_parent(miner.http, server.http_url, child)
            assert parent is not None and parent.id == child.parent.parent_id

    run(body())
