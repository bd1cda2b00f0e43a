"""A hostile client against a real server: wrong-claim floods, message floods, bans and their backoff.

The hostile clients connect from other loopback addresses (127.0.0.2, 127.0.0.3) than the honest
miners (127.0.0.1), as they would from another host, so address bans can be told apart.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from protocol import ErrorCode, StratumAck, StratumLogin, StratumStats, StratumSubmit, encode
from protocol.fields import Algo
from protocol.server.abuse import AbusePolicy, Bans
from protocol.server.ledger import Ledger
from tests.protocol.server.dask_cluster import local_cluster, require_dask
from tests.protocol.server.helpers import (
    GatedVerifier,
    Miner,
    StubVerifier,
    ack_of,
    run,
    serving,
    small_config,
    stub_score,
    until,
)


def _config(stub: StubVerifier, **overrides: object) -> object:
    # threshold 0: every honest stub score is a solution; no training, so the work never changes.
    return small_config(threshold=0, training=False, calibration_walks=0, verify_workers=1, verify_mode="thread",
                        verifiers={Algo.NEURAXON: stub}, **overrides)


async def _has_metric(miner: Miner, url: str, line: str) -> bool:
    """Whether the server's /metrics has ``line``."""
    async with miner.http.get(url + "/metrics") as resp:
        return line in (await resp.text()).splitlines()


@contextlib.asynccontextmanager
async def _verifier_at(kind: str) -> AsyncIterator[str]:
    """``--verifier`` of the given kind: ``local``, or a one-thread Dask cluster's address."""
    if kind == "local":
        yield "local"
        return
    async with local_cluster(workers=1, threads=1) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_a_wrong_claim_flood_of_one_account_cannot_starve_an_honest_miner(kind: str) -> None:
    if kind == "dask":
        require_dask()  # the fair scheduler sits in front of either verifier
    verifier = GatedVerifier()

    async def body() -> None:
        async with _verifier_at(kind) as address, serving(_config(verifier, verifier=address)) as server, \
                contextlib.AsyncExitStack() as stack:
            hostile = [await stack.enter_async_context(Miner.connect(server.ws_url, f"h{i}", source="127.0.0.2"))
                       for i in range(20)]
            others = [await stack.enter_async_context(Miner.connect(server.ws_url, name)) for name in ("carol", "dave")]
            honest = await stack.enter_async_context(Miner.connect(server.ws_url, "honest"))
            for miner in hostile:
                miner.wallet = hostile[0].wallet  # one account, twenty connections
            for miner in [*hostile, *others, honest]:
                await miner.login()
            for miner in hostile:  # 320 wrong claims: more than the old 256-deep first-come queue
                job = miner.job
                assert job is not None
                for k in range(16):
                    await miner.send(job.submit(job.nonce_space().nonce(k), 10**6))
            for miner in others:
                job = miner.job
                assert job is not None
                for k in range(2):
                    await miner.send(job.submit(job.nonce_space().nonce(k), 10**6))
            # Over the per-account bound (32 in verification) the account is refused at once, unverified.
            await until(lambda: _has_metric(honest, server.http_url,
                                            'workserver_submits_total{verdict="server_busy"} 288.0'))
            scheduler = server.service.scheduler
            assert scheduler is not None and scheduler.pending == 32 + 4
            await until(lambda: _true(len(verifier.started) == 1))  # one walk runs (after the pool's warm-up)
            running = 1
            job = honest.job
            assert job is not None
            nonce = job.nonce_space().nonce(0)
            await honest.send(job.submit(nonce, stub_score(job.public_key, nonce)))
            await until(lambda: _true(scheduler.pending == 32 + 4 + 1))  # queued behind the flood
            ack = await verifier.release_until_answered(honest)  # until the honest one is done
            assert ack.success, ack
            position = verifier.started.index(job.identity)
            between = verifier.started[running:position]
            assert len(between) <= 3 and len(set(between)) == len(between), between  # one of each other account
            verifier.gate.release(10_000)  # before the server (and the cluster) stop: nothing left blocked

    run(body())


async def _true(value: bool) -> bool:
    return value


def test_a_closed_connections_queued_submits_are_not_verified() -> None:
    verifier = GatedVerifier()

    async def body() -> None:
        async with serving(_config(verifier)) as server, Miner.connect(server.ws_url, "honest") as honest:
            await honest.login()
            async with Miner.connect(server.ws_url, "leaver", source="127.0.0.2") as leaver:
                job = await leaver.login()
                for k in range(6):
                    await leaver.send(job.submit(job.nonce_space().nonce(k), 10**6))
                scheduler = server.service.scheduler
                assert scheduler is not None
                await until(lambda: _true(scheduler.pending == 6))
            await until(lambda: _true(scheduler.pending == 1))  # the running walk; five dropped
            verifier.gate.release()
            job = honest.job
            assert job is not None
            nonce = job.nonce_space().nonce(0)
            await honest.send(job.submit(nonce, stub_score(job.public_key, nonce)))
            verifier.gate.release()
            assert (await honest.expect(StratumAck)).success
            assert verifier.started == [leaver.wallet, honest.wallet]
            assert await _has_metric(honest, server.http_url,
                                 'workserver_verification_dropped_total{reason="disconnected"} 5.0')
        verifier.gate.release(10_000)

    run(body())


def test_repeated_wrong_claims_ban_the_account_and_address_once(capsys: pytest.CaptureFixture[str]) -> None:
    async def body() -> None:
        async with serving(_config(StubVerifier())) as server, \
                Miner.connect(server.ws_url, "cheat-1", source="127.0.0.2") as cheat, \
                Miner.connect(server.ws_url, "cheat-2", source="127.0.0.2") as second, \
                Miner.connect(server.ws_url, "honest") as honest:
            second.wallet = cheat.wallet
            job = await cheat.login()
            await second.login()
            await honest.login()
            for k in range(4):
                await cheat.send(job.submit(job.nonce_space().nonce(k), 10**6))
                assert (await cheat.expect(StratumAck)).code == ErrorCode.SCORE_MISMATCH
            await cheat.send(job.submit(job.nonce_space().nonce(4), 10**6))  # the fifth in a row
            for miner in (cheat, second):  # every connection of the account is told why, then closed
                ack = await miner.expect(StratumAck)
                assert ack.code == ErrorCode.UNAUTHORIZED and "wrong score claims" in ack.message, ack
                assert await miner.closed_with() == 1008
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # the address is refused
                async with Miner.connect(server.ws_url, "again", source="127.0.0.2"):
                    pass
            assert refused.value.status == 403
            async with Miner.connect(server.ws_url, "elsewhere") as elsewhere:  # and the account anywhere
                elsewhere.wallet = cheat.wallet
                await elsewhere.send_raw(_login_frame(cheat.wallet))
                ack = ack_of(await elsewhere.recv())
                assert ack.code == ErrorCode.UNAUTHORIZED and "refused for" in ack.message
            honest_job = honest.job
            assert honest_job is not None
            nonce = honest_job.nonce_space().nonce(0)
            await honest.send(honest_job.submit(nonce, stub_score(honest_job.public_key, nonce)))
            assert (await honest.expect(StratumAck)).success  # others are served as before
            for line in ('workserver_bans_total{reason="wrong_claims"} 1.0', "workserver_banned_keys 2.0",
                         'workserver_refused_connections_total{reason="banned"} 1.0',
                         'workserver_logins_total{result="banned"} 1.0'):
                assert await _has_metric(honest, server.http_url, line), line

    run(body())
    assert capsys.readouterr().out.count("workserver.banned") == 1


def test_a_ban_outlives_a_restart_of_the_server(tmp_path: Path) -> None:
    # The ban is kept in the ledger: restarting the server (a supervisor's restart, a deploy) does not
    # let a banned account and address straight back in.
    db = tmp_path / "ledger.sqlite"

    async def body() -> None:
        async with serving(_config(StubVerifier(), db_path=db)) as server, \
                Miner.connect(server.ws_url, "cheat", source="127.0.0.2") as cheat:
            job = await cheat.login()
            for k in range(5):
                await cheat.send(job.submit(job.nonce_space().nonce(k), 10**6))
                ack = await cheat.expect(StratumAck)
            assert ack.code == ErrorCode.UNAUTHORIZED, ack  # the fifth wrong claim in a row: banned
            wallet = cheat.wallet

            async def kept() -> bool:  # asked through the server's own ledger connection
                return await server.service.ledger.call(Ledger.recent_bans, time.time()) != []

            await until(kept, 10)
        async with serving(_config(StubVerifier(), db_path=db)) as server:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # the address, at accept time
                async with Miner.connect(server.ws_url, "again", source="127.0.0.2"):
                    pass
            assert refused.value.status == 403
            async with Miner.connect(server.ws_url, "elsewhere") as elsewhere:  # the account, at login
                await elsewhere.send_raw(_login_frame(wallet))
                ack = ack_of(await elsewhere.recv())
                assert ack.code == ErrorCode.UNAUTHORIZED and "wrong score claims" in ack.message, ack
            async with Miner.connect(server.ws_url, "honest") as honest:  # everyone else gets in
                assert not (await honest.login()).is_idle

    run(body())


def test_a_ban_issued_elsewhere_is_adopted_once_and_counts_for_the_next_one() -> None:
    now = [1000.0]
    bans = Bans(AbusePolicy(max_wrong_claims=1, ban_seconds=60.0), clock=lambda: now[0])
    keys = ("account:acct", "address:10.0.0.1")
    adopted = bans.adopt(keys, "wrong_claims", 2, 120.0, now[0] + 100.0)  # another front-end's second ban
    assert adopted is not None and bans.of(account="acct") is adopted and bans.of(address="10.0.0.1") is adopted
    assert bans.adopt(keys, "wrong_claims", 2, 120.0, now[0] + 100.0) is None  # the same again: nothing new
    assert bans.adopt(keys[:1], "wrong_claims", 2, 120.0, now[0] + 50.0) is None  # shorter: kept as it was
    assert bans.of(account="acct").until == now[0] + 100.0  # type: ignore[union-attr]
    assert bans.adopt(("address:10.0.0.2",), "flooding", 1, 60.0, now[0] - 1.0) is None  # over: remembered only
    assert bans.of(address="10.0.0.2") is None
    now[0] += 200.0
    assert bans.of(account="acct") is None
    third = bans.wrong_claim("acct", "10.0.0.1")  # the first offence here, the third of the account
    assert third is not None and (third.offence, third.seconds) == (3, 240.0)


def _login_frame(wallet: str) -> str:
    return encode(StratumLogin(wallet=wallet, worker="w", os="", version="", threads=1))


def test_a_message_flood_is_closed_instead_of_answered_and_repeated_floods_ban_the_address() -> None:
    async def body() -> None:
        cfg = small_config(messages_per_second=20.0, message_burst=40, max_rate_strikes=64)
        async with serving(cfg) as server, Miner.connect(server.ws_url, "honest") as honest:
            await honest.login()
            stats = StratumStats(it_per_sec=1.0, threads=1, solutions=0)
            for flood in range(3):
                async with Miner.connect(server.ws_url, f"flood-{flood}", source="127.0.0.3") as flooder:
                    await flooder.login()
                    with contextlib.suppress(ConnectionError):
                        for _ in range(5000):
                            await flooder.send(stats)
                    replies = []
                    with contextlib.suppress(ConnectionError):
                        while True:
                            replies.append(await flooder.recv())
                    # A few answers (one per run of dropped messages, then the closing one), not thousands.
                    acks = [m for m in replies if isinstance(m, StratumAck)]
                    assert 2 <= len(acks) <= 5 and {a.code for a in acks[:-1]} == {ErrorCode.RATE_LIMITED}, acks
                    last = ErrorCode.RATE_LIMITED if flood < 2 else ErrorCode.UNAUTHORIZED  # the third: banned
                    assert acks[-1].code == last and "flood" in acks[-1].message, acks[-1]
                    assert flooder.ws.close_code == 1008
                await honest.send(StratumSubmit(job_id="x", epoch=1, nonce="00" * 32, claimed_score=1))
                assert (await honest.expect(StratumAck)).code == ErrorCode.UNKNOWN_JOB  # answered as ever
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # the third flood banned the address
                async with Miner.connect(server.ws_url, "again", source="127.0.0.3"):
                    pass
            assert refused.value.status == 403
            async with Miner.connect(server.ws_url, "newcomer") as newcomer:  # everyone else gets in
                assert not (await newcomer.login()).is_idle
            assert await _has_metric(honest, server.http_url, "workserver_flood_closes_total 3.0")
            assert await _has_metric(honest, server.http_url, 'workserver_bans_total{reason="flooding"} 1.0')

    run(body())


def test_bans_grow_with_each_offence_and_a_budget_refills_with_time() -> None:
    now = [1000.0]
    bans = Bans(AbusePolicy(max_wrong_claims=3, wrong_claim_refill_seconds=600.0, ban_seconds=60.0,
                            ban_max_seconds=86_400.0), clock=lambda: now[0])
    assert not bans.suspect("acct")
    assert bans.wrong_claim("acct", "10.0.0.1") is None and bans.wrong_claim("acct", "10.0.0.1") is None
    assert bans.suspect("acct") and not bans.suspect("other")
    now[0] += 600.0  # one claim forgiven
    assert bans.wrong_claim("acct", "10.0.0.1") is None
    first = bans.wrong_claim("acct", "10.0.0.1")
    assert first is not None and (first.seconds, first.offence, first.reason) == (60.0, 1, "wrong_claims")
    assert bans.of(account="acct") is first and bans.of(address="10.0.0.1") is first
    assert bans.of(account="other", address="10.0.0.2") is None
    assert bans.wrong_claim("acct", "10.0.0.1") is None  # already banned: nothing new to log
    lengths = []
    for _ in range(4):
        now[0] += 3600.0  # the ban ran out; the budget refilled
        assert bans.of(account="acct") is None
        ban = None
        while ban is None:
            ban = bans.wrong_claim("acct", "10.0.0.1")
        lengths.append(ban.seconds)
    assert lengths == [120.0, 240.0, 480.0, 960.0]
    now[0] += 2 * 86_400.0  # a day clean after the last ban: the next one starts over
    ban = None
    while ban is None:
        ban = bans.wrong_claim("acct", "10.0.0.1")
    assert ban.seconds == 60.0 and ban.offence == 1
