"""The reference work server in a process of its own, so fault tests can SIGKILL it.

``python -m tests.miner.server_process --port P --db FILE [--verify-delay S] [--threshold T]``
serves ``tests/data/neuraxon-task/small.json`` (``--task default``: the default Neuraxon task;
``--task bpp9000``: qubic/core's example bpp9000 task; no vardiff, no cumulative training unless
``--training``) and prints ``READY <port>`` once it listens.
``--verify-delay`` makes every verification sleep first, which holds submissions in flight so a test
can kill the server mid-submit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import structlog

from protocol.fields import Algo
from protocol.server.abuse import AbusePolicy
from protocol.server.config import ServerConfig
from protocol.server.server import WorkServer
from protocol.server.tasks import TaskEntry, neuraxon_task
from protocol.server.verify import ScoringVerifier, VerifyOutcome, VerifyRequest
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec

SMALL = Path(__file__).resolve().parent.parent / "data" / "neuraxon-task" / "small.json"
#: qubic/core's example bpp9000 task and the mining seed of its golden vectors.
BPP9000_TASK = Path(__file__).resolve().parent.parent / "data" / "qubic-bpp9000" / "example_task_bpp9000.bin"
BPP9000_SEED = "f349f63bd013a7ded83287b1926908d79c2a8e0c6d1819cb0f7e61471dc2ef4d"
ADMIN_TOKEN = "admin-token"


class SlowVerifier(ScoringVerifier):
    """The real verifier, after a pause (verification in flight for ``delay`` seconds)."""

    def __init__(self, delay: float) -> None:
        super().__init__("neuraxon")
        self.delay = delay

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        time.sleep(self.delay)
        return super().compute(request)


def _entry(task: str, threshold: int, training: bool) -> TaskEntry:
    if task == "bpp9000":
        from protocol.server.bpp9000 import bpp9000_task

        return bpp9000_task(BPP9000_TASK.read_bytes(), seed=BPP9000_SEED, threshold=threshold)
    spec = TaskSpec.from_dict(json.loads(SMALL.read_text())) if task == "small" else DEFAULT_TASK
    return neuraxon_task(spec, threshold=threshold, training=training)


def config(port: int, db: Path | None, *, threshold: int = 400, training: bool = False,
           verify_delay: float = 0.0, task: str = "small") -> ServerConfig:
    """The fault tests' server: the small task (or another), solutions only, one verification thread."""
    verifiers = {Algo.NEURAXON: SlowVerifier(verify_delay)} if verify_delay > 0 else None
    # Some of these tests' miners claim wrong scores on purpose (to see a rejection): the ban for
    # repeated wrong claims (tested in tests/protocol/server/test_abuse.py) must not end them.
    return ServerConfig(host="127.0.0.1", port=port, db_path=db, tasks=(_entry(task, threshold, training),),
                        vardiff=False, calibration_walks=0, verify_workers=1, admin_token=ADMIN_TOKEN,
                        verifiers=verifiers, job_interval_seconds=5.0, abuse=AbusePolicy(max_wrong_claims=1_000_000))


async def _main(args: argparse.Namespace) -> None:
    cfg = config(args.port, Path(args.db) if args.db else None, threshold=args.threshold, training=args.training,
                 verify_delay=args.verify_delay, task=args.task)
    async with WorkServer(cfg) as server:
        print(f"READY {server.port}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))  # stdout is for READY
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db")
    parser.add_argument("--threshold", type=int, default=400)
    parser.add_argument("--training", action="store_true")
    parser.add_argument("--verify-delay", type=float, default=0.0)
    parser.add_argument("--task", choices=("small", "default", "bpp9000"), default="small")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
