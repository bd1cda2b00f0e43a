"""Generated and mutated frames against a live server: only error acks come back, nothing escapes,
nothing is stored, and another miner is served normally the whole time.

The default run sends 10,000 frames from a seeded generator (plus a few hundred from hypothesis) over
a handful of connections in a few seconds; ``-m slow`` sends 200,000. Verification is stubbed with a
score no wire integer can equal, so every submit that reaches it is a mismatch: the point here is the
frame handling, not the scorer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    CLIENT_MESSAGES,
    CLOSE_POLICY,
    ErrorCode,
    ProtocolError,
    StratumAck,
    StratumJob,
    StratumLogin,
    StratumStats,
    StratumSubmit,
    decode_as,
    encode,
)
from protocol.fields import Algo
from protocol.server import WorkServer
from protocol.server.abuse import AbusePolicy
from protocol.server.ledger import Ledger
from protocol.server.verify import VerifyOutcome, VerifyRequest
from tests.protocol.server.helpers import Miner, StubVerifier, run, small_config, wallet
from tests.protocol.test_fuzz import messages as valid_messages

DEFAULT_FRAMES = 10_000
SLOW_FRAMES = 200_000
CONNECTIONS = 4
BATCH = 200


class NeverEqualVerifier(StubVerifier):
    """Scores outside the wire's integer range, so no claimed score ever matches."""

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        return VerifyOutcome(-(2**60))


def fuzz_config() -> Any:
    # Every verified submit here is a wrong claim: the ban for repeated wrong claims (tested in
    # test_abuse.py) would end the fuzzing, so its threshold is out of reach.
    return small_config(verifiers={Algo.NEURAXON: NeverEqualVerifier()}, messages_per_second=1e9,
                        message_burst=10**9, calibration_walks=0, abuse=AbusePolicy(max_wrong_claims=10**9))


# -- the seeded generator ---------------------------------------------------------------------------

_JUNK_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 2**63, -(2**53), "", "x" * 70, [], {}, [1, [2]],
                           {"a": {"b": None}}, "0" * 64, "ZZ" * 32, "A" * 60, 1e308]


class FrameGenerator:
    """Valid client messages, then mutated at the JSON or the byte level (seeded, reproducible)."""

    def __init__(self, seed: int, job: StratumJob, limit: int) -> None:
        self.rng = random.Random(seed)
        self.job = job
        self.limit = limit

    def base(self) -> dict[str, Any]:
        r = self.rng
        kind = r.random()
        if kind < 0.5:
            own = r.random() < 0.5
            nonce = self.job.nonce_space().nonce(r.randrange(1 << 32)) if own else r.randbytes(32).hex()
            msg: Any = StratumSubmit(job_id=self.job.job_id if own else r.choice(["fuzz.1", "abcdef.9"]),
                                     epoch=r.choice([1, 1, 2]), nonce=nonce, claimed_score=r.randint(-10, 2000))
        elif kind < 0.8:
            msg = StratumStats(it_per_sec=r.random() * 100, threads=r.randint(0, 64), solutions=r.randint(0, 9))
        else:
            token = r.random() < 0.5
            msg = StratumLogin(access_token="tok" if token else None, wallet=None if token else wallet(str(r.random())),
                               worker="w", os="linux", version="1", threads=r.randint(1, 8))
        return dict(json.loads(encode(msg)))

    def mutate_json(self, obj: dict[str, Any]) -> str:
        r = self.rng
        for _ in range(r.randint(1, 3)):
            op = r.randrange(6)
            keys = list(obj)
            if op == 0 and keys:
                del obj[r.choice(keys)]
            elif op == 1:
                obj[r.choice(["Extra", "nonce", "JobID", "Method2", ""])] = r.choice(_JUNK_VALUES)
            elif op == 2 and keys:
                obj[r.choice(keys)] = r.choice(_JUNK_VALUES)
            elif op == 3:
                obj["Method"] = r.choice(["StratumJob", "StratumAck", "stratumsubmit", "Login", "", 501,
                                          "StratumSubmit", "StratumStats", "StratumLogin"])
            elif op == 4:
                obj["MessageVersion"] = r.choice([0, 1, 2, -1, "1", 1.0, None])
            elif op == 5 and "Nonce" in obj:
                nonce = str(obj["Nonce"])
                obj["Nonce"] = r.choice([nonce[:-1], nonce + "0", nonce.upper(), "g" + nonce[1:], " " + nonce[1:]])
        text = json.dumps(obj, allow_nan=True)
        if r.random() < 0.05:
            text = text.replace("{", '{"Method":"StratumStats",', 1)  # a duplicate key
        return text

    def mutate_bytes(self, data: bytes) -> bytes:
        r = self.rng
        raw = bytearray(data)
        for _ in range(r.randint(1, 4)):
            op = r.randrange(5)
            i = r.randrange(len(raw) + 1)
            if op == 0 and raw:
                raw[min(i, len(raw) - 1)] = r.randrange(256)
            elif op == 1:
                del raw[i:i + r.randint(1, 8)]
            elif op == 2:
                raw[i:i] = r.randbytes(r.randint(1, 6))
            elif op == 3:
                raw = raw[:i]
            else:
                raw[i:i] = raw[max(0, i - 10):i]
        return bytes(raw)

    def frame(self) -> str | bytes:
        r = self.rng
        roll = r.random()
        if roll < 0.45:
            return self.mutate_json(self.base())
        if roll < 0.85:
            return self.mutate_bytes(encode_base(self.base()))
        if roll < 0.95:
            junk: list[str | bytes] = [b"", b"null", b"[]", b"{}", b"\x00" * 8, "\u2028{}".encode(),
                                       r.randbytes(r.randint(1, 64)), '{"Method":"StratumStats"' * 3,
                                       "{" * 200 + "}" * 200]
            return r.choice(junk)
        if roll < 0.97:
            return b'{"Method":"StratumStats","Pad":"' + b"x" * (self.limit + r.randint(1, self.limit)) + b'"}'
        return encode_base(self.base())  # valid as is

    def frames(self, n: int) -> Iterator[str | bytes]:
        for _ in range(n):
            yield self.frame()


def encode_base(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# -- expectations -----------------------------------------------------------------------------------


def expected_reply(frame: str | bytes, limit: int) -> tuple[ErrorCode | None, bool, bool]:
    """``(code, replies, decoded)``: the code the server must answer with (``None`` for a server-side
    verdict or no reply), whether a reply comes, and whether the frame decodes (which resets strikes).

    Mirrors the server on a logged-in connection: decoding errors answer their own code, a valid
    login is UNEXPECTED_MESSAGE, a stats message gets no reply, a submit gets a verdict (some error).
    """
    try:
        message = decode_as(frame, CLIENT_MESSAGES, max_bytes=limit)
    except ProtocolError as err:
        return err.code, True, False
    if isinstance(message, StratumStats):
        return None, False, True
    if isinstance(message, StratumLogin):
        return ErrorCode.UNEXPECTED_MESSAGE, True, True
    return None, True, True


async def _fuzz_connection(url: str, name: str, frames: list[str | bytes], limit: int,
                           progress: Counter[str] | None = None) -> Counter[str]:
    """Send ``frames`` over as few connections as the close policy allows; check every reply.
    ``progress["sent"]`` counts the frames sent so far (shared by all fuzzing connections)."""
    tally: Counter[str] = Counter()
    progress = Counter() if progress is None else progress
    pending = deque(frames)
    stats_frame = encode(StratumStats(it_per_sec=1.0, threads=1, solutions=0))
    while pending:
        async with Miner.connect(url, name) as miner:
            await miner.login()
            strikes = 0
            while pending:
                batch: list[str | bytes] = []
                expected: list[ErrorCode | None] = []
                closes = False
                while pending and len(batch) < BATCH and not closes:
                    code, replies, decoded = expected_reply(pending[0], limit)
                    if batch and code is not None and code.closes_connection:
                        break  # a closing frame goes alone, after every reply of this batch came
                    if code is not None and code.counts_as_strike and strikes >= CLOSE_POLICY.max_strikes - 2:
                        batch.append(stats_frame)  # a valid message resets the strike count
                        strikes = 0
                    batch.append(pending.popleft())
                    if decoded:
                        strikes = 0
                    if code is not None and code.counts_as_strike:
                        strikes += 1
                    if replies:
                        expected.append(code)
                    closes = code is not None and code.closes_connection
                for frame in batch:
                    await miner.send_raw(frame)
                progress["sent"] += len(batch)
                got: list[Any] = []
                while len(got) < len(expected):
                    try:
                        message = await miner.recv()
                    except ConnectionError:
                        # Closing: the close follows the closing frame's ack at once, so verdicts of
                        # submissions still in verification are never sent. Frame errors all came.
                        assert closes
                        break
                    if not isinstance(message, StratumJob):  # periodic job pushes are not replies
                        got.append(message)
                assert all(isinstance(m, StratumAck) and not m.success for m in got), got
                acks = [m for m in got if isinstance(m, StratumAck)]
                want_codes = Counter(int(c) for c in expected if c is not None)
                got_codes = Counter(a.code for a in acks)
                assert want_codes - got_codes == Counter(), (want_codes, got_codes)
                assert all(a.code >= 200 for a in acks if a.code not in want_codes)  # verdicts, not frame errors
                tally.update(ErrorCode(a.code).name for a in acks)
                if closes:
                    if len(got) == len(expected):
                        assert await miner.closed_with() in (1009, 1002)
                    assert miner.ws.close_code in (1009, 1002)
                    break
    return tally


async def _steady_miner(url: str, stop: asyncio.Event, progress: Counter[str]) -> list[int]:
    """Another miner: login → job → submit → ack, again and again; returns, for each round it completed,
    how many fuzz frames had been sent by then."""
    rounds = []
    while not stop.is_set():
        async with Miner.connect(url, "steady") as miner:
            job = await miner.login()
            for i in range(5):
                await miner.send(job.submit(job.nonce_space().nonce(i), job.threshold + i))
                ack = await miner.expect(StratumAck)
                assert ack.code == ErrorCode.SCORE_MISMATCH and ack.nonce == job.nonce_space().nonce(i)
            rounds.append(progress["sent"])
    return rounds


async def _fuzz(total: int, seed: int) -> Counter[str]:
    async with WorkServer(fuzz_config()) as server:
        limit = server.config.max_frame_bytes
        async with Miner.connect(server.ws_url, "job-holder") as holder:
            real_job = await holder.login()
            stop = asyncio.Event()
            progress: Counter[str] = Counter()
            steady = asyncio.get_running_loop().create_task(_steady_miner(server.ws_url, stop, progress))
            gen = FrameGenerator(seed, real_job, limit)
            frames = list(gen.frames(total))
            share = len(frames) // CONNECTIONS
            tallies = await asyncio.gather(*(
                # Same worker as the job holder, so mutated submits of its job reach the deeper checks.
                _fuzz_connection(server.ws_url, "job-holder", frames[i * share:(i + 1) * share], limit, progress)
                for i in range(CONNECTIONS)))
            stop.set()
            rounds = await steady
        # The other miner was served all along: it completed rounds while the fuzz was at its start, middle
        # and end (counted in frames sent, not in seconds).
        sent = share * CONNECTIONS
        for part in (1, 2, 3):
            assert any((part - 1) * sent / 3 <= r < part * sent / 3 for r in rounds), (part, rounds, sent)
        assert await server.service.ledger.call(Ledger.accepted) == []  # nothing stored
        assert not server.service.closing
    total_tally: Counter[str] = Counter()
    for t in tallies:
        total_tally.update(t)
    return total_tally


def test_ten_thousand_generated_and_mutated_frames_get_only_error_acks(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        tally = run(_fuzz(DEFAULT_FRAMES, seed=20261127))
    # No exception escaped anywhere: no handler error (aiohttp), no lost task (asyncio), no INTERNAL ack.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert tally["INTERNAL"] == 0
    assert sum(tally.values()) >= 0.8 * DEFAULT_FRAMES  # (valid stats frames get no reply)
    # The generator reaches every frame-level code and the deeper submit checks.
    for name in ("MALFORMED_JSON", "UNKNOWN_METHOD", "INVALID_FIELD", "BAD_HEX", "BAD_IDENTITY", "FRAME_TOO_LARGE",
                 "UNSUPPORTED_VERSION", "UNEXPECTED_MESSAGE", "UNKNOWN_JOB", "STALE_JOB", "WRONG_EPOCH",
                 "NONCE_OUT_OF_RANGE", "BELOW_THRESHOLD", "SCORE_MISMATCH"):
        assert tally[name] > 0, (name, tally)


@pytest.mark.slow
def test_many_more_frames(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        tally = run(_fuzz(SLOW_FRAMES, seed=7), timeout=1800)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert tally["INTERNAL"] == 0 and sum(tally.values()) >= 0.8 * SLOW_FRAMES


# -- hypothesis: generated messages, mutated, against a server on a background loop -------------------


class _BackgroundServer:
    """A work server on its own event loop in a thread, shared by every hypothesis example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(WorkServer(fuzz_config()).start(), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def background_server() -> Iterator[WorkServer]:
    bg = _BackgroundServer()
    try:
        yield bg.server
    finally:
        bg.close()


def _mutations() -> st.SearchStrategy[str | bytes]:
    def mutate(args: tuple[Any, int, int, bytes]) -> str | bytes:
        message, op, pos, junk = args
        text = encode(message)
        i = pos % (len(text) + 1)
        if op == 0:
            return text
        if op == 1:
            return text[:i]
        if op == 2:
            return text[:i] + junk.decode("latin-1") + text[i:]
        if op == 3:
            return text.encode()[:i] + junk + text.encode()[i + 1:]
        return text.replace('"', "", 1) if i % 2 else text.replace(":", ":[", 1)

    return st.tuples(valid_messages, st.integers(0, 4), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)).map(
        mutate)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(frames=st.lists(_mutations(), min_size=1, max_size=40))
def test_hypothesis_generated_messages_get_only_error_acks(background_server: WorkServer,
                                                           frames: list[str | bytes]) -> None:
    limit = background_server.config.max_frame_bytes
    run(_fuzz_connection(background_server.ws_url, "hypothesis", frames, limit), timeout=60)
