"""Small stand-ins for unit tests: a scorer whose score is a fast function of the nonce, jobs, connections."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

from miner.scorers import JobInputs, PreparedWork, Scorer
from miner.sources.connection import ConnectionPolicy, ServerConnection, ServerEndpoint, SessionLostError
from protocol.fields import Algo
from protocol.identity import identity_from_public_key
from protocol.messages import StratumAck, StratumJob, StratumStats, StratumSubmit
from scoring import registry

IDENTITY = identity_from_public_key(bytes(range(32)))


class HashWork(PreparedWork):
    """Score = first byte of SHA-256(nonce) (0..255); records every nonce it scored."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[bytes] = []
        self.lock = threading.Lock()
        self.gate: threading.Event | None = None

    def score(self, nonce: bytes) -> int:
        if self.gate is not None:
            self.gate.wait()
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.seen.append(nonce)
        return hashlib.sha256(nonce).digest()[0]


class HashScorer(Scorer):
    """A Neuraxon-direction scorer over :class:`HashWork`."""

    def __init__(self, work: HashWork | None = None) -> None:
        super().__init__(Algo.NEURAXON)
        self.work = work or HashWork()

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        return self.work

    def bench_work(self, entry: registry.Algorithm | None = None) -> PreparedWork:
        return self.work


def make_job(job_id: str = "j.1", *, prefix: str = "0a0b0c0d", threshold: int = 250, seed: str = "11" * 32,
             idle: bool = False, share_threshold: int | None = None, pool_id: str | None = None) -> StratumJob:
    if idle:
        return StratumJob.idle(job_id=job_id, epoch=1, identity=IDENTITY, pool_id=pool_id)
    return StratumJob(job_id=job_id, epoch=1, algo=Algo.NEURAXON, random_seed=seed, identity=IDENTITY,
                      task_id="task1", task={}, threshold=threshold, share_threshold=share_threshold,
                      nonce_prefix=prefix, pool_id=pool_id)


class FakeConnection(ServerConnection):
    """A session whose answers a test scripts: ``answers`` maps a nonce to an ack (default: accepted)."""

    transport = "fake"

    def __init__(self, url: str = "ws://fake:1/ws", job: StratumJob | None = None) -> None:
        super().__init__(ServerEndpoint.parse(url, 0), None, ConnectionPolicy(), job or make_job())  # type: ignore[arg-type]
        self.submitted: list[StratumSubmit] = []
        self.answers: dict[str, StratumAck | Exception] = {}
        self.hold: asyncio.Event | None = None
        self._ended = asyncio.Event()

    async def run(self) -> None:
        await self._ended.wait()
        if not self.closed:
            raise SessionLostError("closed", "scripted")

    def end(self) -> None:
        self._ended.set()

    async def submit(self, submit: StratumSubmit) -> StratumAck:
        if self.closed:
            raise SessionLostError("closed", "closed")
        self.submitted.append(submit)
        self.inflight += 1
        try:
            if self.hold is not None:
                await self.hold.wait()
            answer = self.answers.get(submit.nonce, StratumAck.accepted(submit))
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.inflight -= 1

    async def send_stats(self, stats: StratumStats) -> None:
        return None

    async def close(self) -> None:
        self.closed = True
        self._ended.set()
