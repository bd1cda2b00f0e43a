"""Pool scaling in one run: Dask verifiers, ledger writes on PostgreSQL and SQLite, two front-ends' pushes.

Real parts only: a throw-away PostgreSQL (``tests/postgres.py``; here with ``fsync`` on, PostgreSQL's
default, so a commit waits for the disk as SQLite's ``synchronous=FULL`` does), ``dask scheduler`` /
``dask worker --nthreads 1`` processes (``benchmarks/verifier.py``), ``neuraxon-miner workserver``
processes and loopback WebSocket miners (``benchmarks/workserver_load.py``'s client processes).

* (a) verification — verifications/s of the default Neuraxon task through the fair scheduler on a
  Dask cluster with 1 and with 2 worker processes; ratio 2/1 (goal >= 1.8x on 2 free cores). Its
  baseline in the same run: the single server's own pool of 1 and 2 worker processes, i.e. what two
  processes of this machine reach at all (``local_pool_2_over_1_ratio``), and Dask's ratio over it.
* (b) ledger — accepted solutions recorded through ``Ledger.record_accepted`` (what a submit commits:
  the row, the worker's and the account's counters, one transaction each): inserts/s on SQLite (one
  writer, the single server) and on PostgreSQL with 1 and 2 writers (two front-ends); ratios. And
  the pool-wide verification turns (``protocol/server/turns.py``): leases taken and released per
  second by 1 and 2 front-ends (each verification of a pool takes one).
* (c) pushes — 2 front-ends on that PostgreSQL and a 1-worker Dask cluster, N miners on each; an
  admin call moves both front-ends' epoch at once, which changes every miner's job; job-push latency
  p50/p99 per front-end from the call to each miner's receipt (goal p99 < 50 ms): when the frame
  reached the miner's socket (kernel receive time), and, as ``push_read``, when the client process
  read it, which adds the load generator's own wait for a core (see ``workserver_load.Arrivals``).
  The miners' client processes run at nice 19 (``--client-nice``, see ``workserver_load.CLIENT_NICE``),
  the Dask worker at the server's default ``--verify-nice``; the front-ends run a full garbage
  collection every 2 s (``--full-gc-seconds 2``, 60 by default) so that several fall into the rounds;
  the rounds start once the machine is quiet (the Dask worker warms its scorers after it starts).

Progress goes to stderr; the summary block (one ``name: value`` line per figure, quoted by
``docs/scaling.md``) to stdout. On a shared machine the figures are noisy; pinned to one core
(``taskset -c 0``) the Dask ratio cannot exceed ~1x — the lead measures on a quiet 2-core machine.

    .venv/bin/python benchmarks/pool_scale.py [--quick] [--walks 200] [--inserts 2000] [--connections 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.verifier import measure, start_dask, wait_for_workers  # noqa: E402 - after the path set-up
from benchmarks.workserver_load import (  # noqa: E402
    ADMIN,
    CLIENT_NICE,
    collect_arrivals,
    latencies,
    move_epochs,
    observer_main,
    pct,
    raise_open_file_limit,
    start_server,
    until_quiet,
)
from protocol.server.config import ServerConfig  # noqa: E402
from protocol.server.database import parse_database  # noqa: E402
from protocol.server.ledger import AcceptedRecord, Ledger  # noqa: E402
from protocol.server.turns import SharedTurns  # noqa: E402
from tests.postgres import PASSWORD, PostgresServer, postgres_server  # noqa: E402


def progress(message: str) -> None:
    print(f"[pool_scale] {message}", file=sys.stderr, flush=True)


# -- (a) verification on Dask ---------------------------------------------------------------------


def verification_rates(tmp: Path, walks: int) -> dict[int | str, float]:
    """Verifications/s on a Dask cluster of 1 and of 2 one-thread worker processes (keys 1, 2), and, as
    the baseline of the ratio in the same run, through the single server's own pool of 1 and 2 worker
    processes (keys ``local_1``, ``local_2``): what two processes of this machine reach at all."""
    from protocol.server.dask_verify import DaskVerificationPool
    from protocol.server.verify import VerificationPool

    rates: dict[int | str, float] = {}
    for workers in (1, 2):
        progress(f"(a) baseline, the server's own pool with {workers} worker process(es): {walks} verifications")
        rates[f"local_{workers}"] = asyncio.run(measure(VerificationPool(workers, mode="process", nice=0), walks))
        progress(f"(a) baseline {workers}: {rates[f'local_{workers}']:.2f} verifications/s")
    for workers in (1, 2):
        progress(f"(a) dask cluster with {workers} worker process(es): {walks} verifications")
        address, procs = start_dask(tmp, workers)
        try:
            asyncio.run(wait_for_workers(address, workers))
            pool: Any = DaskVerificationPool(address)
            rates[workers] = asyncio.run(measure(pool, walks))
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                proc.wait(30)
        progress(f"(a) {workers} worker(s): {rates[workers]:.2f} verifications/s")
    return rates


# -- (b) ledger writes ----------------------------------------------------------------------------


def _record(ledger: Ledger, writer: int, count: int) -> None:
    for i in range(count):
        # Many accounts and workers, as a pool has: the counters' upserts touch different rows.
        n = writer * 10_000_000 + i
        ledger.record_accepted(AcceptedRecord("solution", "task", f"ID{n % 997}", f"{n:064x}", 500 + n % 100,
                                              f"job.{n}", 1, 400, None, None, f"acct{n % 997}", f"w{n % 4}"))


def inserts_per_second(target: Any, writers: int, count: int) -> float:
    """Accepted solutions/s committed by ``writers`` ledgers (threads, each its own connection)."""
    ledgers = [Ledger(target) for _ in range(writers)]
    _record(ledgers[0], 99, 20)  # warm-up rows (another writer number: no key collides)
    with ThreadPoolExecutor(writers) as pool:
        started = time.perf_counter()
        for done in [pool.submit(_record, ledger, w, count) for w, ledger in enumerate(ledgers)]:
            done.result()
        elapsed = time.perf_counter() - started
    for ledger in ledgers:
        ledger.close()
    return writers * count / elapsed


async def _lease_pairs(db: Any, front_ends: int, count: int) -> float:
    """Verification turns taken and given back per second (``SharedTurns``: two statements each) by
    ``front_ends`` front-ends at once, each cycling through many accounts."""
    turns = [SharedTurns(db, owner=f"bench-{k}", max_per_account=32) for k in range(front_ends)]
    for t in turns:
        await t.start()

    async def cycle(t: SharedTurns, k: int) -> None:
        for i in range(count):
            await t.release(await t.acquire(f"acct{k}-{i % 997}"), ran=True)

    started = time.perf_counter()
    await asyncio.gather(*(cycle(t, k) for k, t in enumerate(turns)))
    elapsed = time.perf_counter() - started
    for t in turns:
        await t.aclose()
    return front_ends * count / elapsed


def ledger_rates(tmp: Path, pg: PostgresServer, count: int) -> dict[str, float]:
    rates = {}
    progress(f"(b) SQLite file, 1 writer: {count} accepted solutions")
    rates["sqlite"] = inserts_per_second(tmp / "ledger.sqlite", 1, count)
    for writers in (1, 2):
        progress(f"(b) PostgreSQL, {writers} writer(s): {count} accepted solutions each")
        rates[f"postgresql_{writers}"] = inserts_per_second(
            parse_database(pg.create_database(), password=PASSWORD), writers, count)
    for front_ends in (1, 2):
        progress(f"(b) verification leases, {front_ends} front-end(s): {count} taken and released each")
        rates[f"leases_{front_ends}"] = asyncio.run(_lease_pairs(
            parse_database(pg.create_database(), password=PASSWORD), front_ends, count))
    for name, rate in rates.items():
        progress(f"(b) {name}: {rate:.0f} per s")
    return rates


# -- (c) two front-ends' pushes -------------------------------------------------------------------


async def _move_both(bases: list[str], rounds: int, interval: float) -> list[dict[int, float]]:
    async with aiohttp.ClientSession() as http:
        for base in bases:  # one unmeasured change first: every connection has its job and is warm
            await move_epochs(http, base, range(2, 3), 0.0)
        await asyncio.sleep(interval)
        waited, busy = await until_quiet()
        progress(f"(c) measuring after {waited:.1f} s, when the machine was {100 * busy:.0f} % busy")
        return list(await asyncio.gather(*(move_epochs(http, base, range(3, 3 + rounds), interval)
                                           for base in bases)))


def push_latencies(tmp: Path, pg: PostgresServer, connections: int, rounds: int, interval: float,
                   client_processes: int, client_nice: int = CLIENT_NICE) -> list[tuple[list[float], list[float]]]:
    """Per front-end, the job-push latencies (seconds) of all its miners over all rounds: (at the
    miners' sockets, as read by the client processes); see ``workserver_load.Arrivals``."""
    raise_open_file_limit(2 * 2 * connections + 512)
    url = pg.create_database()
    # The verification worker at the niceness a single server gives its verification pool by default
    # (``--verify-nice``): its housekeeping waits while a front-end pushes, as the server's own pool does.
    address, dask_procs = start_dask(tmp, 1, nice=ServerConfig().verify_nice)
    servers: list[Any] = []
    pipes: list[list[Any]] = []
    children = []
    ctx = multiprocessing.get_context("spawn")
    try:
        asyncio.run(wait_for_workers(address, 1))
        for name in ("a", "b"):
            servers.append(start_server([
                "--db", url, "--db-password-file", str(pg.password_file), "--verifier", address,
                "--threshold", "0", "--no-training", "--no-vardiff", "--rate", "10000", "--burst", "10000",
                "--job-interval", "3600", "--admin-token", ADMIN, "--max-connections-per-address", "0",
                # a full collection every 2 s instead of the default 60: several fall into the measured
                # rounds, so their cost shows where the server puts them (between pushes)
                "--full-gc-seconds", "2",
                "--log-level", "warning", "--log-format", "json"],
                stderr=(tmp / f"front-end-{name}.log").open("w")))
            progress(f"(c) front-end {name} up at {servers[-1][1]}")
        started = time.perf_counter()
        step = -(-connections // client_processes)
        for k, (_, ws_url, _) in enumerate(servers):
            mine = []
            for c in range(client_processes):
                lo = k * connections + c * step
                hi = min(k * connections + connections, lo + step)
                pipe, theirs = ctx.Pipe()
                child = ctx.Process(target=observer_main, args=(ws_url, lo, hi, theirs, client_nice), daemon=True)
                child.start()
                mine.append(pipe)
                children.append(child)
            pipes.append(mine)
        for pipe in (p for group in pipes for p in group):
            assert pipe.recv() == "ready"
        progress(f"(c) {2 * connections} miners logged in within {time.perf_counter() - started:.1f} s; "
                 f"{rounds} job changes on both front-ends")
        sent = asyncio.run(_move_both([s[2] for s in servers], rounds, interval))
        out = []
        for group, sent_at in zip(pipes, sent, strict=True):
            arrivals = collect_arrivals(group)
            out.append((latencies(arrivals.socket, sent_at, connections),
                        latencies(arrivals.app, sent_at, connections)))
        return out
    finally:
        for child in children:
            child.join(10)
        for proc, _, _ in servers:
            proc.terminate()
            proc.wait(30)
        for proc in reversed(dask_procs):
            proc.terminate()
        for proc in dask_procs:
            proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a short run that proves the set-up: 12 walks, 300 inserts, 250 miners, 5 rounds")
    parser.add_argument("--walks", type=int, help="verifications per Dask configuration (default 200)")
    parser.add_argument("--inserts", type=int, help="accepted solutions per writer (default 2000)")
    parser.add_argument("--connections", type=int, help="miners per front-end (default 1000)")
    parser.add_argument("--rounds", type=int, help="job changes (default 20)")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between job changes")
    parser.add_argument("--client-processes", type=int, default=1, help="miner client processes per front-end")
    parser.add_argument("--client-nice", type=int, default=CLIENT_NICE,
                        help=f"niceness of the miner client processes (default {CLIENT_NICE}: see "
                             "workserver_load.CLIENT_NICE)")
    parser.add_argument("--skip", action="append", default=[], choices=("verify", "ledger", "push"),
                        help="leave a part out (repeatable)")
    args = parser.parse_args(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: the summary only
    quick = args.quick
    walks = args.walks or (12 if quick else 200)
    inserts = args.inserts or (300 if quick else 2000)
    connections = args.connections or (250 if quick else 1000)
    rounds = args.rounds or (5 if quick else 20)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 1
    progress(f"machine: {os.cpu_count()} CPUs, this run may use {affinity}")
    figures: list[tuple[str, str]] = [("cpus_usable", str(affinity))]
    with tempfile.TemporaryDirectory() as tmp_name, postgres_server(durable=True) as pg:
        tmp = Path(tmp_name)
        if "verify" not in args.skip:
            rates = verification_rates(tmp, walks)
            dask_ratio, local_ratio = rates[2] / rates[1], rates["local_2"] / rates["local_1"]
            figures += [("dask_1_worker_verifications_per_s", f"{rates[1]:.2f}"),
                        ("dask_2_workers_verifications_per_s", f"{rates[2]:.2f}"),
                        ("dask_2_over_1_ratio", f"{dask_ratio:.2f}"),
                        ("local_pool_2_over_1_ratio", f"{local_ratio:.2f}"),
                        ("dask_ratio_over_local_ratio", f"{dask_ratio / local_ratio:.2f}")]
        if "ledger" not in args.skip:
            ledger = ledger_rates(tmp, pg, inserts)
            figures += [("sqlite_inserts_per_s", f"{ledger['sqlite']:.0f}"),
                        ("postgresql_1_writer_inserts_per_s", f"{ledger['postgresql_1']:.0f}"),
                        ("postgresql_2_writers_inserts_per_s", f"{ledger['postgresql_2']:.0f}"),
                        ("postgresql_1_writer_over_sqlite_ratio", f"{ledger['postgresql_1'] / ledger['sqlite']:.2f}"),
                        ("postgresql_2_over_1_writer_ratio", f"{ledger['postgresql_2'] / ledger['postgresql_1']:.2f}"),
                        ("leases_1_front_end_per_s", f"{ledger['leases_1']:.0f}"),
                        ("leases_2_front_ends_per_s", f"{ledger['leases_2']:.0f}")]
        if "push" not in args.skip:
            lat = push_latencies(tmp, pg, connections, rounds, args.interval, args.client_processes, args.client_nice)
            figures.append(("miners_per_front_end", str(connections)))
            for name, (values, read) in zip("ab", lat, strict=True):
                figures += [(f"front_end_{name}_push_p50_ms", f"{1000 * pct(values, 0.5):.1f}"),
                            (f"front_end_{name}_push_p99_ms", f"{1000 * pct(values, 0.99):.1f}"),
                            (f"front_end_{name}_push_read_p99_ms", f"{1000 * pct(read, 0.99):.1f}")]
            worst = max(pct(values, 0.99) for values, _ in lat)
            figures += [("push_p99_worst_ms", f"{1000 * worst:.1f}"),
                        ("push_p99_goal_50ms", "met" if worst < 0.050 else "missed")]
    print("== pool_scale summary ==")
    for name, value in figures:
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
