"""Fair verification across front-ends (``protocol.server.turns``): on one real PostgreSQL, an account's
in-flight bound holds for the whole pool, turns are taken pool-wide, a dead front-end's leases are
reclaimed, and a hostile account flooding two front-ends that share a Dask cluster delays an honest
account by at most one item of each other account. Orders and counts only; no timing is asserted."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest

from protocol.fields import Algo
from protocol.server.database import parse_database
from protocol.server.scheduling import SERVER_ACCOUNT, SchedulerBusyError
from protocol.server.turns import SharedTurns
from tests.postgres import PASSWORD, PostgresServer
from tests.protocol.server.dask_cluster import local_cluster, require_dask
from tests.protocol.server.helpers import GatedVerifier, Miner, run, serving, small_config, stub_score, until


async def _true(value: bool) -> bool:
    return value


def test_an_accounts_bound_and_turns_are_pool_wide(postgres: PostgresServer) -> None:
    db = parse_database(postgres.create_database(), password=PASSWORD)

    async def body() -> None:
        a = SharedTurns(db, owner="front-end-a", max_per_account=3)
        b = SharedTurns(db, owner="front-end-b", max_per_account=3)
        await a.start()
        await b.start()
        try:
            flood = [await a.acquire("x"), await b.acquire("x"), await a.acquire("x")]
            assert [lease.tag for lease in flood] == [1, 2, 3]  # one account, consecutive turns pool-wide
            for turns in (a, b):  # three in flight across the pool: the bound, on either front-end
                with pytest.raises(SchedulerBusyError, match="across the pool"):
                    await turns.acquire("x")
            honest = await b.acquire("h")
            assert honest.tag == 1  # nothing queued: the next turn, level with the flood's first item
            await a.release(flood[0], ran=True)
            assert await a.clock() == 1
            assert (await a.acquire("x")).tag == 4  # a freed place, behind its own queue
            assert (await b.acquire("late")).tag == 2  # a newcomer: the turn after the clock
            await b.release(honest, ran=False)  # dropped unverified: the clock stays
            assert await b.clock() == 1
            server = [await a.acquire(SERVER_ACCOUNT, bounded=False) for _ in range(5)]  # calibration walks
            assert [lease.tag for lease in server] == [2, 3, 4, 5, 6]  # unbounded, one turn after another
            assert (await b.acquire(SERVER_ACCOUNT, bounded=False)).tag == 2  # the other front-end's own work
        finally:
            await a.aclose()
            await b.aclose()

    run(body())


def test_a_dead_front_ends_leases_are_reclaimed_and_a_live_ones_renewed(postgres: PostgresServer) -> None:
    db = parse_database(postgres.create_database(), password=PASSWORD)

    async def body() -> None:
        dead = SharedTurns(db, owner="dead", max_per_account=2, lease_seconds=0.3)
        live = SharedTurns(db, owner="live", max_per_account=2, lease_seconds=3600.0)
        await dead.start()
        await live.start()
        try:
            await dead.acquire("x")
            await dead.acquire("x")
            kept = await live.acquire("y")
            assert dead._renewal is not None
            dead._renewal.cancel()  # the front-end dies: nobody renews or releases its leases
            with pytest.raises(SchedulerBusyError):
                await live.acquire("x")

            async def reclaimed() -> bool:
                await live.renew()
                return live.reclaimed == 2

            await until(reclaimed, timeout=30)
            assert (await live.acquire("x")).tag == 1  # its place is free again: the turn after the clock
            await live.renew()
            assert live.held == 2 and live.reclaimed == 2  # its own lease ("y") was renewed, not reclaimed
            await live.release(kept, ran=True)
        finally:
            await live.aclose()
            await dead.aclose()

    run(body())


def test_a_flood_on_two_front_ends_delays_an_honest_account_by_one_item_of_each_other(
        postgres: PostgresServer) -> None:
    require_dask()
    url = postgres.create_database()
    verifier = GatedVerifier()
    bound = 8

    async def body() -> None:
        async with local_cluster(workers=1, threads=1) as cluster:
            config = small_config(threshold=0, training=False, calibration_walks=0, verifier=cluster.scheduler_address,
                                  database=parse_database(url, password=PASSWORD), max_inflight_per_account=bound,
                                  verifiers={Algo.NEURAXON: verifier})
            async with serving(config) as a, serving(config) as b, contextlib.AsyncExitStack() as stack:
                hostile = [await stack.enter_async_context(Miner.connect(server.ws_url, f"x{i}", source="127.0.0.2"))
                           for i in range(4) for server in (a, b)]
                carol = await stack.enter_async_context(Miner.connect(a.ws_url, "carol"))
                dave = await stack.enter_async_context(Miner.connect(b.ws_url, "dave"))
                honest = await stack.enter_async_context(Miner.connect(a.ws_url, "honest"))
                for miner in hostile:
                    miner.wallet = hostile[0].wallet  # one account, four connections to each front-end
                for miner in [*hostile, carol, dave, honest]:
                    await miner.login()
                for miner in hostile:  # 32 wrong claims, 16 per front-end: twice the account's bound
                    job = miner.job
                    assert job is not None
                    for k in range(4):
                        await miner.send(job.submit(job.nonce_space().nonce(k), 10**6))
                for miner in (carol, dave):
                    job = miner.job
                    assert job is not None
                    for k in range(2):
                        nonce = job.nonce_space().nonce(k)
                        await miner.send(job.submit(nonce, stub_score(job.public_key, nonce)))
                assert a.service.scheduler is not None and b.service.scheduler is not None
                pending = (a.service.scheduler, b.service.scheduler)
                # The account's bound holds across both front-ends: 8 in verification, 24 refused.
                await until(lambda: _true(sum(s.pending for s in pending) == bound + 4), timeout=30)
                busy = [a.service.metrics.submits.labels(verdict="server_busy")._value.get(),
                        b.service.metrics.submits.labels(verdict="server_busy")._value.get()]
                assert sum(busy) == 32 - bound, busy
                await until(lambda: _true(len(verifier.started) == 1), timeout=30)  # one walk runs
                running = 1
                job = honest.job
                assert job is not None
                nonce = job.nonce_space().nonce(0)
                await honest.send(job.submit(nonce, stub_score(job.public_key, nonce)))
                await until(lambda: _true(sum(s.pending for s in pending) == bound + 4 + 1), timeout=30)
                ack = await verifier.release_until_answered(honest)  # until the honest one is done
                assert ack.success, ack
                position = verifier.started.index(job.identity)
                between = Counter(verifier.started[running:position])
                # At most one item of each other account; without pool-wide turns the flood's other
                # front-end put four of its items before the honest one here.
                assert all(n <= 1 for n in between.values()), between
                verifier.gate.release(10_000)  # before the servers (and the cluster) stop: nothing left blocked

    try:
        run(body(), timeout=300)
    finally:
        verifier.gate.release(10_000)
