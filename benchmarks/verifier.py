"""Verification throughput: the local pool against a Dask cluster with 1 and 2 workers, same run.

Every configuration recomputes the same N distinct walks of the default Neuraxon task (the work
server's real verification: the fair scheduler in front of the executor, the scoring registry
behind it), after a warm-up that is not measured. Configurations:

* ``local 1`` / ``local 2`` — ``--verifier local`` with 1 and 2 verification processes (the CLI's
  default mode);
* ``dask 1`` / ``dask 2`` — ``--verifier tcp://...``: a ``dask scheduler`` and 1 or 2
  ``dask worker --nthreads 1 --preload protocol.server.dask_verify`` processes on loopback
  (ephemeral ports), as ``docs/pool.md`` runs them.

Printed: verifications/s of each and its ratio against ``local 1`` measured in the same run. On a
shared machine the figures are noisy; compare ratios, and re-run on a quiet machine.

    .venv/bin/python benchmarks/verifier.py [--walks 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.server.scheduling import SERVER_ACCOUNT, FairScheduler  # noqa: E402 - after the path set-up
from protocol.server.tasks import default_tasks  # noqa: E402
from protocol.server.verify import (  # noqa: E402
    VerificationExecutor,
    VerificationPool,
    calibration_requests,
    verifier_for,
)


async def measure(executor: VerificationExecutor, walks: int) -> float:
    """Verifications per second of ``walks`` walks through a fair scheduler in front of ``executor``."""
    entry = default_tasks()[0]
    verifier = verifier_for(entry)
    await executor.start()
    try:
        await executor.warm_up()
        scheduler = FairScheduler(executor, max_queued=10_000, max_per_account=10_000, max_per_connection=10_000)
        warm = calibration_requests(verifier, "warm-up", entry.payload, 2 * executor.workers)
        await asyncio.gather(*(scheduler.run(verifier, r, account=SERVER_ACCOUNT, bounded=False) for r in warm))
        requests = calibration_requests(verifier, entry.task_id, entry.payload, walks)
        started = time.perf_counter()
        await asyncio.gather(*(scheduler.run(verifier, r, account=SERVER_ACCOUNT, bounded=False) for r in requests))
        return walks / (time.perf_counter() - started)
    finally:
        await executor.aclose()


def start_dask(tmp: Path, workers: int, *, nice: int = 0) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A ``dask scheduler`` and ``workers`` one-thread ``dask worker`` processes (at niceness ``nice``);
    their address."""
    dask = str(Path(sys.executable).with_name("dask"))
    info = tmp / f"scheduler-{workers}.json"
    log = (tmp / "dask.log").open("ab")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                               ":0", "--scheduler-file", str(info)], stdout=log, stderr=log, cwd=ROOT)]
    deadline = time.monotonic() + 60
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    import json

    address = json.loads(info.read_text())["address"]
    procs += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                "--preload", "protocol.server.dask_verify"], stdout=log, stderr=log, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               preexec_fn=(lambda: os.nice(nice)) if nice else None)  # noqa: PLW1509 - no threads yet
              for _ in range(workers)]
    return address, procs


async def wait_for_workers(address: str, workers: int) -> None:
    from distributed import Client

    async with Client(address, asynchronous=True, timeout=60) as client:
        await client.wait_for_workers(workers, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walks", type=int, default=60, help="verifications per configuration (default 60)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; {args.walks} verifications of the default Neuraxon task each")
    rates: dict[str, float] = {}
    for workers in (1, 2):
        rates[f"local {workers}"] = asyncio.run(measure(VerificationPool(workers, mode="process"), args.walks))
    from protocol.server.dask_verify import DaskVerificationPool

    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            address, procs = start_dask(Path(tmp), workers)
            try:
                asyncio.run(wait_for_workers(address, workers))
                pool: Any = DaskVerificationPool(address)
                rates[f"dask {workers}"] = asyncio.run(measure(pool, args.walks))
            finally:
                for proc in reversed(procs):
                    proc.terminate()
                for proc in procs:
                    proc.wait(30)
    base = rates["local 1"]
    print(f"{'verifier':>10} {'verif/s':>9} {'vs local 1':>11}")
    for name, rate in rates.items():
        print(f"{name:>10} {rate:9.2f} {rate / base:10.2f}x")


if __name__ == "__main__":
    main()
