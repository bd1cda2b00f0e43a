"""The work server's ledger: SQLite in WAL mode (one server) or PostgreSQL (several front-ends sharing
it, :mod:`protocol.server.database`), every accepted submission committed before its ack.

What it keeps:

* ``accepted`` — every accepted solution and share: task, identity, epoch, nonce, score, job, worker,
  and the front-end that accepted it (``--front-end-id``; NULL in rows from before schema 3).
  The unique key ``(identity, task_id, epoch, nonce)`` is the duplicate rule: a result belongs to its
  epoch (the epoch is part of the work, as qubic/core keys solutions by mining seed).
* ``networks`` / ``best`` / ``best_history`` — per task, each network that became the best accepted
  one (the canonical JSON bytes served to miners as the next jobs' parent) and when.
* ``workers`` — per (account, worker): solutions, shares, score mismatches (claims that did not
  survive recomputation; other rejections are cheap to provoke and only counted in memory);
  ``accounts`` — the same summed per account, kept with every write and indexed by results, so the
  page's top accounts are read in O(log n) rather than grouped from every worker on each request.
* ``calibration`` — each task's sampled score distribution (vardiff), so a restart skips it.
* ``bans`` — per ban key (``account:…`` / ``address:…``) the last ban issued: reason, offence, length
  and end (wall clock), and the front-end that issued it; a restarted server and every front-end of a
  pool keep them (on PostgreSQL each is announced on :data:`~protocol.server.database.BAN_CHANNEL`).
* ``meta`` — schema version, the nonce-prefix allocator and the pool id (``PoolId`` in jobs).

Every SQL statement lives in :class:`SQL`, by name, in SQL both databases run (PostgreSQL gets it
through :func:`~protocol.server.database.to_postgres`); :data:`CLIENT_STATEMENTS` names those a
client can cause (a submit, a login, a download), each answered through an index in O(log n) rows of the ledger
(``tests/protocol/server/test_ledger.py`` counts the SQLite VM steps at a million rows).

:class:`Ledger` is synchronous and owns one connection; :class:`AsyncLedger` runs it on one
dedicated thread so the event loop never blocks on disk. ``synchronous=FULL`` (PostgreSQL: its default
``synchronous_commit``): a commit is on disk before the call returns, so an ack sent after it
survives ``kill -9`` (and power loss).

Schema 2 added the epoch to the duplicate key, the ``accepted_by_job`` index and the ``accounts``
table; a schema-1 file is migrated in place when it is opened (one transaction; ``accepted`` is
rebuilt, rows and ids kept; ``accounts`` is summed from ``workers``). Schema 3 added
``accepted.front_end``: a schema-2 ledger (SQLite or PostgreSQL) gains the column when it is opened,
by the first front-end to take the schema lock. Schema 4 added ``bans``: a schema-2 or -3 ledger gains
the table the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from protocol.server.database import (
    BAN_CHANNEL,
    BEST_CHANNEL,
    Database,
    connect_postgres,
    parse_database,
    to_postgres,
)

__all__ = [
    "CLIENT_STATEMENTS",
    "SQL",
    "UNRECORDED_FRONT_END",
    "AcceptedRecord",
    "AccountRow",
    "AsyncLedger",
    "BanRecord",
    "BestNetwork",
    "DuplicateSubmissionError",
    "ImprovementRow",
    "Ledger",
    "LedgerState",
    "PayoutRow",
    "ProgressRow",
    "WorkerRow",
]

SCHEMA_VERSION = 4

_ACCEPTED_COLUMNS = ("id, kind, task_id, identity, nonce, score, job_id, epoch, threshold, share_threshold, parent_id,"
                     " account, worker, network_id, at")


def _accepted_table(name: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('solution', 'share')),
    task_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    nonce TEXT NOT NULL,
    score INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    share_threshold INTEGER,
    parent_id TEXT,
    account TEXT NOT NULL,
    worker TEXT NOT NULL,
    network_id TEXT,
    at REAL NOT NULL,
    front_end TEXT,
    UNIQUE (identity, task_id, epoch, nonce)
)"""


_ACCEPTED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS accepted_by_task ON accepted (task_id, kind)",
    # A resubmission for a job the server no longer knows is looked up by job and nonce.
    "CREATE INDEX IF NOT EXISTS accepted_by_job ON accepted (job_id, nonce)",
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _accepted_table("accepted"),
    *_ACCEPTED_INDEXES,
    """CREATE TABLE IF NOT EXISTS networks (
    network_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    score INTEGER NOT NULL,
    body BLOB NOT NULL,
    accepted_id INTEGER NOT NULL REFERENCES accepted (id),
    at REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS best (
    task_id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks (network_id),
    score INTEGER NOT NULL,
    at REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS best_history (
    id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL,
    network_id TEXT NOT NULL,
    score INTEGER NOT NULL,
    accepted_id INTEGER NOT NULL REFERENCES accepted (id),
    identity TEXT NOT NULL,
    worker TEXT NOT NULL,
    at REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS best_history_by_task ON best_history (task_id, id)",
    """CREATE TABLE IF NOT EXISTS workers (
    account TEXT NOT NULL,
    worker TEXT NOT NULL,
    solutions INTEGER NOT NULL DEFAULT 0,
    shares INTEGER NOT NULL DEFAULT 0,
    mismatches INTEGER NOT NULL DEFAULT 0,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (account, worker)
)""",
    """CREATE TABLE IF NOT EXISTS accounts (
    account TEXT PRIMARY KEY,
    workers INTEGER NOT NULL DEFAULT 0,
    solutions INTEGER NOT NULL DEFAULT 0,
    shares INTEGER NOT NULL DEFAULT 0,
    mismatches INTEGER NOT NULL DEFAULT 0,
    results INTEGER NOT NULL DEFAULT 0,
    last_seen REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS accounts_by_results ON accounts (results DESC, account)",
    """CREATE TABLE IF NOT EXISTS calibration (
    task_id TEXT PRIMARY KEY,
    scores TEXT NOT NULL,
    seconds_per_walk REAL NOT NULL,
    at REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS bans (
    ban_key TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    offence INTEGER NOT NULL,
    seconds REAL NOT NULL,
    ends_at REAL NOT NULL,
    front_end TEXT,
    at REAL NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS bans_by_end ON bans (ends_at)",
)


class SQL:
    """Every statement the ledger runs, by name."""

    SCHEMA_VERSION = "SELECT value FROM meta WHERE key = 'schema_version'"
    POOL_ID = "SELECT value FROM meta WHERE key = 'pool_id'"
    SET_SCHEMA_VERSION = ("INSERT INTO meta VALUES ('schema_version', ?)"
                          " ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    #: Both databases: the meta rows a new ledger starts with (kept when another front-end made them).
    INIT_META = "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
    INSERT_ACCEPTED = ("INSERT INTO accepted (kind, task_id, identity, nonce, score, job_id, epoch, threshold,"
                       " share_threshold, parent_id, account, worker, network_id, at, front_end)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    #: Schema 2 -> 3 (both databases).
    ADD_FRONT_END = "ALTER TABLE accepted ADD COLUMN front_end TEXT"
    # PostgreSQL has no lastrowid. (SQLite plans a RETURNING insert with the foreign-key scans it
    # normally skips, so there the cursor's lastrowid is read instead.)
    INSERT_ACCEPTED_RETURNING = INSERT_ACCEPTED + " RETURNING id"
    COUNT_SOLUTION = ("INSERT INTO workers (account, worker, solutions, first_seen, last_seen) VALUES (?, ?, 1, ?, ?)"
                      " ON CONFLICT (account, worker) DO UPDATE SET solutions = workers.solutions + 1,"
                      " last_seen = excluded.last_seen")
    COUNT_SHARE = ("INSERT INTO workers (account, worker, shares, first_seen, last_seen) VALUES (?, ?, 1, ?, ?)"
                   " ON CONFLICT (account, worker) DO UPDATE SET shares = workers.shares + 1,"
                   " last_seen = excluded.last_seen")
    COUNT_MISMATCH = ("INSERT INTO workers (account, worker, mismatches, first_seen, last_seen) VALUES (?, ?, 1, ?, ?)"
                      " ON CONFLICT (account, worker) DO UPDATE SET mismatches = workers.mismatches + 1,"
                      " last_seen = excluded.last_seen")
    WORKER_EXISTS = "SELECT 1 FROM workers WHERE account = ? AND worker = ?"
    #: Parameters: account, new worker (0/1), solutions, shares, mismatches, results, last seen.
    COUNT_ACCOUNT = ("INSERT INTO accounts (account, workers, solutions, shares, mismatches, results, last_seen)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET"
                     " workers = accounts.workers + excluded.workers,"
                     " solutions = accounts.solutions + excluded.solutions, shares = accounts.shares + excluded.shares,"
                     " mismatches = accounts.mismatches + excluded.mismatches,"
                     " results = accounts.results + excluded.results, last_seen = excluded.last_seen")
    BEST_SCORE = "SELECT score FROM best WHERE task_id = ?"
    INSERT_NETWORK = "INSERT INTO networks VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (network_id) DO NOTHING"
    # The best only moves forward, decided in the row's own upsert: two front-ends committing at once
    # on PostgreSQL cannot overwrite a better network with a worse one (the read before is a fast path).
    SET_BEST_HIGHER = ("INSERT INTO best VALUES (?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET"
                       " network_id = excluded.network_id, score = excluded.score, at = excluded.at"
                       " WHERE excluded.score > best.score RETURNING task_id")
    SET_BEST_LOWER = SET_BEST_HIGHER.replace("excluded.score > best.score", "excluded.score < best.score")
    INSERT_BEST_HISTORY = ("INSERT INTO best_history (task_id, network_id, score, accepted_id, identity, worker, at)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)")
    # One statement: the row lock makes it a sequence that front-ends sharing the database all draw from.
    ALLOCATE_PREFIXES = ("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT) WHERE key = 'next_prefix'"
                         " RETURNING CAST(value AS INTEGER)")
    SAVE_CALIBRATION = ("INSERT INTO calibration VALUES (?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET"
                        " scores = excluded.scores, seconds_per_walk = excluded.seconds_per_walk, at = excluded.at")
    IS_DUPLICATE = "SELECT 1 FROM accepted WHERE identity = ? AND task_id = ? AND epoch = ? AND nonce = ?"
    ACCEPTED_FOR_JOB = "SELECT 1 FROM accepted WHERE job_id = ? AND nonce = ?"
    NETWORK = "SELECT body FROM networks WHERE network_id = ?"
    TOP_ACCOUNTS = ("SELECT account, workers, solutions, shares, mismatches, last_seen FROM accounts"
                    " ORDER BY results DESC, account LIMIT ?")
    IMPROVEMENTS = ("SELECT h.at, h.score, h.network_id, h.accepted_id, h.identity, h.worker, a.account"
                    " FROM best_history h JOIN accepted a ON a.id = h.accepted_id WHERE h.task_id = ? ORDER BY h.id")
    SUM_ACCOUNTS = ("INSERT INTO accounts (account, workers, solutions, shares, mismatches, results, last_seen)"
                    " SELECT account, COUNT(*), SUM(solutions), SUM(shares), SUM(mismatches),"
                    " SUM(solutions) + SUM(shares), MAX(last_seen) FROM workers GROUP BY account")
    # Start-up and admin only (whole-table reads by design):
    LOAD_BEST = ("SELECT b.task_id, b.network_id, b.score, b.at, n.body FROM best b"
                 " JOIN networks n USING (network_id)")
    LOAD_HISTORY = ("SELECT task_id, at, score, network_id, accepted_id, identity, worker FROM best_history"
                    " ORDER BY id")
    LOAD_COUNTS = ("SELECT task_id, SUM(CASE WHEN kind = 'solution' THEN 1 ELSE 0 END),"
                   " SUM(CASE WHEN kind = 'share' THEN 1 ELSE 0 END) FROM accepted GROUP BY task_id")
    BEST_OF = ("SELECT b.task_id, b.network_id, b.score, b.at, n.body FROM best b JOIN networks n USING (network_id)"
               " WHERE b.task_id = ?")
    LAST_IMPROVEMENT = ("SELECT at, score, network_id, accepted_id, identity, worker FROM best_history"
                        " WHERE task_id = ? ORDER BY id DESC LIMIT 1")
    # The payout report (``neuraxon-miner ledger``): an admin's whole-window reads.
    WINDOW_COUNTS = ("SELECT account, SUM(CASE WHEN kind = 'solution' THEN 1 ELSE 0 END),"
                     " SUM(CASE WHEN kind = 'share' THEN 1 ELSE 0 END) FROM accepted WHERE at >= ? AND at < ?"
                     " GROUP BY account ORDER BY account")
    WINDOW_BESTS = ("SELECT a.account, h.task_id, h.score FROM best_history h JOIN accepted a ON a.id = h.accepted_id"
                    " WHERE h.at >= ? AND h.at < ? ORDER BY h.id")
    WINDOW_FRONT_ENDS = ("SELECT account, front_end, COUNT(*) FROM accepted WHERE at >= ? AND at < ?"
                         " GROUP BY account, front_end")
    LOAD_CALIBRATION = "SELECT task_id, scores, seconds_per_walk FROM calibration"
    # A ban only grows: a late or repeated announcement never shortens the one a key has.
    SAVE_BAN = ("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ban_key) DO UPDATE SET"
                " reason = excluded.reason, offence = excluded.offence, seconds = excluded.seconds,"
                " ends_at = excluded.ends_at, front_end = excluded.front_end, at = excluded.at"
                " WHERE excluded.ends_at > bans.ends_at")
    #: Start-up: the bans that still count (active, or recent enough to double the next one).
    RECENT_BANS = "SELECT ban_key, reason, offence, seconds, ends_at, front_end FROM bans WHERE ends_at > ?"
    WORKERS = ("SELECT account, worker, solutions, shares, mismatches, first_seen, last_seen FROM workers"
               " ORDER BY account, worker")


#: The statements a client can cause — a submit (duplicate checks, the commit of an accepted result or
#: a mismatch), a login (nonce prefixes), a network download, the public page (top accounts, training
#: curves) — with sample parameters. Each must be answered through an index (primary key, unique key,
#: ``accepted_by_job``, ``accounts_by_results``, ``best_history_by_task``): O(log n) rows read per row
#: answered.
CLIENT_STATEMENTS: dict[str, tuple[Any, ...]] = {
    "IS_DUPLICATE": ("ID", "task", 1, "00"),
    "ACCEPTED_FOR_JOB": ("abcdef.1", "00"),
    "NETWORK": ("n",),
    "TOP_ACCOUNTS": (20,),
    "IMPROVEMENTS": ("task",),
    "WORKER_EXISTS": ("acct", "w"),
    "COUNT_ACCOUNT": ("acct", 0, 1, 0, 0, 1, 0.0),
    "INSERT_ACCEPTED": ("share", "task", "ID", "00", 1, "abcdef.1", 1, 1, None, None, "acct", "w", None, 0.0, "fe"),
    "COUNT_SOLUTION": ("acct", "w", 0.0, 0.0),
    "COUNT_SHARE": ("acct", "w", 0.0, 0.0),
    "COUNT_MISMATCH": ("acct", "w", 0.0, 0.0),
    "BEST_SCORE": ("task",),
    "INSERT_NETWORK": ("n", "task", 1, b"{}", 1, 0.0),
    "SET_BEST_HIGHER": ("task", "n", 1, 0.0),
    "SET_BEST_LOWER": ("task", "n", 1, 0.0),
    "INSERT_BEST_HISTORY": ("task", "n", 1, 1, "ID", "w", 0.0),
    "ALLOCATE_PREFIXES": (256,),
    "BEST_OF": ("task",),
    "LAST_IMPROVEMENT": ("task",),
    "SAVE_BAN": ("account:acct", "wrong_claims", 1, 60.0, 0.0, "fe", 0.0),
}

T = TypeVar("T")

#: Advisory-lock key under which PostgreSQL front-ends create or migrate the schema one at a time.
_SCHEMA_LOCK = 0x4E58_4C45


@functools.cache
def _pg_statement(statement: str) -> str:
    return to_postgres(statement)


class DuplicateSubmissionError(Exception):
    """The ``(identity, task_id, epoch, nonce)`` is already in the ledger."""


@dataclass(frozen=True)
class AcceptedRecord:
    """One accepted submission as the ledger stores it (``kind`` is ``solution`` or ``share``)."""

    kind: str
    task_id: str
    identity: str
    nonce: str
    score: int
    job_id: str
    epoch: int
    threshold: int
    share_threshold: int | None
    parent_id: str | None
    account: str
    worker: str
    at: float = field(default_factory=time.time)
    #: The front-end that accepted it (``--front-end-id``).
    front_end: str | None = None


@dataclass(frozen=True)
class BanRecord:
    """A ban as the ledger keeps and announces it: its keys (``account:…``, ``address:…``), why, which
    ban of the key it is, its length and end (``time.time()`` seconds) and the front-end that issued it."""

    keys: tuple[str, ...]
    reason: str
    offence: int
    seconds: float
    ends_at: float
    front_end: str | None = None

    def to_json(self) -> str:
        """The announcement's payload."""
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: str) -> BanRecord:
        """Parse an announcement (raises ``ValueError`` on a malformed one)."""
        try:
            raw = json.loads(payload)
            return cls(tuple(str(k) for k in raw["keys"]), str(raw["reason"]), int(raw["offence"]),
                       float(raw["seconds"]), float(raw["ends_at"]),
                       None if raw.get("front_end") is None else str(raw["front_end"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"malformed ban announcement: {exc}") from None


@dataclass(frozen=True)
class BestNetwork:
    """A task's best accepted network: its id (K12 of ``body``), score and canonical JSON bytes."""

    task_id: str
    network_id: str
    score: int
    body: bytes
    at: float


@dataclass(frozen=True)
class ProgressRow:
    """One step of a task's best score over time."""

    at: float
    score: int
    network_id: str
    accepted_id: int
    identity: str
    worker: str


@dataclass(frozen=True)
class WorkerRow:
    """Per-worker counters."""

    account: str
    worker: str
    solutions: int
    shares: int
    mismatches: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class AccountRow:
    """Accepted results of one account (all its workers)."""

    account: str
    workers: int
    solutions: int
    shares: int
    mismatches: int
    last_seen: float


@dataclass(frozen=True)
class ImprovementRow(ProgressRow):
    """A step of the best-score history with the account that found it (the page's training curve)."""

    account: str


#: The front-end of results accepted before the ledger recorded front-ends (schema 3).
UNRECORDED_FRONT_END = "(unrecorded)"


@dataclass(frozen=True)
class PayoutRow:
    """An account's accepted results in a time window (``neuraxon-miner ledger``); ``best``: task id ->
    the best score the account set on that task in the window; ``front_ends``: front-end id -> results
    (solutions and shares) it accepted (:data:`UNRECORDED_FRONT_END` for rows from before schema 3)."""

    account: str
    solutions: int
    shares: int
    best: dict[str, int]
    front_ends: dict[str, int] = field(default_factory=dict)


@dataclass
class LedgerState:
    """What a starting server reloads: per task its best network, best-score history, counts and
    calibration; the next free nonce prefix."""

    best: dict[str, BestNetwork] = field(default_factory=dict)
    history: dict[str, list[ProgressRow]] = field(default_factory=dict)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # task -> (solutions, shares)
    calibration: dict[str, tuple[list[int], float]] = field(default_factory=dict)
    pool_id: str | None = None  # the ledger's PoolId


class Ledger:
    """Synchronous ledger on one connection — SQLite (a path, ``None`` = in memory) or PostgreSQL (a
    :class:`~protocol.server.database.Database` or URL); use it from one thread (see :class:`AsyncLedger`)."""

    def __init__(self, target: Database | Path | str | None, *, password: str | None = None) -> None:
        db = target if isinstance(target, Database) else parse_database(target, password=password)
        self.database = db
        self.path = db.path
        self._pg = db.is_postgres
        if self._pg:
            self._db, unique_violation = connect_postgres(db)
            self._integrity: tuple[type[Exception], ...] = (unique_violation,)
            version = self._schema_version()
        else:
            self._integrity = (sqlite3.IntegrityError,)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path), isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            version = self._schema_version()
            if version == 1:  # to the current schema at once; PostgreSQL ledgers start at schema 2 (below)
                self._migrate_from_1()
            self._db.execute("PRAGMA foreign_keys = ON")
        if version not in (None, 1, 2, 3, SCHEMA_VERSION):
            raise RuntimeError(f"ledger {db.describe()}: schema version {version}, this server needs {SCHEMA_VERSION}")
        with self._tx():
            if self._pg:  # front-ends starting together create or migrate the schema once
                self._x("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            version = self._schema_version()  # read again under the lock: another front-end may have migrated
            if version == 2:
                self._x(SQL.ADD_FRONT_END)
            # executescript() would commit on its own; run the statements inside this transaction. They
            # create what a new ledger, or one of an older schema, lacks (schema 4: bans).
            for statement in _SCHEMA:
                self._x(statement)
            if version is not None and version < SCHEMA_VERSION:
                self._x(SQL.SET_SCHEMA_VERSION, (str(SCHEMA_VERSION),))
            self._x(SQL.INIT_META, ("schema_version", str(SCHEMA_VERSION)))
            self._x(SQL.INIT_META, ("next_prefix", "1"))
            # Names this ledger on the wire (``PoolId``): front-ends sharing it are one pool to miners.
            self._x(SQL.INIT_META, ("pool_id", secrets.token_hex(16)))
            self.pool_id = str(self._x(SQL.POOL_ID).fetchone()[0])

    @property
    def connection(self) -> Any:
        """The raw connection (sqlite3 or psycopg; for diagnostics and tests; from the ledger's thread only)."""
        return self._db

    def _x(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one catalogue statement on either database; returns the cursor."""
        if self._pg:
            return self._db.execute(_pg_statement(statement), params)
        return self._db.execute(statement, params)

    def _schema_version(self) -> int | None:
        if self._pg:
            if self._x("SELECT to_regclass('meta')").fetchone()[0] is None:  # a new database
                return None
        else:
            try:
                self._x(SQL.SCHEMA_VERSION)
            except sqlite3.OperationalError:  # no meta table: a new file
                return None
        row = self._x(SQL.SCHEMA_VERSION).fetchone()
        return None if row is None else int(row[0])

    def _migrate_from_1(self) -> None:
        # Schema 1 keyed duplicates by (identity, task_id, nonce). SQLite cannot change a table's
        # UNIQUE constraint, so the table is rebuilt (sqlite.org/lang_altertable.html, "other kinds of
        # table schema changes"): foreign keys off while the referenced table is replaced, checked
        # before the commit; rows keep their ids, so networks and best_history still point at them.
        self._db.execute("PRAGMA foreign_keys = OFF")
        with self._tx():
            self._db.execute(_accepted_table("accepted_v2"))
            self._db.execute(f"INSERT INTO accepted_v2 ({_ACCEPTED_COLUMNS})"
                             f" SELECT {_ACCEPTED_COLUMNS} FROM accepted")
            self._db.execute("DROP TABLE accepted")
            self._db.execute("ALTER TABLE accepted_v2 RENAME TO accepted")
            for statement in _ACCEPTED_INDEXES:
                self._db.execute(statement)
            for statement in _SCHEMA:  # the tables and indexes schema 2 added (accounts)
                self._db.execute(statement)
            self._db.execute(SQL.SUM_ACCOUNTS)
            broken = self._db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"ledger {self.path}: migration would break {len(broken)} references")
            self._db.execute(SQL.SET_SCHEMA_VERSION, (str(SCHEMA_VERSION),))

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, "BEGIN" if self._pg else "BEGIN IMMEDIATE")

    def close(self) -> None:
        """Close the connection (on SQLite a WAL checkpoint happens on the last close)."""
        self._db.close()

    # -- writes -----------------------------------------------------------------------------------

    def record_accepted(self, rec: AcceptedRecord, *, network: bytes | None = None, network_id: str | None = None,
                        higher_is_better: bool = True) -> tuple[int, bool]:
        """Store an accepted submission (and its network when it is a solution) in one transaction.

        Returns ``(accepted_id, new_best)``: ``new_best`` when ``network`` beat the task's best and
        became it (on PostgreSQL every front-end is told on commit: :data:`BEST_CHANNEL`). Raises
        :class:`DuplicateSubmissionError` if the (identity, task, epoch, nonce) is already in — also
        when another front-end committed it first.
        """
        with self._tx():
            try:
                cur = self._x(SQL.INSERT_ACCEPTED_RETURNING if self._pg else SQL.INSERT_ACCEPTED, (
                    rec.kind, rec.task_id, rec.identity, rec.nonce, rec.score, rec.job_id, rec.epoch, rec.threshold,
                    rec.share_threshold, rec.parent_id, rec.account, rec.worker, network_id, rec.at, rec.front_end))
            except self._integrity:
                raise DuplicateSubmissionError(
                    f"{rec.identity[:8]}.../{rec.task_id[:8]}.../epoch {rec.epoch}/{rec.nonce}") from None
            accepted_id = int(cur.fetchone()[0] if self._pg else cur.lastrowid)
            solution = rec.kind == "solution"
            self._count(rec.account, rec.worker, rec.at, SQL.COUNT_SOLUTION if solution else SQL.COUNT_SHARE,
                        (int(solution), int(not solution), 0))
            new_best = False
            if network is not None and network_id is not None:
                row = self._x(SQL.BEST_SCORE, (rec.task_id,)).fetchone()
                if row is None or (rec.score > row[0] if higher_is_better else rec.score < row[0]):
                    self._x(SQL.INSERT_NETWORK, (network_id, rec.task_id, rec.score, network, accepted_id, rec.at))
                    set_best = SQL.SET_BEST_HIGHER if higher_is_better else SQL.SET_BEST_LOWER
                    new_best = self._x(set_best, (rec.task_id, network_id, rec.score, rec.at)).fetchone() is not None
                    if new_best:
                        self._x(SQL.INSERT_BEST_HISTORY, (rec.task_id, network_id, rec.score, accepted_id,
                                                          rec.identity, rec.worker, rec.at))
                        if self._pg:  # delivered to every listening front-end when this transaction commits
                            self._x("SELECT pg_notify(?, ?)", (BEST_CHANNEL, f"{rec.task_id} {network_id}"))
                    # else another front-end's better network committed in between: this one stays
                    # stored (it was accepted, and can be downloaded by id) but is not the best.
            return accepted_id, new_best

    def count_mismatch(self, account: str, worker: str, *, at: float | None = None) -> None:
        """Count one score mismatch of a worker (a claimed score the recomputation did not confirm)."""
        now = time.time() if at is None else at
        with self._tx():
            self._count(account, worker, now, SQL.COUNT_MISMATCH, (0, 0, 1))

    def _count(self, account: str, worker: str, at: float, statement: str, counts: tuple[int, int, int]) -> None:
        """Add ``counts`` = (solutions, shares, mismatches) to a worker's and its account's counters."""
        new_worker = self._x(SQL.WORKER_EXISTS, (account, worker)).fetchone() is None
        self._x(statement, (account, worker, at, at))
        solutions, shares, mismatches = counts
        self._x(SQL.COUNT_ACCOUNT, (account, int(new_worker), solutions, shares, mismatches,
                                             solutions + shares, at))

    def allocate_prefixes(self, count: int) -> int:
        """Reserve ``count`` consecutive nonce-prefix numbers; returns the first. Never hands out a
        number twice, across restarts (the reservation is committed before it is used)."""
        with self._tx():
            return int(self._x(SQL.ALLOCATE_PREFIXES, (count,)).fetchone()[0]) - count

    def record_ban(self, ban: BanRecord) -> None:
        """Keep a ban (each key's row, unless it already has a later end); on PostgreSQL every front-end
        is told on commit (:data:`BAN_CHANNEL`)."""
        now = time.time()
        with self._tx():
            for key in ban.keys:
                self._x(SQL.SAVE_BAN, (key, ban.reason, ban.offence, ban.seconds, ban.ends_at, ban.front_end, now))
            if self._pg:
                self._x("SELECT pg_notify(?, ?)", (BAN_CHANNEL, ban.to_json()))

    def recent_bans(self, since: float) -> list[BanRecord]:
        """The bans of every key that ended after ``since`` (``time.time()`` seconds) or have not ended."""
        return [BanRecord((key,), reason, int(offence), float(seconds), float(ends_at), front_end)
                for key, reason, offence, seconds, ends_at, front_end in self._x(SQL.RECENT_BANS, (since,))]

    def save_calibration(self, task_id: str, scores: list[int], seconds_per_walk: float) -> None:
        """Store a task's sampled scores (vardiff calibration)."""
        with self._tx():
            self._x(SQL.SAVE_CALIBRATION, (task_id, json.dumps(scores), seconds_per_walk, time.time()))

    # -- reads ------------------------------------------------------------------------------------

    def is_duplicate(self, identity: str, task_id: str, epoch: int, nonce: str) -> bool:
        """Whether this (identity, task, epoch, nonce) was already accepted."""
        return self._x(SQL.IS_DUPLICATE, (identity, task_id, epoch, nonce)).fetchone() is not None

    def accepted_for_job(self, job_id: str, nonce: str) -> bool:
        """Whether a result with this nonce was accepted for this job (job ids are unique across
        server runs), so a resubmission after a restart learns it is recorded."""
        return self._x(SQL.ACCEPTED_FOR_JOB, (job_id, nonce)).fetchone() is not None

    def network(self, network_id: str) -> bytes | None:
        """The canonical JSON of a stored network, or ``None``."""
        row = self._x(SQL.NETWORK, (network_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def load_state(self) -> LedgerState:
        """Everything a starting server needs (see :class:`LedgerState`)."""
        state = LedgerState(pool_id=self.pool_id)
        for task_id, network_id, score, at, body in self._x(SQL.LOAD_BEST):
            state.best[task_id] = BestNetwork(task_id, network_id, score, bytes(body), at)
        for task_id, at, score, network_id, accepted_id, identity, worker in self._x(SQL.LOAD_HISTORY):
            state.history.setdefault(task_id, []).append(
                ProgressRow(at, score, network_id, accepted_id, identity, worker))
        for task_id, solutions, shares in self._x(SQL.LOAD_COUNTS):
            state.counts[task_id] = (int(solutions or 0), int(shares or 0))
        for task_id, scores, spw in self._x(SQL.LOAD_CALIBRATION):
            state.calibration[task_id] = ([int(s) for s in json.loads(scores)], float(spw))
        return state

    def accepted(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every accepted row (optionally of one kind), oldest first, as dicts (diagnostics and tests)."""
        query = "SELECT * FROM accepted" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        cur = self._x(query, (kind,) if kind else ())
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def top_accounts(self, limit: int) -> list[AccountRow]:
        """The ``limit`` accounts with the most accepted results (solutions and shares), most first."""
        return [AccountRow(*row) for row in self._x(SQL.TOP_ACCOUNTS, (limit,))]

    def improvements(self, task_id: str) -> list[ImprovementRow]:
        """A task's training curve, oldest first: each new best with the account that found it."""
        return [ImprovementRow(*row) for row in self._x(SQL.IMPROVEMENTS, (task_id,))]

    def best_of(self, task_id: str) -> tuple[BestNetwork, ProgressRow] | None:
        """A task's best network and the history step that made it (another front-end may have found it)."""
        best = self._x(SQL.BEST_OF, (task_id,)).fetchone()
        step = self._x(SQL.LAST_IMPROVEMENT, (task_id,)).fetchone()
        if best is None or step is None:
            return None
        return BestNetwork(best[0], best[1], int(best[2]), bytes(best[4]), best[3]), ProgressRow(*step)

    def payouts(self, since: float, until: float) -> list[PayoutRow]:
        """Per account, what it had accepted in ``[since, until)`` (Unix seconds): solutions, shares and
        the best score it set on each task (its last new best there), by account."""
        bests: dict[str, dict[str, int]] = {}
        for account, task_id, score in self._x(SQL.WINDOW_BESTS, (since, until)):
            bests.setdefault(account, {})[task_id] = int(score)
        front_ends: dict[str, dict[str, int]] = {}
        for account, front_end, count in self._x(SQL.WINDOW_FRONT_ENDS, (since, until)):
            front_ends.setdefault(account, {})[front_end or UNRECORDED_FRONT_END] = int(count)
        return [PayoutRow(account, int(solutions), int(shares), bests.get(account, {}),
                          dict(sorted(front_ends.get(account, {}).items())))
                for account, solutions, shares in self._x(SQL.WINDOW_COUNTS, (since, until))]

    def workers(self) -> list[WorkerRow]:
        """Per-worker counters, by account then worker (admin API)."""
        return [WorkerRow(*row) for row in self._x(SQL.WORKERS)]


class _Transaction:
    """``begin`` … ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: Any, begin: str) -> None:
        self._db = db
        self._begin = begin

    def __enter__(self) -> None:
        self._db.execute(self._begin)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


class AsyncLedger:
    """A :class:`Ledger` driven from the event loop: every call runs on one dedicated thread, in order."""

    def __init__(self, path: Database | Path | str | None) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._ledger: Ledger | None = None

    async def open(self) -> LedgerState:
        """Open (creating if needed) and load the state."""
        self._ledger = await self._run(lambda: Ledger(self._path))
        return await self.call(Ledger.load_state)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``method(ledger, *args, **kwargs)`` on the ledger thread, e.g. ``call(Ledger.network, nid)``."""
        ledger = self._ledger
        if ledger is None:
            raise RuntimeError("ledger is not open")
        return await self._run(lambda: method(ledger, *args, **kwargs))

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self._ledger is not None:
            ledger, self._ledger = self._ledger, None
            await asyncio.get_running_loop().run_in_executor(self._executor, ledger.close)
        self._executor.shutdown(wait=True)
