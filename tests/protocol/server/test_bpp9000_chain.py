"""The current bpp9000 (core v1.305) through the real work server: the versioned task document, solo
solutions, the chain (a new best network is the parent new jobs extend, the verifier walks from it),
a forged Rating refused and a wrong parent refused with its own code.

A small rolling-frame config (64 neurons, 40 steps, a 12-emit frame) keeps each walk at
milliseconds; the task document carries the config, so this is the path production jobs take.
"""

from __future__ import annotations

import json

from Crypto.Hash import KangarooTwelve

from protocol import ErrorCode, StratumAck, StratumJob
from protocol.server import ServerConfig
from protocol.server.bpp9000 import frame_task
from scoring import bpp9000_frame as F
from scoring import registry
from tests.bpp9000_vectors import TASK, vector_seed
from tests.protocol.server.helpers import ADMIN, Miner, run, serving

SMALL = F.FrameConfig(18, 1, 8760, 12, 3000, 3, 64, 40, 6, 5)
#: A solution: at most 9 of the 12 frame-0 emits wrong, or any advance.
THRESHOLD = F.rating_score(F.Rating(9, 0))


def _config() -> ServerConfig:
    entry = frame_task(TASK.read_bytes(), seed=vector_seed().hex(), config=SMALL, threshold=THRESHOLD)
    return ServerConfig(port=0, tasks=(entry,), verify_workers=1, admin_token=ADMIN, vardiff=False,
                        calibration_walks=0, parent_bar_walks=0, parent_refresh_seconds=0.0,
                        messages_per_second=1000.0, message_burst=1000)


def _k12(data: bytes) -> str:
    return KangarooTwelve.new(data=data).read(32).hex()


def _first(entry: registry.Algorithm, prepared: object, job: StratumJob, start: int = 0) -> tuple[bytes, int, int]:
    space = job.nonce_space(entry.nonce_head({"changes": 3, "mode": 3}))
    for counter in range(start, start + 400):
        nonce = space.nonce_bytes(counter)
        score = entry.score(prepared, job.public_key, nonce)
        if job.is_solution(score):
            return nonce, score, counter
    raise AssertionError("no solution in 400 walks")


def test_current_bpp9000_chain_forged_rating_and_wrong_parent() -> None:
    async def body() -> None:
        async with serving(_config()) as server, Miner.connect(server.ws_url, "ant") as miner:
            job = await miner.login()
            assert job.parent is None and job.task_url is not None and job.threshold == THRESHOLD
            async with miner.http.get(server.http_url + job.task_url) as resp:
                document = await resp.read()
            assert _k12(document) == job.task_hash == job.task_id
            assert json.loads(document)["model"] == "v1305"  # the description names its version
            entry = registry.resolve(job.algo, document)
            assert (entry.name, entry.version) == ("bpp9000", "v1305")
            spec = entry.load_task(document)
            assert spec.config == SMALL and entry.task_id(spec) == job.task_id
            seed = bytes.fromhex(job.random_seed)
            prepared = entry.prepare(spec, seed=seed)
            nonce, score, counter = _first(entry, prepared, job)

            # A forged Rating: another nonce, claimed as a perfect frame-0 walk.
            other = job.nonce_space(entry.nonce_head({"changes": 3})).nonce_bytes(counter + 1)
            real = entry.score(prepared, job.public_key, other)
            forged = F.rating_score(F.Rating(0, 0) if real != F.rating_score(F.Rating(0, 0)) else F.Rating(1, 0))
            await miner.send(job.submit(other, forged))
            ack = await miner.expect(StratumAck, 60)
            assert ack.code == ErrorCode.SCORE_MISMATCH and ack.field == "ClaimedScore", ack
            assert server.service.bans.suspect(miner.wallet)  # counted toward a ban for wrong claims

            await miner.send(job.submit(nonce, score))
            ack = await miner.expect(StratumAck, 60)
            assert ack.success and "new best network" in ack.message, ack

            # The new best is the parent the next jobs extend.
            chained = await miner.expect(StratumJob, 60)
            while chained.parent is None:
                chained = await miner.expect(StratumJob, 60)
            assert chained.parent.score == score
            assert chained.parent.network_url is not None
            async with miner.http.get(server.http_url + chained.parent.network_url) as resp:
                body_bytes = await resp.read()
            assert _k12(body_bytes) == chained.parent.network_hash
            network = json.loads(body_bytes)
            kept = entry.walk(prepared, job.public_key, nonce)
            assert network == entry.export_network(prepared, kept)  # the network the solution's walk kept
            parent = registry.Parent(network, chained.parent.score)
            assert parent.id == chained.parent.parent_id
            from_parent = entry.prepare(spec, seed=seed, parent=parent)
            step_nonce, step_score, _ = _first(entry, from_parent, chained)
            assert F.rating_from_score(step_score).is_better_than(F.rating_from_score(score))

            # The same chain step naming another parent: WRONG_PARENT, nothing verified.
            wrong = chained.submit(step_nonce, step_score).model_copy(update={"parent_id": "0" * 64})
            await miner.send(wrong)
            ack = await miner.expect(StratumAck, 60)
            assert ack.code == ErrorCode.WRONG_PARENT and ack.field == "ParentId", ack
            # A solo job's nonce claimed as a chain step of no parent is refused the same way.
            solo_claim = job.submit(step_nonce, step_score).model_copy(update={"parent_id": chained.parent.parent_id})
            await miner.send(solo_claim)
            assert (await miner.expect(StratumAck)).code == ErrorCode.WRONG_PARENT

            await miner.send(chained.submit(step_nonce, step_score))
            ack = await miner.expect(StratumAck, 60)
            assert ack.success and "new best network" in ack.message, ack  # verified from the parent

    run(body())



def test_the_embedded_server_offers_each_bpp9000_version_by_name() -> None:
    from typing import get_args

    from miner.settings import MinerSettings
    from protocol.server.embedded import DEMO_ALGOS, start_embedded

    assert set(get_args(MinerSettings.model_fields["algo"].annotation)) == set(DEMO_ALGOS)  # --algo choices

    async def body() -> None:
        for name, version in (("bpp9000", "v1305"), ("bpp9000-v1301", "v1301")):
            async with await start_embedded(algo=name) as server, Miner.connect(server.ws_url, name) as miner:
                job = await miner.login()
                assert job.algo == 1 and job.task_url is not None and job.parent is None
                async with miner.http.get(server.http_url + job.task_url) as resp:
                    entry = registry.resolve(job.algo, await resp.read())
                assert (entry.name, entry.version) == (name, version)
                (task,) = server.service.tasks.values()
                assert task.entry.training is (name == "bpp9000")  # the current version runs a chain
        try:
            await start_embedded(algo="bpp9001")
        except ValueError as exc:
            assert "bpp9001" in str(exc) and "bpp9000-v1301" in str(exc)
        else:
            raise AssertionError("an unknown --algo must be refused")

    run(body())
