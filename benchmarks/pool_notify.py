"""How fast a new best network committed by one front-end is known to another (PostgreSQL LISTEN/NOTIFY).

Starts a throw-away PostgreSQL (as the tests do: ``tests/postgres.py``). Front-end A's ledger commits
a new best network (``Ledger.record_accepted``, the call a submit makes); front-end B's listener
(``listen`` on ``BEST_CHANNEL``, as a front-end runs it) receives the announcement and reads the network
(``Ledger.best_of``, what B does before pushing new jobs). Per round the clock runs from just before
A's commit to B holding the network; the baseline is A's commit alone, in the same run. From there B's
push to its miners is the single-server push (``benchmarks/workserver_load.py``). Goal: well under 1 s.

    .venv/bin/python benchmarks/pool_notify.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.server.database import BEST_CHANNEL, listen, parse_database  # noqa: E402 - after the path set-up
from protocol.server.ledger import AcceptedRecord, Ledger  # noqa: E402
from tests.postgres import PASSWORD, postgres_server  # noqa: E402


async def _rounds(url: str, rounds: int) -> list[tuple[float, float]]:
    db = parse_database(url, password=PASSWORD)
    front_a, front_b = ThreadPoolExecutor(1), ThreadPoolExecutor(1)  # each ledger on its own thread, as served
    loop = asyncio.get_running_loop()
    ledger_a = await loop.run_in_executor(front_a, Ledger, db)
    ledger_b = await loop.run_in_executor(front_b, Ledger, db)
    listening = asyncio.Event()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on_best(payload: str) -> None:
        task_id, _, network_id = payload.partition(" ")
        found = await loop.run_in_executor(front_b, ledger_b.best_of, task_id)
        assert found is not None and found[0].network_id == network_id
        arrived.put_nowait(time.perf_counter())

    async def on_listening() -> None:
        listening.set()

    listener = asyncio.create_task(listen(db, {BEST_CHANNEL: on_best}, on_listening=on_listening))
    await listening.wait()
    out = []
    for i in range(rounds):
        rec = AcceptedRecord("solution", "task", "ID", f"{i:08x}", 1000 + i, "job.1", 1, 100, None, None, "acct", "w")
        started = time.perf_counter()
        _, new_best = await loop.run_in_executor(
            front_a, lambda r=rec, n=i: ledger_a.record_accepted(r, network=b'{"n":%d}' % n, network_id=f"n{n}"))
        committed = time.perf_counter()
        assert new_best
        out.append((committed - started, await arrived.get() - started))
    listener.cancel()
    for executor, ledger in ((front_a, ledger_a), (front_b, ledger_b)):
        executor.submit(ledger.close).result()
        executor.shutdown()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with postgres_server() as pg:
        results = asyncio.run(_rounds(pg.create_database(), args.rounds))
    commits, known = [c for c, _ in results], [k for _, k in results]
    p50c, p50k = statistics.median(commits), statistics.median(known)
    print(f"{len(results)} new best networks committed by A")
    print(f"A's commit (baseline): p50 {p50c * 1e3:.2f} ms, max {max(commits) * 1e3:.2f} ms")
    print(f"known to B (commit + NOTIFY + read): p50 {p50k * 1e3:.2f} ms, max {max(known) * 1e3:.2f} ms")
    verdict = 'met' if max(known) < 1.0 else 'NOT met'
    print(f"B over A's commit (p50): {p50k / p50c:.2f}x; goal max < 1000 ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
