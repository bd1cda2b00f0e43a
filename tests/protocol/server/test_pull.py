"""HTTP pull mode, task and network downloads, health and metrics, against a real server."""

from __future__ import annotations

import json

import aiohttp
from Crypto.Hash import KangarooTwelve

from protocol import ErrorCode, StratumAck, StratumJob, StratumSubmit, decode_as, encode
from protocol.server.ledger import Ledger
from scoring import neuraxon as NX
from scoring.neuraxon_task import TaskSpec
from tests.protocol.server.helpers import (
    SMALL_SPEC,
    Miner,
    find_nonce,
    run,
    serving,
    small_config,
    submit_a_solution,
    wallet,
)


def _headers(name: str = "pull-1", **extra: str) -> dict[str, str]:
    return {"X-Wallet": wallet(name), "X-Worker": name, "X-Threads": "2", **extra}


async def _job(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> StratumJob:
    async with http.get(url + "/api/v1/job", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return decode_as(await resp.read(), StratumJob)


async def _submit(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                  body: str | bytes) -> tuple[int, StratumAck]:
    async with http.post(url + "/api/v1/submit", data=body, headers=headers) as resp:
        return resp.status, decode_as(await resp.read(), StratumAck)


def test_pull_mode_job_submit_ack_and_the_websocket_miners_see_the_new_parent() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url, "ws-miner") as watcher, \
                aiohttp.ClientSession() as http:
            await watcher.login()
            url = server.http_url
            job = await _job(http, url, _headers())
            assert job == await _job(http, url, _headers())  # same job until something changes
            assert job.identity == wallet("pull-1")
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution)
            status, ack = await _submit(http, url, _headers(), encode(job.submit(nonce, score)))
            assert status == 200 and ack.success and ack.nonce == nonce
            status, ack = await _submit(http, url, _headers(), encode(job.submit(nonce, score)))
            assert status == 200 and ack.code == ErrorCode.DUPLICATE  # verdicts are HTTP 200 with the ack
            pushed = await watcher.expect(StratumJob)
            assert pushed.parent is not None and pushed.parent.score == score
            nxt = await _job(http, url, _headers())
            assert nxt.parent is not None and nxt.job_id != job.job_id
            status, ack = await _submit(http, url, _headers("pull-2"), encode(nxt.submit(nonce, score + 1)))
            assert ack.code == ErrorCode.UNKNOWN_JOB  # another worker's job

    run(body())


def test_pull_mode_errors_have_codes_and_http_statuses() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, aiohttp.ClientSession() as http:
            url = server.http_url
            async with http.get(url + "/api/v1/job", headers={"X-Worker": "w", "X-Wallet": "NOTANIDENTITY"}) as resp:
                ack = decode_as(await resp.read(), StratumAck)
                assert resp.status == 401 and ack.code == ErrorCode.UNAUTHORIZED and ack.field == "Wallet"
            async with http.get(url + "/api/v1/job", headers={"X-Wallet": wallet("a")}) as resp:
                ack = decode_as(await resp.read(), StratumAck)
                assert resp.status == 400 and ack.code == ErrorCode.INVALID_FIELD and ack.field == "Worker"
            async with http.get(url + "/api/v1/job", headers={"Authorization": "Bearer nope", "X-Worker": "w"}) as resp:
                assert resp.status == 401
            cases = [
                (b"{", 400, ErrorCode.MALFORMED_JSON),
                (b'{"Method":"StratumSubmit","MessageVersion":1,"JobId":"x","Epoch":1,"Nonce":"zz","ClaimedScore":1}',
                 400, ErrorCode.BAD_HEX),
                (b'{"Method":"Nope","MessageVersion":1}', 400, ErrorCode.UNKNOWN_METHOD),
                (b'{"Method":"StratumSubmit","MessageVersion":9}', 400, ErrorCode.UNSUPPORTED_VERSION),
                (encode(StratumSubmit(job_id="x", epoch=1, nonce="00" * 32, claimed_score=1)).encode(), 200,
                 ErrorCode.UNKNOWN_JOB),
                (b" " * (server.config.max_frame_bytes + 10), 413, ErrorCode.FRAME_TOO_LARGE),
            ]
            for body_bytes, status, code in cases:
                got_status, ack = await _submit(http, url, _headers(), body_bytes)
                assert (got_status, ack.code) == (status, code), body_bytes[:80]
            assert await server.service.ledger.call(Ledger.accepted) == []

    run(body())


def test_task_and_network_downloads_match_their_hashes() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            http, url = miner.http, server.http_url
            async with http.get(url + f"/api/v1/tasks/{job.task_id}") as resp:
                raw = await resp.read()
            assert TaskSpec.from_dict(json.loads(raw)) == SMALL_SPEC
            async with http.get(url + "/api/v1/tasks") as resp:
                listing = await resp.json()
            info = listing["Tasks"][0]
            assert info["TaskHash"] == KangarooTwelve.new(data=raw).read(32).hex()
            assert info["TaskUrl"] == f"/api/v1/tasks/{job.task_id}"
            async with http.get(url + f"/api/v1/tasks/{job.task_id}/network") as resp:
                assert resp.status == 404  # nothing accepted yet
            nonce, score, _ = find_nonce(job, SMALL_SPEC, job.is_solution)
            await miner.send(job.submit(nonce, score))
            assert (await miner.expect(StratumAck)).success
            child = await miner.expect(StratumJob)
            assert child.parent is not None and child.parent.network_url is not None
            async with http.get(url + child.parent.network_url) as resp:
                network_bytes = await resp.read()
            assert KangarooTwelve.new(data=network_bytes).read(32).hex() == child.parent.network_hash
            parent = NX.Parent(json.loads(network_bytes), child.parent.score)
            assert parent.id == child.parent.parent_id
            # The served network really is the walk's best: a walk from it starts at its score.
            assert NX.run_walk(SMALL_SPEC, job.identity, nonce, parent=parent).start_score == score
            async with http.get(url + f"/api/v1/tasks/{job.task_id}/network") as resp:
                assert await resp.read() == network_bytes and resp.headers["X-Score"] == str(score)
            async with http.get(url + "/api/v1/tasks/nope") as resp:
                assert resp.status == 404

    run(body())


def test_healthz_and_metrics() -> None:
    async def body() -> None:
        async with serving(small_config(training=False)) as server, Miner.connect(server.ws_url) as miner:
            await submit_a_solution(miner, await miner.login())
            await miner.send_raw("not json")
            await miner.expect(StratumAck)
            async with miner.http.get(server.http_url + "/healthz") as resp:
                health = await resp.json()
            assert resp.status == 200 and health["Status"] == "ok" and health["Connections"] == 1
            async with miner.http.get(server.http_url + "/metrics") as resp:
                text = await resp.text()
            assert resp.headers["Content-Type"].startswith("text/plain")
            for line in ('workserver_submits_total{verdict="solution"} 1.0', "workserver_connections 1.0",
                         'workserver_rejected_frames_total{code="malformed_json"} 1.0',
                         'workserver_jobs_sent_total{reason="login"} 1.0'):
                assert line in text, line

    run(body())
