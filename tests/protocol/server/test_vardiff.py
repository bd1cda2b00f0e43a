"""Vardiff: the share bar follows each worker's speed toward the target share rate; shares are verified
and counted per worker."""

from __future__ import annotations

import asyncio
import random

from protocol import ErrorCode, StratumAck, StratumJob
from protocol.server.ledger import Ledger
from protocol.server.vardiff import ScoreDistribution, ShareDifficulty
from scoring import neuraxon as NX
from tests.protocol.server.helpers import ADMIN, SMALL_SPEC, Miner, run, serving, small_config


def test_distribution_maps_probabilities_to_bars_both_ways() -> None:
    hi = ScoreDistribution.from_samples(range(100), higher_is_better=True, seconds_per_walk=0.1)
    assert hi.bar_for(0.1) == 90 and hi.probability(90) == 0.1 and hi.bar_for(1.0) == 0
    lo = ScoreDistribution.from_samples(range(100), higher_is_better=False, seconds_per_walk=0.1)
    assert lo.bar_for(0.1) == 9 and lo.probability(9) == 0.1
    assert hi.probability(1000) == 0.005  # never zero


def test_closest_bar_counts_ties() -> None:
    """Walks from a parent often end on the same score: a bar on a run of ties is reached by all of them."""
    samples = [500] * 60 + [520] * 20 + [540] * 15 + [560] * 5
    dist = ScoreDistribution.from_samples(samples, higher_is_better=True, seconds_per_walk=0.1)
    assert dist.bar_for(0.25) == 520 and dist.probability(520) == 0.4  # rank 25 sits in a run of ties
    assert dist.closest_bar(0.25) == 540 and dist.probability(540) == 0.2  # 0.2 is nearer 0.25 by ratio
    assert dist.closest_bar(0.35) == 520
    assert dist.closest_bar(0.05) == 560 and dist.closest_bar(0.9) == 500
    lo = ScoreDistribution.from_samples([10] * 50 + [20] * 50, higher_is_better=False, seconds_per_walk=0.1)
    assert lo.closest_bar(0.4) == 10 and lo.closest_bar(0.9) == 20


def _simulate(walks_per_second: float, rounds: int = 30, seed: int = 1) -> tuple[ShareDifficulty, float]:
    """A worker of the given speed against a 10 s share target; returns the controller and the share
    rate of the last ten windows (per second)."""
    rng = random.Random(seed)
    dist = ScoreDistribution.from_samples([rng.randrange(10**6) for _ in range(256)], higher_is_better=True,
                                          seconds_per_walk=0.05)
    diff = ShareDifficulty(dist, target_interval=10.0, retarget_seconds=60.0, threads=1, now=0.0)
    now, late = 0.0, []
    for i in range(rounds):
        bar = diff.share_threshold(10**9)
        shares = 0
        for _ in range(int(walks_per_second * 60)):
            score = rng.randrange(10**6)
            if score >= bar:
                shares += 1
                diff.record_share()
                dist.observe(score, bar)  # as the server does with every verified share
        now += 60.0
        diff.retarget(now, 10**9)
        if i >= rounds - 10:
            late.append(shares / 60.0)
    return diff, sum(late) / len(late)


def test_controller_converges_to_the_target_rate_and_measures_speed() -> None:
    for speed in (2.0, 20.0, 200.0):
        diff, rate = _simulate(speed)
        assert 0.05 <= rate <= 0.2, (speed, rate)  # target 0.1 share/s, within 2x
        # Speed comes from calibrated probabilities: within a small factor, tighter with more samples.
        assert diff.walks_per_second is not None and speed / 3 <= diff.walks_per_second <= 3 * speed


def test_share_bar_never_harder_than_the_solution_threshold() -> None:
    dist = ScoreDistribution.from_samples(range(1000), higher_is_better=True, seconds_per_walk=1e-3)
    diff = ShareDifficulty(dist, target_interval=60.0, retarget_seconds=1.0, threads=64, now=0.0)
    assert diff.share_threshold(500) <= 500


def test_live_vardiff_pushes_new_bars_and_counts_verified_shares() -> None:
    async def body() -> None:
        cfg = small_config(training=False, vardiff=True, share_interval_seconds=0.1, retarget_seconds=0.4,
                           calibration_walks=64)
        async with serving(cfg) as server, Miner.connect(server.ws_url, "rig") as miner:
            job = await miner.login(threads=1)
            while job.share_threshold is None:  # calibration runs at start-up, then a job with a bar follows
                job = await miner.expect(StratumJob)
            bars: set[int | None] = {job.share_threshold}
            space = job.nonce_space()
            counter = accepted = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 4.0
            while loop.time() < deadline:
                for message in await miner.drain():
                    if isinstance(message, StratumJob):
                        job = message
                        bars.add(job.share_threshold)
                nonce = space.nonce(counter)
                counter += 1
                score = NX.score(SMALL_SPEC, job.identity, nonce)
                if job.is_share(score):
                    await miner.send(job.submit(nonce, score))
                    ack = await miner.expect(StratumAck)
                    assert ack.success, ack
                    accepted += 1
            assert len(bars) >= 2, bars  # the bar moved toward the target rate
            # A forged share is verified like a solution: claim a share-worthy score the nonce does not have.
            # (On a slow machine the bar may fall so low that no nonce scores below it: claim above the truth.)
            bar = job.share_threshold if job.share_threshold is not None else job.threshold
            nonce = space.nonce(counter)
            true_score = NX.score(SMALL_SPEC, job.identity, nonce)
            forged = next(c for c in (bar, true_score + 1, true_score - 1) if c != true_score and job.is_share(c))
            await miner.send(job.submit(nonce, forged))
            assert (await miner.expect(StratumAck)).code == ErrorCode.SCORE_MISMATCH
            async with miner.http.get(server.http_url + "/api/v1/workers",
                                      headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                (worker,) = (await resp.json())["Workers"]
            rows = await server.service.ledger.call(Ledger.accepted)
            assert worker["Shares"] + worker["Solutions"] == len(rows) == accepted > 0
            assert worker["Shares"] > 0 and worker["Mismatches"] == 1
            assert worker["EstimatedWalksPerSecond"] > 0

    run(body())
