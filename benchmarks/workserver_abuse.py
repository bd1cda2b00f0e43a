"""Abuse benchmark of the work server: honest miners with and without an attack, one run.

Starts ``neuraxon-miner workserver`` as its own process (default Neuraxon task, real verification in
one worker process, logs at info level into a file) and runs two phases of the same length:

* **A, baseline** — ``--honest`` (200) WebSocket miners from 127.0.0.1 submit real solutions
  (computed before the phase; Poisson arrivals, ``--rate`` per second in total, the same arrival times
  in both phases), and a login probe opens a fresh connection and logs in every ``--probe-interval``
  seconds;
* **B, attack** — the same, while another process attacks: one account with ``--hostile-connections``
  (20) connections from 127.0.0.2 flooding wrong score claims (valid-looking nonces in its prefix,
  claimed 10^6), ``--idle`` (1,000) idle TCP sockets from 127.0.0.4-7 (re-opened whenever the server
  drops one), and a frame flood from 127.0.0.3 (a logged-in connection sending messages as fast as it
  can, reconnecting when closed). Every attacker retries when refused.

It prints, for the honest miners, verdict latency (submit sent -> ack received) p50/p99 and login
latency (connect -> first job) p99 of both phases and their ratio, SERVER_BUSY answers, when the
attacking account was banned (from the server's ``/metrics``), and the size of the server's log. Goals
(issue 13): verdict p99 under attack <= 2x the baseline; no honest SERVER_BUSY; login p99 < 100 ms;
the attacker banned within a few seconds; log volume < 1 MB for the whole run.

    .venv/bin/python benchmarks/workserver_abuse.py [--honest 200] [--phase-seconds 45] [--rate 2] [--series]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import socket
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workserver_load import (  # noqa: E402 - a sibling script, importable once run from benchmarks/
    cpu_seconds,
    login_frame,
    ms,
    pct,
    raise_open_file_limit,
    solve,
    start_server,
)

from protocol import ErrorCode, StratumAck, StratumJob, StratumStats, decode, encode  # noqa: E402

HOSTILE_INDEX = 10_000_000  # wallet index of the attacking account
PROBE_BASE = 20_000_000  # wallet indices of the login probes


# -- honest miners (this process) --------------------------------------------------------------------


class Honest:
    """A miner that submits when told and records each verdict's latency."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, job: StratumJob) -> None:
        self.ws = ws
        self.job = job
        self.waiting: dict[str, tuple[float, asyncio.Future[tuple[float, StratumAck]]]] = {}

    async def read(self) -> None:
        async for msg in self.ws:
            now = time.perf_counter()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                return
            message = decode(msg.data)
            if isinstance(message, StratumJob):
                self.job = message
            elif isinstance(message, StratumAck) and message.nonce in self.waiting:
                sent, future = self.waiting.pop(message.nonce)
                future.set_result((now - sent, message))

    async def submit(self, nonce: str, score: int) -> tuple[float, StratumAck]:
        future: asyncio.Future[tuple[float, StratumAck]] = asyncio.get_running_loop().create_future()
        self.waiting[nonce] = (time.perf_counter(), future)
        await self.ws.send_str(encode(self.job.submit(nonce, score)))
        return await asyncio.wait_for(future, 60)


async def connect_and_login(http: aiohttp.ClientSession, ws_url: str, index: int) -> tuple[Any, StratumJob, float]:
    """Open a WebSocket, log in as wallet ``index``; (socket, first job, seconds from connect to job)."""
    started = time.perf_counter()
    ws = await http.ws_connect(ws_url, autoping=True)
    await ws.send_str(login_frame(index))
    while True:
        msg = await ws.receive(timeout=30)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"login {index}: {msg.type.name}")
        message = decode(msg.data)
        if isinstance(message, StratumJob):
            return ws, message, time.perf_counter() - started


async def probe_logins(http: aiohttp.ClientSession, ws_url: str, stop: asyncio.Event, interval: float,
                       first: int) -> list[float]:
    """Log in with a fresh connection (and wallet) every ``interval`` seconds until ``stop``."""
    out = []
    index = first
    while not stop.is_set():
        ws, _, seconds = await connect_and_login(http, ws_url, index)
        out.append(seconds)
        await ws.close()
        index += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return out


async def run_phase(miners: list[Honest], plan: list[tuple[float, int, str, int]],
                    http: aiohttp.ClientSession, ws_url: str, probe_interval: float,
                    probe_first: int, series: bool = False) -> tuple[list[float], dict[str, int], list[float]]:
    """Submit ``plan`` = [(offset seconds, miner, nonce, score)] on time; (latencies, verdicts, logins)."""
    stop = asyncio.Event()
    probe = asyncio.get_running_loop().create_task(probe_logins(http, ws_url, stop, probe_interval, probe_first))
    start = time.perf_counter()

    async def one(offset: float, miner: int, nonce: str, score: int) -> tuple[float, StratumAck]:
        await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
        return await miners[miner].submit(nonce, score)

    results = await asyncio.gather(*(one(*step) for step in plan))
    if series:
        print("(arrival s, verdict ms):", [(round(step[0], 1), round(1000 * r[0])) for step, r in zip(plan, results,
                                                                                                 strict=True)])
    stop.set()
    logins = await probe
    verdicts: dict[str, int] = {}
    for _, ack in results:
        name = "accepted" if ack.success else ErrorCode(ack.code).name
        verdicts[name] = verdicts.get(name, 0) + 1
    return [lat for lat, _ in results], verdicts, logins


# -- the attacker (its own process) -------------------------------------------------------------------


async def _wrong_claims(ws_url: str, stop: asyncio.Event, source: str, counts: dict[str, int]) -> None:
    """One connection of the hostile account: wrong claims, ten a second; reconnects when closed or refused."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        while not stop.is_set():
            try:
                ws, job, _ = await connect_and_login(http, ws_url, HOSTILE_INDEX)
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                counts["refused"] += 1
                await asyncio.sleep(0.1)
                continue
            space = job.nonce_space()
            counter = random.getrandbits(40)
            reader = asyncio.get_running_loop().create_task(_drain(ws, counts))
            try:
                while not stop.is_set() and not ws.closed:
                    await ws.send_str(encode(job.submit(space.nonce(counter), 10**6)))
                    counts["claims"] += 1
                    counter += 1
                    await asyncio.sleep(0.1)
            except (ConnectionError, RuntimeError):
                pass
            await reader
            await ws.close()


async def _drain(ws: aiohttp.ClientWebSocketResponse, counts: dict[str, int]) -> None:
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT:
            message = decode(msg.data)
            if isinstance(message, StratumAck) and message.code == ErrorCode.UNAUTHORIZED:
                counts["banned_acks"] += 1


async def _frame_flood(ws_url: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    frame = encode(StratumStats(it_per_sec=1.0, threads=1, solutions=0))
    async with aiohttp.ClientSession(connector=connector) as http:
        index = HOSTILE_INDEX + 1
        while not stop.is_set():
            try:
                ws, _, _ = await connect_and_login(http, ws_url, index)
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                counts["flood_refused"] += 1
                await asyncio.sleep(0.05)
                continue
            index += 1
            try:
                while not stop.is_set() and not ws.closed:
                    await ws.send_str(frame)
                    counts["flood_frames"] += 1
                    if counts["flood_frames"] % 256 == 0:
                        await asyncio.sleep(0)
            except (ConnectionError, RuntimeError):
                pass
            await ws.close()


async def _idle_sockets(host: str, port: int, stop: asyncio.Event, count: int, counts: dict[str, int]) -> None:
    """Keep ``count`` TCP connections open that never send a byte (re-opened when the server drops one)."""
    loop = asyncio.get_running_loop()

    async def hold(i: int) -> None:
        source = f"127.0.0.{4 + i % 4}"
        while not stop.is_set():
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.bind((source, 0))
                await loop.sock_connect(sock, (host, port))
                counts["idle_opened"] += 1
                while not stop.is_set():  # until the server closes it
                    if not await loop.sock_recv(sock, 1024):
                        break
            except OSError:
                await asyncio.sleep(0.2)
            finally:
                sock.close()

    await asyncio.gather(*(hold(i) for i in range(count)))


async def _attack(ws_url: str, connections: int, idle: int, pipe: Connection) -> None:
    counts: dict[str, int] = dict.fromkeys(("claims", "refused", "banned_acks", "flood_frames", "flood_refused",
                                            "idle_opened"), 0)
    stop = asyncio.Event()
    host, port = "127.0.0.1", urllib.parse.urlsplit(ws_url).port or 80
    tasks = [asyncio.get_running_loop().create_task(c) for c in (
        *(_wrong_claims(ws_url, stop, "127.0.0.2", counts) for _ in range(connections)),
        _frame_flood(ws_url, stop, counts), _idle_sockets(host, port, stop, idle, counts))]
    pipe.send(("started", time.monotonic()))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop"
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    pipe.send(counts)


def attacker_main(ws_url: str, connections: int, idle: int, pipe: Connection) -> None:
    """Entry of the attacker process."""
    raise_open_file_limit(2 * idle + 1024)
    asyncio.run(_attack(ws_url, connections, idle, pipe))


# -- the run ---------------------------------------------------------------------------------------------


def make_plan(rng: random.Random, miners: int, rate: float, seconds: float) -> list[tuple[float, int]]:
    """Poisson arrivals at ``rate`` per second over ``seconds``: (offset, miner)."""
    plan, t = [], rng.expovariate(rate)
    while t < seconds:
        plan.append((t, rng.randrange(miners)))
        t += rng.expovariate(rate)
    return plan


async def verification(http: aiohttp.ClientSession, base: str) -> tuple[float, float]:
    """(verifications done, their total compute seconds) so far, from the server's /metrics."""
    return (await metric(http, base, "workserver_verification_seconds_count"),
            await metric(http, base, "workserver_verification_seconds_sum"))


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float:
    async with http.get(base + "/metrics") as resp:
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def watch_ban(http: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> float | None:
    """Monotonic time at which the server first counted a wrong-claims ban."""
    while not stop.is_set():
        if await metric(http, base, 'workserver_bans_total{reason="wrong_claims"}') > 0:
            return time.monotonic()
        await asyncio.sleep(0.05)
    return None


async def run(args: argparse.Namespace) -> int:
    limit = raise_open_file_limit(4 * args.honest + 1024)
    rng = random.Random(args.seed)
    ctx = multiprocessing.get_context("spawn")
    print(f"open-file limit {limit}; {args.honest} honest miners, {args.rate:g} real solutions/s in total, "
          f"{args.phase_seconds:g} s per phase; attack: {args.hostile_connections} connections of one account "
          f"flooding wrong claims, {args.idle} idle sockets, one frame flood")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("w") as log:
            proc, ws_url, base = start_server([
                "--db", str(Path(tmp) / "ledger.sqlite"), "--threshold", "0", "--no-training", "--no-vardiff",
                "--job-interval", "3600", "--calibration-walks", "0", "--verify-workers", str(args.verify_workers),
                "--verify-mode", "process", "--verify-nice", str(args.verify_nice), "--log-level", "info",
                "--log-format", "json"], stderr=log)
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                logged = [await connect_and_login(http, ws_url, i) for i in range(args.honest)]
                miners = [Honest(ws, job) for ws, job, _ in logged]
                readers = [asyncio.get_running_loop().create_task(m.read()) for m in miners]
                # The same arrivals in both phases (other nonces): a burst of Poisson arrivals queues for
                # verification by itself, and the comparison must show the attack, not the dice.
                plan = make_plan(rng, args.honest, args.rate, args.phase_seconds)
                plans = [plan, plan]
                counters = [0] * args.honest
                steps: list[list[tuple[float, int, str]]] = [[], []]
                for phase, plan in enumerate(plans):
                    for offset, m in plan:
                        steps[phase].append((offset, m, miners[m].job.nonce_space().nonce(counters[m])))
                        counters[m] += 1
                started = time.perf_counter()
                with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
                    by_identity: dict[str, list[str]] = {}
                    for step in steps[0] + steps[1]:
                        by_identity.setdefault(miners[step[1]].job.identity, []).append(step[2])
                    futures = {ident: pool.submit(solve, ident, nonces) for ident, nonces in by_identity.items()}
                    scores = {n: s for f in futures.values() for n, s in f.result()}
                print(f"{sum(len(p) for p in plans)} real solutions computed in {time.perf_counter() - started:.0f} s "
                      "(not measured)")
                full = [[(o, m, n, scores[n]) for o, m, n in phase] for phase in steps]
                roots = [os.getpid()]
                c0, s0, v0 = cpu_seconds(roots), cpu_seconds([proc.pid]), await verification(http, base)
                w0 = time.perf_counter()
                base_lat, base_verdicts, base_logins = await run_phase(miners, full[0], http, ws_url,
                                                                       args.probe_interval, PROBE_BASE, args.series)
                c1, s1, v1 = cpu_seconds(roots), cpu_seconds([proc.pid]), await verification(http, base)
                w1 = time.perf_counter()
                mine, theirs = ctx.Pipe()
                attacker = ctx.Process(target=attacker_main, args=(ws_url, args.hostile_connections, args.idle, theirs),
                                       daemon=True)
                attacker.start()
                _, attack_started = mine.recv()
                stop_watch = asyncio.Event()
                watcher = asyncio.get_running_loop().create_task(watch_ban(http, base, stop_watch))
                await asyncio.sleep(args.attack_lead)
                c2, s2, v2 = cpu_seconds(roots), cpu_seconds([proc.pid]), await verification(http, base)
                w2 = time.perf_counter()
                load_lat, load_verdicts, load_logins = await run_phase(miners, full[1], http, ws_url,
                                                                       args.probe_interval, PROBE_BASE + 100_000,
                                                                       args.series)
                c3, s3, v3 = cpu_seconds(roots), cpu_seconds([proc.pid]), await verification(http, base)
                w3 = time.perf_counter()
                stop_watch.set()
                banned_at = await watcher
                mine.send("stop")
                attack_counts = mine.recv()
                attacker.join(10)
                refused = {r: await metric(http, base, f'workserver_refused_connections_total{{reason="{r}"}}')
                           for r in ("banned", "address_cap", "open_files")}
                flood_closes = await metric(http, base, "workserver_flood_closes_total")
                wrong_verified = await metric(http, base, 'workserver_submits_total{verdict="score_mismatch"}')
                timeouts = await metric(http, base, 'workserver_connection_timeouts_total{stage="handshake"}')
                for m in miners:
                    await m.ws.close()
                for r in readers:
                    r.cancel()
        finally:
            proc.terminate()
            proc.wait(30)
        log_bytes = log_path.stat().st_size
    print()
    print(f"{'honest miners':<34}{'verdict p50':>12}{'verdict p99':>12}{'login p99':>11}   submits  logins  verdicts")
    for name, lat, logins, verdicts in (("A: baseline", base_lat, base_logins, base_verdicts),
                                        ("B: under attack", load_lat, load_logins, load_verdicts)):
        print(f"{name:<34}{ms(pct(lat, 0.5))}  {ms(pct(lat, 0.99))} {ms(pct(logins, 0.99))}   {len(lat):7d} "
              f"{len(logins):7d}  {verdicts}")
    ratio50, ratio99 = pct(load_lat, 0.5) / pct(base_lat, 0.5), pct(load_lat, 0.99) / pct(base_lat, 0.99)
    print(f"{'ratio B/A':<34}{ratio50:11.2f}x{ratio99:11.2f}x{pct(load_logins, 0.99) / pct(base_logins, 0.99):10.2f}x")
    print()
    ban_delay = None if banned_at is None else banned_at - attack_started
    print(f"attack: {attack_counts}")
    print(f"server: wrong-claims ban {'never' if ban_delay is None else f'{ban_delay:.2f} s after the attack began'}; "
          f"{wrong_verified:.0f} wrong claims verified; refused connections {refused}; "
          f"flood closes {flood_closes:.0f}; handshake timeouts {timeouts:.0f}")
    print(f"server log for the whole run: {log_bytes / 1e6:.3f} MB")
    phases = (("A", c0, c1, s0, s1, v0, v1, w0, w1), ("B", c2, c3, s2, s3, v2, v3, w2, w3))
    for name, a0, a1, x0, x1, u0, u1, b0, b1 in phases:
        span = b1 - b0
        others = ((a1[0] - a0[0]) - (a1[1] - a0[1])) / span
        done, seconds = u1[0] - u0[0], u1[1] - u0[1]
        print(f"phase {name}: server {(x1[1] - x0[1]) / span:.2f} cores (verification included), clients and "
              f"attacker {((a1[1] - a0[1]) - (x1[1] - x0[1])) / span:.2f}, other processes on the machine "
              f"{max(others, 0.0):.2f} (of {os.cpu_count()}); {done / span:.1f} verifications/s, "
              f"{1000 * seconds / max(done, 1):.0f} ms each")
    busy = load_verdicts.get("SERVER_BUSY", 0) + base_verdicts.get("SERVER_BUSY", 0)
    goals = [
        ("honest verdict p99 under attack <= 2x baseline", ratio99 <= 2.0, f"{ratio99:.2f}x"),
        ("no honest SERVER_BUSY", busy == 0, f"{busy}"),
        ("login p99 < 100 ms (both phases)", max(pct(base_logins, 0.99), pct(load_logins, 0.99)) < 0.1,
         f"{1000 * max(pct(base_logins, 0.99), pct(load_logins, 0.99)):.1f} ms"),
        ("attacker banned within a few seconds (< 5 s)", ban_delay is not None and ban_delay < 5.0,
         "never" if ban_delay is None else f"{ban_delay:.2f} s"),
        ("server log < 1 MB", log_bytes < 1_000_000, f"{log_bytes / 1e6:.3f} MB"),
    ]
    print()
    for name, ok, value in goals:
        print(f"{'MET   ' if ok else 'MISSED'} {name}: {value}")
    return 0 if all(ok for _, ok, _ in goals) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--honest", type=int, default=200)
    parser.add_argument("--phase-seconds", type=float, default=45.0,
                        help="length of each phase (default 45: about 90 honest verdicts, so p99 is not one max)")
    parser.add_argument("--rate", type=float, default=2.0,
                        help="honest solutions per second, all miners together (default 2: about a fifth of one "
                             "verification worker on a quiet machine, so the baseline does not queue)")
    parser.add_argument("--probe-interval", type=float, default=0.1, help="seconds between login probes")
    parser.add_argument("--hostile-connections", type=int, default=20)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--attack-lead", type=float, default=1.0, help="seconds of attack before phase B's submits")
    parser.add_argument("--verify-workers", type=int, default=1)
    parser.add_argument("--verify-nice", type=int, default=0,
                        help="nice increment of verification (default 0 here: on a shared machine other processes "
                             "would starve a niced verifier, and both phases must see the same verification speed)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--series", action="store_true", help="print every honest verdict latency by arrival time")
    args: Any = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
