"""Two ``neuraxon-miner workserver`` front-ends (processes of their own, ephemeral ports) on one real
PostgreSQL: nonce prefixes from one sequence, a solution credited once whichever front-end gets it, a
new best network found through one front-end pushed to the miners of the other (LISTEN/NOTIFY), and
the ledger report the same on PostgreSQL and SQLite. Events only: no timing is asserted (the
announcement's latency is measured by ``benchmarks/pool_notify.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from protocol import ErrorCode, StratumAck, StratumJob, StratumLogin
from protocol.server.database import parse_database
from protocol.server.ledger import AcceptedRecord, Ledger
from tests.postgres import PASSWORD, PostgresServer
from tests.protocol.server.helpers import (
    SMALL_TASK_PATH,
    Miner,
    run,
    start_cli_server,
    stop_processes,
    submit_a_solution,
    wallet,
)

THRESHOLD = 200  # about one walk in three on the small task: solutions come quickly


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "miner", *args], capture_output=True, text=True, timeout=120)


def _front_end_args(url: str, postgres: PostgresServer) -> list[str]:
    return ["--db", url, "--db-password-file", str(postgres.password_file), "--task", str(SMALL_TASK_PATH),
            "--threshold", str(THRESHOLD), "--no-vardiff", "--parent-refresh", "0", "--parent-bar-walks", "0",
            "--calibration-walks", "0", "--rate", "10000", "--burst", "10000", "--verify-workers", "1"]


@pytest.fixture
def front_ends(postgres: PostgresServer, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A fresh database and two front-ends on it: ``(database URL, [ws URL of A, ws URL of B])``."""
    url = postgres.create_database()
    procs: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for name in ("a", "b"):
            proc, ws_url, _ = start_cli_server(_front_end_args(url, postgres), tmp_path / f"front-end-{name}.log")
            procs.append(proc)
            urls.append(ws_url)
        yield url, urls
    finally:
        stop_processes(procs)


def _payouts(url: str, password_file: Path) -> dict[str, tuple[int, int]]:
    done = _cli("ledger", "--db", url, "--db-password-file", str(password_file), "--json")
    assert done.returncode == 0, done.stderr
    return {row["account"]: (row["solutions"], row["shares"]) for row in json.loads(done.stdout)["accounts"]}


def test_two_front_ends_never_hand_out_the_same_nonce_prefix(front_ends: tuple[str, list[str]]) -> None:
    _, (a, b) = front_ends

    async def body() -> list[str]:
        prefixes = []
        for i in range(6):
            async with Miner.connect(a if i % 2 else b, f"m{i}") as miner:
                job = await miner.login(wallet=wallet(f"w{i}"))
                prefixes.append(job.nonce_prefix)
        return prefixes

    prefixes = run(body())
    assert len(set(prefixes)) == len(prefixes) == 6, prefixes


def test_a_solution_sent_to_both_front_ends_is_credited_once(front_ends: tuple[str, list[str]],
                                                            postgres: PostgresServer) -> None:
    url, (a, b) = front_ends
    account = wallet("failover")

    async def body() -> StratumAck:
        async with Miner.connect(a, "on-a") as on_a:
            job = await on_a.login(wallet=account)
            nonce, score, _ = await submit_a_solution(on_a, job)
        async with Miner.connect(b, "on-b") as on_b:  # the miner fails over and sends it again
            await on_b.login(wallet=account)
            await on_b.send(job.submit(nonce, score))
            return await on_b.expect(StratumAck)

    again = run(body())
    assert not again.success and again.code == ErrorCode.DUPLICATE, again
    assert _payouts(url, postgres.password_file) == {account: (1, 0)}


def test_a_best_network_found_through_one_front_end_reaches_the_miners_of_the_other(
        front_ends: tuple[str, list[str]]) -> None:
    _, (a, b) = front_ends

    async def body() -> None:
        async with Miner.connect(b, "on-b") as on_b, Miner.connect(a, "on-a") as on_a:
            root_job = await on_b.login(wallet=wallet("b"))
            assert root_job.parent is None
            job = await on_a.login(wallet=wallet("a"))
            _, score, _ = await submit_a_solution(on_a, job)
            pushed = await on_b.expect(StratumJob, timeout=60)  # a failure guard, not a timing assertion
            assert pushed.parent is not None and pushed.parent.score == score, pushed

    run(body())


async def _refused_at_login(ws_url: str, account: str) -> StratumAck:
    """The answer to ``account``'s login at ``ws_url`` (from 127.0.0.1), which must not be a job."""
    async with Miner.connect(ws_url, "elsewhere") as miner:
        await miner.send(StratumLogin(wallet=account, worker="elsewhere", os="test", version="0", threads=1))
        answer = await miner.recv()
        assert isinstance(answer, StratumAck), answer
        return answer


def test_a_ban_issued_by_one_front_end_holds_on_every_front_end(front_ends: tuple[str, list[str]],
                                                                postgres: PostgresServer, tmp_path: Path) -> None:
    # Wrong claims through front-end A ban the account and its address; B, told through the database,
    # closes the account's connection to it and refuses both; a front-end started later loads the ban.
    url, (a, b) = front_ends
    cheat = wallet("cheat")

    async def body() -> None:
        async with Miner.connect(b, "cheat-b", source="127.0.0.2") as on_b, \
                Miner.connect(a, "cheat-a", source="127.0.0.2") as on_a, Miner.connect(b, "honest") as honest:
            await on_b.login(wallet=cheat)
            honest_job = await honest.login(wallet=wallet("honest"))
            job = await on_a.login(wallet=cheat)
            for k in range(5):  # the fifth wrong claim in a row bans
                await on_a.send(job.submit(job.nonce_space().nonce(k), 10**9))
                ack = await on_a.expect(StratumAck, timeout=60)
            assert ack.code == ErrorCode.UNAUTHORIZED and "wrong score claims" in ack.message, ack
            told = await on_b.expect(StratumAck, timeout=60)  # a failure guard, not a timing assertion
            assert told.code == ErrorCode.UNAUTHORIZED and "wrong score claims" in told.message, told
            assert await on_b.closed_with() == 1008
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # the address, at accept time
                async with Miner.connect(b, "again", source="127.0.0.2"):
                    pass
            assert refused.value.status == 403
            assert (await _refused_at_login(b, cheat)).code == ErrorCode.UNAUTHORIZED
            await submit_a_solution(honest, honest_job)  # accepted: everyone else is served as before
        late, c, _ = start_cli_server(_front_end_args(url, postgres), tmp_path / "front-end-c.log")
        try:
            answer = await _refused_at_login(c, cheat)
            assert answer.code == ErrorCode.UNAUTHORIZED and "wrong score claims" in answer.message, answer
        finally:
            stop_processes([late])

    run(body())


def test_the_ledger_report_is_the_same_on_both_databases(postgres: PostgresServer, tmp_path: Path) -> None:
    url, path = postgres.create_database(), tmp_path / "ledger.sqlite"
    records = [("acct-a", "solution", 150, 1_000.0), ("acct-a", "share", 90, 2_000.0), ("acct-b", "share", 80, 2_500.0),
               ("acct-b", "solution", 170, 3_000.0), ("acct-a", "solution", 160, 3_500.0), ("acct-c", "share", 70, 9e9)]
    for target in (parse_database(url, password=PASSWORD), parse_database(path)):
        ledger = Ledger(target)
        for i, (account, kind, score, at) in enumerate(records):
            rec = AcceptedRecord(kind, "task-one", "ID", f"{i:04x}", score, "job.1", 1, 100, None, None, account,
                                 "rig", at=at, front_end=f"fe-{i % 2}")
            solution = kind == "solution"
            ledger.record_accepted(rec, network=b"{}" if solution else None, network_id=f"n{i}" if solution else None)
        ledger.close()
    window = ["--since", "1970-01-01T00:10:00", "--until", "3600"]
    outputs = []
    for db in (["--db", url, "--db-password-file", str(postgres.password_file)], ["--db", f"sqlite:///{path}"]):
        table, as_json = _cli("ledger", *db, *window), _cli("ledger", *db, *window, "--json")
        assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
        outputs.append((table.stdout, as_json.stdout))
    assert outputs[0] == outputs[1]
    report = json.loads(outputs[0][1])
    assert report["accounts"] == [
        {"account": "acct-a", "solutions": 2, "shares": 1, "best": {"task-one": 150},
         "front_ends": {"fe-0": 2, "fe-1": 1}},
        {"account": "acct-b", "solutions": 1, "shares": 1, "best": {"task-one": 170},
         "front_ends": {"fe-0": 1, "fe-1": 1}},
    ]  # acct-c's share is outside the window; acct-a's 160 came after acct-b's 170, so it set no best
    assert "acct-a" in outputs[0][0] and "2 accounts, 3 solutions, 2 shares" in outputs[0][0]


@pytest.mark.parametrize(("db", "problem"), [
    ("postgresql://pool:hunter2@db.example/pool", "carries a password"),
    ("postgresql://pool@db.example/", "names no database"),
    ("mysql://pool@db/pool", "unknown scheme"),
    ("sqlite://relative.db", "sqlite:///"),
    ("postgresql://pool@db.example:99999/pool", "99999"),
])
def test_a_bad_database_url_is_exit_2_naming_the_problem(db: str, problem: str) -> None:
    for command in (["ledger", "--db", db], ["workserver", "--db", db, "--port", "0"]):
        done = _cli(*command)
        assert done.returncode == 2 and problem in done.stderr, (command, done.returncode, done.stderr[-500:])
