"""Malformed frames and the close policy: codes, strikes, closes, rate limits — and nothing stored."""

from __future__ import annotations

import asyncio

from protocol import CLOSE_POLICY, ErrorCode, StratumJob, StratumStats, StratumSubmit
from protocol.server.ledger import Ledger
from tests.protocol.server.helpers import Miner, ack_of, run, serving, small_config

LOGIN = '{"Method":"StratumLogin","MessageVersion":1,"Wallet":"%s","Worker":"w","Os":"","Version":"","Threads":1}'


def test_each_malformed_frame_gets_its_code_and_the_session_survives() -> None:
    cases: list[tuple[str | bytes, ErrorCode, str | None]] = [
        ("{", ErrorCode.MALFORMED_JSON, None),
        (b"\xff\xfe not utf-8", ErrorCode.MALFORMED_JSON, None),
        ("[1, 2]", ErrorCode.MALFORMED_JSON, None),
        ('{"Method":"StratumMine","MessageVersion":1}', ErrorCode.UNKNOWN_METHOD, "Method"),
        ('{"MessageVersion":1}', ErrorCode.INVALID_FIELD, "Method"),
        ('{"Method":"StratumSubmit","MessageVersion":1,"JobId":"j","Epoch":1,"Nonce":"xyz","ClaimedScore":1}',
         ErrorCode.BAD_HEX, "Nonce"),
        ('{"Method":"StratumSubmit","MessageVersion":1,"JobId":"j","Epoch":"1","Nonce":"%s","ClaimedScore":1}'
         % ("00" * 32), ErrorCode.INVALID_FIELD, "Epoch"),
        ('{"Method":"StratumSubmit","MessageVersion":1,"JobId":"j","Epoch":1,"Nonce":"%s","ClaimedScore":1,"X":1}'
         % ("00" * 32), ErrorCode.INVALID_FIELD, "X"),
        ('{"Method":"StratumAck","MessageVersion":1,"MessageType":502,"Success":true,"Code":0}',
         ErrorCode.UNEXPECTED_MESSAGE, "Method"),
        ('{"Method":"StratumSubmit","MessageVersion":1,"JobId":"j","Epoch":70000,"Nonce":"%s","ClaimedScore":1}'
         % ("00" * 32), ErrorCode.INVALID_FIELD, "Epoch"),
    ]

    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url) as miner:
            job = await miner.login()
            for frame, code, field in cases:
                await miner.send_raw(frame)
                ack = ack_of(await miner.recv())
                assert (ack.success, ack.code, ack.field) == (False, code, field), frame
            # Still logged in and working: a valid login now is unexpected, a stats message is fine.
            await miner.send(StratumStats(it_per_sec=12.5, threads=1, solutions=0))
            await miner.send_raw(LOGIN % miner.wallet)
            assert ack_of(await miner.recv()).code == ErrorCode.UNEXPECTED_MESSAGE
            await miner.send(StratumSubmit(job_id=job.job_id, epoch=2, nonce="00" * 32, claimed_score=10**6))
            assert ack_of(await miner.recv()).code == ErrorCode.WRONG_EPOCH
            assert await server.service.ledger.call(Ledger.accepted) == []

    run(body())


def test_closing_codes_close_with_their_websocket_code() -> None:
    async def body() -> None:
        async with serving(small_config()) as server:
            limit = server.config.max_frame_bytes
            async with Miner.connect(server.ws_url) as miner:
                await miner.login()
                await miner.send_raw('{"Method":"StratumStats","MessageVersion":1,"Pad":"%s"}' % ("x" * limit))
                ack = ack_of(await miner.recv())
                assert ack.code == ErrorCode.FRAME_TOO_LARGE
                assert await miner.closed_with() == 1009
            async with Miner.connect(server.ws_url) as miner:
                await miner.send_raw('{"Method":"StratumLogin","MessageVersion":2}')
                assert ack_of(await miner.recv()).code == ErrorCode.UNSUPPORTED_VERSION
                assert await miner.closed_with() == 1002
            for size in (64 * limit, 10 << 20):  # far beyond aiohttp's own cap: closed without an ack, but 1009
                async with Miner.connect(server.ws_url) as miner:
                    await miner.login()
                    await miner.send_raw("x" * size)  # the server drains it rather than resetting the connection
                    assert await miner.closed_with() == 1009
            async with Miner.connect(server.ws_url) as miner:  # the server still serves
                assert not (await miner.login()).is_idle

    run(body())


def test_strikes_reset_on_valid_messages_and_close_after_the_limit() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url) as miner:
            await miner.login()
            for _ in range(3):
                for _ in range(CLOSE_POLICY.max_strikes - 1):
                    await miner.send_raw("garbage")
                await miner.send(StratumStats(it_per_sec=1.0, threads=1, solutions=0))  # resets the count
            for _ in range(3 * (CLOSE_POLICY.max_strikes - 1)):
                assert ack_of(await miner.recv()).code == ErrorCode.MALFORMED_JSON
            for _ in range(CLOSE_POLICY.max_strikes):
                await miner.send_raw("garbage")
            acks = [ack_of(await miner.recv()) for _ in range(CLOSE_POLICY.max_strikes)]
            assert all(a.code == ErrorCode.MALFORMED_JSON for a in acks) and "closing" in acks[-1].message
            assert await miner.closed_with() == 1008

    run(body())


def test_rate_limit_answers_once_per_run_and_keeps_the_connection() -> None:
    async def body() -> None:
        async with serving(small_config(messages_per_second=5.0, message_burst=5)) as server, \
                Miner.connect(server.ws_url) as miner:
            await miner.login()  # 1 token
            for _ in range(10):
                await miner.send(StratumStats(it_per_sec=1.0, threads=1, solutions=0))
            # Six messages over the limit: one RATE_LIMITED ack for the run, the others dropped unanswered.
            ack = ack_of(await miner.recv())
            assert ack.code == ErrorCode.RATE_LIMITED and "dropped" in ack.message
            await asyncio.sleep(0.5)
            await miner.send(StratumSubmit(job_id="x", epoch=1, nonce="00" * 32, claimed_score=10**6))
            assert ack_of(await miner.recv()).code == ErrorCode.UNKNOWN_JOB  # tokens refilled: answered again
            assert await miner.drain() == []

    run(body())


def test_refused_and_invalid_submits_are_answered_with_their_job_and_nonce() -> None:
    """An error answer names the submit it answers whenever the frame shows it, so a miner never has to
    guess; a refused frame that is not a submit gets an answer that names nothing."""
    bad = '{"Method":"StratumSubmit","MessageVersion":1,"JobId":"%s","Epoch":%d,"Nonce":"%s","ClaimedScore":"5"}'

    async def body() -> None:
        async with serving(small_config(messages_per_second=0.01, message_burst=5)) as server, \
                Miner.connect(server.ws_url) as miner:
            job = await miner.login()  # tokens left: 4
            await miner.send_raw(bad % (job.job_id, job.epoch, "AB" * 32))  # 3
            ack = ack_of(await miner.recv())
            assert (ack.code, ack.field, ack.job_id, ack.nonce) == \
                (ErrorCode.INVALID_FIELD, "ClaimedScore", job.job_id, "ab" * 32)
            await miner.send(StratumStats(it_per_sec=1.0, threads=1, solutions=0))  # 2
            nonces = sorted(job.nonce_space().nonce(i) for i in range(8))
            for nonce in nonces:  # two are read, six are refused unread
                await miner.send(StratumSubmit(job_id=job.job_id, epoch=job.epoch, nonce=nonce, claimed_score=1))
            await miner.send(StratumStats(it_per_sec=1.0, threads=1, solutions=0))  # refused too
            acks = [ack_of(await miner.recv()) for _ in range(9)]
            by_nonce = {a.nonce: a for a in acks if a.nonce is not None}
            assert sorted(by_nonce) == nonces and all(a.job_id == job.job_id for a in by_nonce.values())
            codes = sorted(a.code for a in by_nonce.values())
            assert codes == [ErrorCode.BELOW_THRESHOLD] * 2 + [ErrorCode.RATE_LIMITED] * 6
            unnamed = [a for a in acks if a.nonce is None]
            assert [(a.code, a.job_id) for a in unnamed] == [(ErrorCode.RATE_LIMITED, None)]

    run(body())


def test_no_login_in_time_closes() -> None:
    async def body() -> None:
        async with serving(small_config(login_timeout_seconds=0.2)) as server, Miner.connect(server.ws_url) as miner:
            ack = ack_of(await miner.recv())
            assert ack.code == ErrorCode.UNAUTHORIZED
            assert await miner.closed_with() == 1008

    run(body())


def test_a_slow_reader_does_not_hold_up_the_others() -> None:
    async def body() -> None:
        async with serving(small_config()) as server, Miner.connect(server.ws_url, "fast") as fast:
            await fast.login()
            async with Miner.connect(server.ws_url, "slow") as slow:
                await slow.login()
                for _ in range(20):  # the slow miner never reads; job changes still reach the fast one
                    server.service.set_epoch(server.service.epoch + 1)
                    job = await fast.expect(StratumJob, timeout=2)
                    assert job.epoch == server.service.epoch

    run(body())
