"""The verification pool: processes that job pushes can pause, and that leave with their server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from protocol.server.verify import ScoringVerifier, VerificationPool, VerifyRequest
from scoring import neuraxon as NX
from tests.protocol.server.helpers import SMALL_SPEC, run, wallet


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_process_pool_scores_like_the_scorer_and_pauses_on_request() -> None:
    async def body() -> None:
        pool = VerificationPool(1, mode="process", nice=5)
        try:
            identity = wallet("pool")
            request = VerifyRequest(SMALL_SPEC, NX.public_key(identity), bytes(32))
            outcome = await pool.run(ScoringVerifier("neuraxon"), request)
            assert outcome.score == NX.score(SMALL_SPEC, identity, bytes(32)) and outcome.network is None
            (pid,) = pool._worker_pids()  # the test looks at the real process
            pool.pause()
            pool.pause()  # nested
            await asyncio.sleep(0.1)
            assert _state(pid) == "T"  # stopped
            pool.resume()
            assert _state(pid) == "T"
            pool.resume()
            deadline = time.monotonic() + 5
            while _state(pid) == "T" and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert _state(pid) != "T"
            assert (await pool.run(ScoringVerifier("neuraxon"), request)).score == outcome.score
        finally:
            pool.close()

    run(body())
