"""The reference work server in a process of its own, so fault tests can SIGKILL it.

``python -m tests.miner.server_process --port P --db FILE [--verify-delay S] [--threshold T]``
serves ``tests/data/neuraxon-task/small.json`` (no vardiff, no cumulative training unless
``--training``) and prints ``READY <port>`` once it listens. ``--verify-delay`` makes every
verification sleep first, which holds submissions in flight so a test can kill the server mid-submit.
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
from protocol.server.config import ServerConfig
from protocol.server.server import WorkServer
from protocol.server.tasks import neuraxon_task
from protocol.server.verify import NeuraxonVerifier, VerifyOutcome, VerifyRequest
from scoring.neuraxon_task import TaskSpec

SMALL = Path(__file__).resolve().parent.parent / "data" / "neuraxon-task" / "small.json"
ADMIN_TOKEN = "admin-token"


class SlowVerifier(NeuraxonVerifier):
    """The real verifier, after a pause (verification in flight for ``delay`` seconds)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def compute(self, request: VerifyRequest) -> VerifyOutcome:
        time.sleep(self.delay)
        return super().compute(request)


def config(port: int, db: Path | None, *, threshold: int = 400, training: bool = False,
           verify_delay: float = 0.0) -> ServerConfig:
    """The fault tests' server: the small task, solutions only, one verification thread."""
    spec = TaskSpec.from_dict(json.loads(SMALL.read_text()))
    verifiers = {Algo.NEURAXON: SlowVerifier(verify_delay)} if verify_delay > 0 else None
    return ServerConfig(host="127.0.0.1", port=port, db_path=db, tasks=(neuraxon_task(spec, threshold=threshold,
                                                                                      training=training),),
                        vardiff=False, calibration_walks=0, verify_workers=1, admin_token=ADMIN_TOKEN,
                        verifiers=verifiers, job_interval_seconds=5.0)


async def _main(args: argparse.Namespace) -> None:
    cfg = config(args.port, Path(args.db) if args.db else None, threshold=args.threshold, training=args.training,
                 verify_delay=args.verify_delay)
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
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
