"""The ledger, on SQLite and on PostgreSQL: duplicates (per epoch), best network per task in the algorithm's
direction, restart state, front-ends sharing one database, payouts, the migration of schema-1 and schema-2
files (schema 2 on PostgreSQL too), and O(log n) statements for everything a client can cause."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from protocol.server.jobs import PREFIX_BLOCK, PrefixAllocator
from protocol.server.ledger import (
    CLIENT_STATEMENTS,
    SCHEMA_VERSION,
    SQL,
    UNRECORDED_FRONT_END,
    AcceptedRecord,
    AsyncLedger,
    BanRecord,
    DuplicateSubmissionError,
    Ledger,
)
from tests.protocol.server.conftest import LedgerTarget


def _rec(nonce: str, score: int, kind: str = "solution", task: str = "t1", identity: str = "ID",
         epoch: int = 1) -> AcceptedRecord:
    return AcceptedRecord(kind, task, identity, nonce, score, "job.1", epoch, 100, None, None, "acct", "w1", at=1000.0)


def test_a_restart_keeps_everything_committed(ledger_target: LedgerTarget) -> None:
    ledger = Ledger(ledger_target.db)
    assert ledger.record_accepted(_rec("aa", 120), network=b'{"n":1}', network_id="n1") == (1, True)
    assert ledger.record_accepted(_rec("bb", 110), network=b'{"n":2}', network_id="n2") == (2, False)  # worse
    assert ledger.record_accepted(_rec("cc", 130), network=b'{"n":3}', network_id="n3") == (3, True)
    assert ledger.record_accepted(_rec("dd", 50, kind="share"))[1] is False
    first = ledger.allocate_prefixes(256)
    ledger.save_calibration("t1", [5, 1, 3], 0.25)
    ledger.count_mismatch("acct", "w1")
    ledger.close()

    again = Ledger(ledger_target.db)
    state = again.load_state()
    assert state.best["t1"].network_id == "n3" and state.best["t1"].body == b'{"n":3}'
    assert [(p.score, p.network_id) for p in state.history["t1"]] == [(120, "n1"), (130, "n3")]
    assert state.counts["t1"] == (3, 1)
    assert state.calibration["t1"] == ([5, 1, 3], 0.25)
    assert again.allocate_prefixes(256) == first + 256  # never hands out a prefix twice
    (worker,) = again.workers()
    assert (worker.solutions, worker.shares, worker.mismatches) == (3, 1, 1)
    (account,) = again.top_accounts(20)
    assert (account.account, account.workers, account.solutions, account.shares, account.mismatches) == \
        ("acct", 1, 3, 1, 1)
    assert again.network("n2") is None and again.network("n1") == b'{"n":1}'
    assert again.is_duplicate("ID", "t1", 1, "aa") and not again.is_duplicate("ID", "t2", 1, "aa")
    again.close()
    if ledger_target.db.path is not None:
        with sqlite3.connect(ledger_target.db.path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_duplicates_are_refused_and_nothing_else_changes(ledger_target: LedgerTarget) -> None:
    ledger = Ledger(ledger_target.db)
    ledger.record_accepted(_rec("aa", 120))
    with pytest.raises(DuplicateSubmissionError):
        ledger.record_accepted(_rec("aa", 999, kind="share"))
    assert [r["score"] for r in ledger.accepted()] == [120]
    assert ledger.workers()[0].shares == 0
    ledger.record_accepted(_rec("aa", 120, identity="OTHER"))  # another identity may use the same nonce


def test_lower_is_better_for_bpp_style_tasks(ledger_target: LedgerTarget) -> None:
    ledger = Ledger(ledger_target.db)
    assert ledger.record_accepted(_rec("a", 3000), network=b"1", network_id="x1", higher_is_better=False)[1]
    assert not ledger.record_accepted(_rec("b", 3100), network=b"2", network_id="x2", higher_is_better=False)[1]
    assert ledger.record_accepted(_rec("c", 2900), network=b"3", network_id="x3", higher_is_better=False)[1]
    assert ledger.load_state().best["t1"].score == 2900


def test_a_result_belongs_to_its_epoch(ledger_target: LedgerTarget) -> None:
    ledger = Ledger(ledger_target.db)
    ledger.record_accepted(_rec("aa", 120, epoch=1))
    assert ledger.is_duplicate("ID", "t1", 1, "aa") and not ledger.is_duplicate("ID", "t1", 2, "aa")
    ledger.record_accepted(_rec("aa", 120, epoch=2))  # the same nonce is new work in the next epoch
    with pytest.raises(DuplicateSubmissionError):
        ledger.record_accepted(_rec("aa", 120, epoch=2))
    assert [(r["epoch"], r["nonce"]) for r in ledger.accepted()] == [(1, "aa"), (2, "aa")]


# The schema as release 1 created it (the duplicate key without the epoch, no job index).
_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accepted (id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('solution', 'share')),
    task_id TEXT NOT NULL, identity TEXT NOT NULL, nonce TEXT NOT NULL, score INTEGER NOT NULL, job_id TEXT NOT NULL,
    epoch INTEGER NOT NULL, threshold INTEGER NOT NULL, share_threshold INTEGER, parent_id TEXT, account TEXT NOT NULL,
    worker TEXT NOT NULL, network_id TEXT, at REAL NOT NULL, UNIQUE (identity, task_id, nonce));
CREATE INDEX accepted_by_task ON accepted (task_id, kind);
CREATE TABLE networks (network_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, score INTEGER NOT NULL, body BLOB NOT NULL,
    accepted_id INTEGER NOT NULL REFERENCES accepted (id), at REAL NOT NULL);
CREATE TABLE best (task_id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks (network_id),
    score INTEGER NOT NULL, at REAL NOT NULL);
CREATE TABLE best_history (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, network_id TEXT NOT NULL,
    score INTEGER NOT NULL, accepted_id INTEGER NOT NULL REFERENCES accepted (id), identity TEXT NOT NULL,
    worker TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX best_history_by_task ON best_history (task_id, id);
CREATE TABLE workers (account TEXT NOT NULL, worker TEXT NOT NULL, solutions INTEGER NOT NULL DEFAULT 0,
    shares INTEGER NOT NULL DEFAULT 0, mismatches INTEGER NOT NULL DEFAULT 0, first_seen REAL NOT NULL,
    last_seen REAL NOT NULL, PRIMARY KEY (account, worker));
CREATE TABLE calibration (task_id TEXT PRIMARY KEY, scores TEXT NOT NULL, seconds_per_walk REAL NOT NULL,
    at REAL NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1'), ('next_prefix', '513');
INSERT INTO accepted VALUES (1, 'solution', 't1', 'ID', 'aa', 120, 'abcdef.1', 1, 100, NULL, NULL, 'acct', 'w1', 'n1',
    1000.0), (2, 'share', 't1', 'ID', 'bb', 50, 'abcdef.2', 1, 100, 40, NULL, 'acct', 'w1', NULL, 1001.0);
INSERT INTO networks VALUES ('n1', 't1', 120, X'7B7D', 1, 1000.0);
INSERT INTO best VALUES ('t1', 'n1', 120, 1000.0);
INSERT INTO best_history VALUES (1, 't1', 'n1', 120, 1, 'ID', 'w1', 1000.0);
INSERT INTO workers VALUES ('acct', 'w1', 1, 1, 0, 1000.0, 1001.0);
"""


def test_an_operators_schema_1_ledger_opens_migrated_with_everything_kept(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as raw:
        raw.executescript(_SCHEMA_1)
    ledger = Ledger(path)
    state = ledger.load_state()
    assert state.best["t1"].network_id == "n1" and state.best["t1"].body == b"{}"
    assert [p.accepted_id for p in state.history["t1"]] == [1] and state.counts["t1"] == (1, 1)
    assert [(r["id"], r["nonce"], r["job_id"]) for r in ledger.accepted()] == [(1, "aa", "abcdef.1"),
                                                                              (2, "bb", "abcdef.2")]
    assert ledger.accepted_for_job("abcdef.2", "bb") and ledger.is_duplicate("ID", "t1", 1, "aa")
    assert ledger.allocate_prefixes(256) == 513
    (account,) = ledger.top_accounts(5)  # summed from the workers table
    assert (account.account, account.workers, account.solutions, account.shares) == ("acct", 1, 1, 1)
    ledger.record_accepted(_rec("aa", 120, epoch=2))  # the new key: another epoch is another result
    with pytest.raises(DuplicateSubmissionError):
        ledger.record_accepted(_rec("aa", 120, epoch=1))
    assert ledger.connection.execute("PRAGMA foreign_key_check").fetchall() == []
    ledger.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute(SQL.SCHEMA_VERSION).fetchone() == (str(SCHEMA_VERSION),)
        indexes = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"accepted_by_job", "accepted_by_task"} <= indexes
    Ledger(path).close()  # and it opens again as it is


# The schema as release 2 (issue 13) created it, with no `next_prefix` row yet (no login so far).
_SCHEMA_2 = (_SCHEMA_1.replace("UNIQUE (identity, task_id, nonce)", "UNIQUE (identity, task_id, epoch, nonce)")
             .replace("('schema_version', '1'), ('next_prefix', '513')", "('schema_version', '2')")
             + """CREATE INDEX accepted_by_job ON accepted (job_id, nonce);
CREATE TABLE accounts (account TEXT PRIMARY KEY, workers INTEGER NOT NULL DEFAULT 0, solutions INTEGER NOT NULL
    DEFAULT 0, shares INTEGER NOT NULL DEFAULT 0, mismatches INTEGER NOT NULL DEFAULT 0, results INTEGER NOT NULL
    DEFAULT 0, last_seen REAL NOT NULL);
CREATE INDEX accounts_by_results ON accounts (results DESC, account);
INSERT INTO accounts VALUES ('acct', 1, 1, 1, 0, 2, 1001.0);
""")


def test_a_schema_2_ledger_opens_with_its_rows_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as raw:
        raw.executescript(_SCHEMA_2)
    ledger = Ledger(f"sqlite:///{path}")
    state = ledger.load_state()
    assert state.best["t1"].network_id == "n1" and state.counts["t1"] == (1, 1)
    assert [r["nonce"] for r in ledger.accepted()] == ["aa", "bb"] and ledger.is_duplicate("ID", "t1", 1, "aa")
    assert ledger.allocate_prefixes(256) == 1  # the prefix counter starts as before
    assert ledger.record_accepted(_rec("cc", 130), network=b'{"n":3}', network_id="n3") == (3, True)
    assert [(r.account, r.solutions, r.shares) for r in ledger.payouts(0, 2000)] == [("acct", 2, 1)]
    ledger.close()


def test_a_schema_2_ledger_gains_the_front_end_column_on_either_database(ledger_target: LedgerTarget) -> None:
    """Schema 3 records which front-end accepted each result; a schema-2 ledger (made here by taking the
    column out of a new one) is migrated when it is opened, its rows kept with no front-end, and a
    second opening (another front-end starting) finds it migrated."""
    ledger = Ledger(ledger_target.db)
    ledger.record_accepted(_rec("aa", 120))
    ledger.connection.execute("ALTER TABLE accepted DROP COLUMN front_end")
    ledger.connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    ledger.close()
    first, second = Ledger(ledger_target.db), Ledger(ledger_target.db)
    first.record_accepted(replace(_rec("bb", 110), front_end="fe-1"))
    second.record_accepted(replace(_rec("cc", 100, kind="share"), front_end="fe-2"))
    assert [(r["nonce"], r["front_end"]) for r in second.accepted()] == [("aa", None), ("bb", "fe-1"), ("cc", "fe-2")]
    (payout,) = first.payouts(0, 2000)
    assert payout.front_ends == {UNRECORDED_FRONT_END: 1, "fe-1": 1, "fe-2": 1}
    assert first.connection.execute(SQL.SCHEMA_VERSION).fetchone()[0] == str(SCHEMA_VERSION)
    first.close()
    second.close()


def test_bans_are_kept_only_grow_and_a_schema_3_ledger_gains_their_table(ledger_target: LedgerTarget) -> None:
    """Schema 4 keeps bans (a restart and the pool's other front-ends honour them); a schema-3 ledger
    (made here by dropping the table from a new one) gains it when it is opened."""
    ledger = Ledger(ledger_target.db)
    ledger.connection.execute("DROP TABLE bans")
    ledger.connection.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    ledger.close()
    first, second = Ledger(ledger_target.db), Ledger(ledger_target.db)  # two front-ends starting
    assert first.connection.execute(SQL.SCHEMA_VERSION).fetchone()[0] == str(SCHEMA_VERSION)
    now = time.time()
    first.record_ban(BanRecord(("account:cheat", "address:10.0.0.9"), "wrong_claims", 2, 120.0, now + 120.0, "fe-1"))
    second.record_ban(BanRecord(("account:cheat",), "flooding", 1, 60.0, now + 60.0, "fe-2"))  # shorter: kept out
    second.record_ban(BanRecord(("address:10.0.0.7",), "flooding", 1, 60.0, now - 10.0, "fe-2"))  # over already
    first.close()
    again = Ledger(ledger_target.db)
    active = {r.keys: r for r in again.recent_bans(now)}
    assert set(active) == {("account:cheat",), ("address:10.0.0.9",)}
    assert active[("account:cheat",)] == BanRecord(("account:cheat",), "wrong_claims", 2, 120.0, now + 120.0, "fe-1")
    assert len(again.recent_bans(now - 3600.0)) == 3  # an ended one still counts for the next ban's length
    again.close()
    second.close()


def test_a_ban_announcement_round_trips_and_a_malformed_one_is_refused() -> None:
    ban = BanRecord(("account:a", "address:::1"), "wrong_claims", 3, 240.0, 1.5e9, None)
    assert BanRecord.from_json(ban.to_json()) == ban
    for bad in ("", "[]", '{"keys": ["a"]}', '{"keys": 1, "reason": "x", "offence": 1, "seconds": 1, "ends_at": 1}'):
        with pytest.raises(ValueError, match="malformed ban announcement"):
            BanRecord.from_json(bad)


def test_front_ends_sharing_a_ledger_share_prefixes_duplicates_and_the_best(ledger_target: LedgerTarget) -> None:
    """Two connections, as two front-ends hold them: prefixes from one sequence, a result credited
    once whichever front-end gets it first, the best only moving forward and readable by both."""
    a, b = Ledger(ledger_target.db), Ledger(ledger_target.db)
    other = Ledger(None)
    assert a.pool_id == b.pool_id != other.pool_id  # one pool to miners (the PoolId of their jobs)
    other.close()
    starts = [(a if i % 2 else b).allocate_prefixes(256) for i in range(6)]
    assert sorted(starts) == [1 + 256 * i for i in range(6)]
    assert a.record_accepted(_rec("aa", 120), network=b'{"n":1}', network_id="n1") == (1, True)
    with pytest.raises(DuplicateSubmissionError):
        b.record_accepted(_rec("aa", 120), network=b'{"n":1}', network_id="n1")
    second, improved = b.record_accepted(_rec("bb", 130), network=b'{"n":2}', network_id="n2")
    assert improved  # (on PostgreSQL the refused duplicate used up an id: ids may have gaps)
    assert not a.record_accepted(_rec("cc", 125), network=b'{"n":3}', network_id="n3")[1]
    found = a.best_of("t1")
    assert found is not None
    best, step = found
    assert (best.network_id, best.score, best.body, step.accepted_id) == ("n2", 130, b'{"n":2}', second)
    assert a.best_of("t2") is None
    assert [(r.account, r.solutions, r.shares) for r in b.top_accounts(5)] == [("acct", 3, 0)]
    a.close()
    b.close()
    again = Ledger(ledger_target.db)
    assert again.pool_id == a.pool_id and again.load_state().pool_id == a.pool_id  # kept across restarts
    again.close()


def test_payouts_count_a_window_per_account(ledger_target: LedgerTarget) -> None:
    ledger = Ledger(ledger_target.db)
    rows = [("a1", "solution", 120, 100.0), ("a1", "share", 50, 150.0), ("a2", "solution", 130, 200.0),
            ("a1", "solution", 140, 300.0), ("a2", "share", 60, 400.0)]
    for i, (account, kind, score, at) in enumerate(rows):
        rec = AcceptedRecord(kind, "t1", "ID", f"{i:02x}", score, "job.1", 1, 100, None, None, account, "w", at=at)
        ledger.record_accepted(rec, network=b"{}" if kind == "solution" else None,
                               network_id=f"n{i}" if kind == "solution" else None)
    assert [(r.account, r.solutions, r.shares, r.best) for r in ledger.payouts(0, 1000)] == [
        ("a1", 2, 1, {"t1": 140}), ("a2", 1, 1, {"t1": 130})]
    assert [(r.account, r.solutions, r.shares, r.best) for r in ledger.payouts(150, 400)] == [
        ("a1", 1, 1, {"t1": 140}), ("a2", 1, 0, {"t1": 130})]
    assert ledger.payouts(500, 600) == []
    ledger.close()


def _vm_steps(db: sqlite3.Connection, run: object, limit: int = 100_000) -> int:
    """SQLite virtual-machine instructions executed by ``run()`` (a scan of a million rows needs
    several million; the count stops at ``limit``)."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps >= limit else 0  # non-zero interrupts the statement

    db.set_progress_handler(tick, 1)
    try:
        run()  # type: ignore[operator]
    except sqlite3.OperationalError as exc:
        assert "interrupted" in str(exc), exc
    finally:
        db.set_progress_handler(None, 1)
    return steps


@pytest.fixture(scope="module")
def million_row_ledger() -> Iterator[Ledger]:
    """A ledger holding a million accepted rows of a thousand identities (built inside SQLite: ~2 s)."""
    ledger = Ledger(None)
    db = ledger.connection
    db.execute("BEGIN")
    db.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)"
        " INSERT INTO accepted (kind, task_id, identity, nonce, score, job_id, epoch, threshold, share_threshold,"
        " parent_id, account, worker, network_id, at)"
        " SELECT 'share', 't1', 'ID' || (x / 1000), printf('%08x', x), x % 5000, 'abcdef.' || printf('%x', x), 1,"
        " 100, NULL, NULL, 'acct' || (x / 1000), 'w', NULL, 1000.0 FROM c")
    db.execute("INSERT INTO workers SELECT account, worker, 0, COUNT(*), 0, 1000.0, 1000.0 FROM accepted"
               " GROUP BY account, worker")
    db.execute(SQL.SUM_ACCOUNTS)
    db.execute("COMMIT")
    assert db.execute("SELECT COUNT(*) FROM accepted").fetchone() == (1_000_000,)
    yield ledger
    ledger.close()


def test_every_statement_a_client_can_cause_is_an_index_lookup(million_row_ledger: Ledger) -> None:
    db = million_row_ledger.connection
    for name in CLIENT_STATEMENTS:
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + getattr(SQL, name), CLIENT_STATEMENTS[name])]
        for step in plan:  # an index walked in order (with a LIMIT) is fine; a table scan or a sort is not
            assert not (step.startswith("SCAN") and "USING" not in step) and "TEMP B-TREE" not in step, (name, plan)


def test_a_client_reads_a_few_rows_of_a_million(million_row_ledger: Ledger) -> None:
    """Each ledger call a submit, login or download makes costs a bounded number of SQLite VM steps
    at a million rows — what an index lookup costs — where one scan would need millions."""
    ledger = million_row_ledger
    db = ledger.connection
    small = Ledger(None)
    calls = {
        "unknown job (resubmission after a restart)": lambda lg: lg.accepted_for_job("abcdef.ffffff", "00"),
        "recorded job": lambda lg: lg.accepted_for_job("abcdef.7a120", "0007a120"),
        "duplicate check": lambda lg: lg.is_duplicate("ID500", "t1", 1, "0007a120"),
        "fresh nonce": lambda lg: lg.is_duplicate("ID500", "t1", 2, "0007a120"),
        "network download": lambda lg: lg.network("0" * 64),
        "mismatch count": lambda lg: lg.count_mismatch("acct500", "w"),
        "nonce prefixes": lambda lg: lg.allocate_prefixes(256),
        "the page's top accounts": lambda lg: lg.top_accounts(20),
        "the page's training curve": lambda lg: lg.improvements("t1"),
    }
    small.record_accepted(AcceptedRecord("share", "t1", "ID", "00", 1, "abcdef.1", 1, 100, None, None, "acct", "w"))
    for what, call in calls.items():
        big_steps = _vm_steps(db, lambda call=call: call(ledger))
        small_steps = _vm_steps(small.connection, lambda call=call: call(small))
        # 20 of a thousand accounts: 20 index entries, not a thousand groups of a thousand rows.
        bound = 1_000 if "top accounts" in what else 500
        assert big_steps < bound and big_steps <= small_steps + bound, (what, big_steps, small_steps)
    assert [a.account for a in ledger.top_accounts(3)] == ["acct1", "acct10", "acct100"]  # 1000 results each
    rec = AcceptedRecord("solution", "t1", "ID500", "feedface", 4999, "abcdef.f00000", 1, 100, None, None,
                         "acct500", "w")
    steps = _vm_steps(db, lambda: ledger.record_accepted(rec, network=b"{}", network_id="f" * 64))
    assert steps < 2_000, steps
    small.close()


def test_nonce_prefixes_are_never_handed_out_twice_and_the_next_block_is_reserved_ahead(
        ledger_target: LedgerTarget) -> None:
    async def body() -> None:
        path = ledger_target.db
        seen: list[str] = []
        for run_number in (1, 2):  # a restart continues after every block reserved before it
            ledger = AsyncLedger(path)
            await ledger.open()
            spawned: list[asyncio.Future[None]] = []
            prefixes = PrefixAllocator(ledger, spawn=lambda c, out=spawned: out.append(asyncio.ensure_future(c)))
            seen += [await prefixes.allocate() for _ in range(PREFIX_BLOCK // 2 - 1)]
            assert spawned == []
            counter = await ledger.call(Ledger.allocate_prefixes, 0)  # reads the counter, reserves nothing
            seen.append(await prefixes.allocate())  # half the block is left: the next one is reserved now
            await asyncio.gather(*spawned)
            assert await ledger.call(Ledger.allocate_prefixes, 0) == counter + PREFIX_BLOCK
            seen += [await prefixes.allocate() for _ in range(PREFIX_BLOCK)]  # on into the reserved block
            await asyncio.gather(*spawned)
            await ledger.close()
            assert run_number == 1 or seen[-1] > seen[PREFIX_BLOCK + PREFIX_BLOCK // 2 - 1]
        assert len(set(seen)) == len(seen) == 2 * (PREFIX_BLOCK + PREFIX_BLOCK // 2)

    asyncio.run(body())
