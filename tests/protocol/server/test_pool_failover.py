"""A real miner (``neuraxon-miner run``) on two front-ends (``neuraxon-miner workserver``) sharing one
real PostgreSQL: the first front-end is killed with SIGKILL while the miner has a submission out, the
miner fails over to the second and mines on; the first comes back (as its supervisor would restart it),
the miner returns to it and settles what it had sent there. Nothing is lost and nothing is credited
twice: every found result ends with a verdict (the journal holds no unsent result), the miner's
accepted count is the ledger's for its identity, and the ledger's unique key holds each result once.

SIGKILL rather than SIGTERM: SIGTERM lets a front-end finish and commit what it verifies and answer
``SHUTTING_DOWN`` first, which is the easy case. SIGKILL drops the connection with a result that may be
committed but unanswered (the miner must not count it twice, nor miss it) or not yet committed (it must
not be credited). A best network announced through one front-end and pushed by the other is tested in
``test_pool.py``. Events only: no timing is asserted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from miner.status import StatusDocument
from tests.miner.harness import ROOT, WALLET, clean_env, miner_command, miner_status
from tests.postgres import PASSWORD, PostgresServer
from tests.protocol.server.helpers import SMALL_TASK_PATH, start_cli_server, stop_processes

THRESHOLD = 200  # about one walk in three on the small task: submissions are nearly always under way


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate``; a hang guard, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def _journal(path: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The miner's journal as written so far: result id -> its ``found`` record plus ``sent`` (bool) for
    those without a verdict; and every ``done`` record (each result's verdict)."""
    pending: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []  # since the last compaction
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:  # a line being written
            continue
        if obj["op"] == "found":
            pending[obj["id"]] = {**obj, "sent": False}
        elif obj["op"] == "sent" and obj["id"] in pending:
            pending[obj["id"]]["sent"] = True
        elif obj["op"] == "done":
            pending.pop(obj["id"], None)
            done.append(obj)
    return pending, done


@contextlib.contextmanager
def _processes() -> Iterator[list[subprocess.Popen[Any]]]:
    procs: list[subprocess.Popen[Any]] = []
    try:
        yield procs
    finally:
        stop_processes(procs)


def _ledger(url: str, identity: str) -> tuple[list[tuple[str, str, int, str, str]], list[str]]:
    """The accepted rows of ``identity`` as (identity, task, epoch, nonce, front-end), and the ledger's
    unique constraints on ``accepted``."""
    import psycopg

    with psycopg.connect(url, password=PASSWORD) as conn:
        rows = conn.execute("SELECT identity, task_id, epoch, nonce, front_end FROM accepted WHERE identity = %s",
                            (identity,)).fetchall()
        unique = conn.execute(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
            " WHERE t.relname = 'accepted' AND c.contype = 'u'").fetchall()
    return [tuple(r) for r in rows], [u[0] for u in unique]


@dataclasses.dataclass
class _PoolRun:
    """Two front-ends (``fe-a`` first in the miner's list, ``fe-b``) on one PostgreSQL database and a miner."""

    url: str
    first: list[str]  # fe-a's command line (to restart it on its port)
    ws_a: str
    ws_b: str
    a: subprocess.Popen[Any]
    miner: subprocess.Popen[Any]
    journal: Path
    log: Path
    api_port: int

    def status(self) -> StatusDocument:
        doc = miner_status(self.api_port)
        assert doc is not None, self.log.read_text()[-3000:]
        return doc

    def kill_a_with_a_submission_out(self) -> set[str]:
        """SIGKILL fe-a while a submission is out to it (sent, no verdict yet): committed or not, the books
        must agree. Returns the ids of the results of its work then without a verdict."""
        _until(lambda: (s := miner_status(self.api_port)) is not None and s.server == self.ws_a
               and s.results.accepted >= 2, 240, "accepted solutions through the first front-end")
        _until(lambda: any(r["sent"] and r["work"]["server"] == self.ws_a for r in _journal(self.journal)[0].values()),
               60, "a submission on its way to the first front-end", interval=0.005)
        self.a.send_signal(signal.SIGKILL)
        assert self.a.wait(30) == -signal.SIGKILL
        return {rid for rid, r in _journal(self.journal)[0].items() if r["work"]["server"] == self.ws_a}

    def fail_over(self, at_kill: int) -> None:
        _until(lambda: self.status().server == self.ws_b and self.status().results.accepted >= at_kill + 2, 240,
               "the miner to fail over and have solutions accepted by the second front-end")
        assert self.status().server_switches >= 1

    def stop_miner(self) -> dict[str, Any]:
        """SIGTERM the miner (it submits what it holds, then exits); its ``miner_stopped`` line, after
        checking that every result it logged accepted is the ledger's, front-end by front-end."""
        self.miner.send_signal(signal.SIGTERM)
        assert self.miner.wait(120) == 0, self.log.read_text()[-3000:]
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
        (stopped,) = [line for line in lines if line["event"] == "miner_stopped"]
        by_server = Counter(line["server"] for line in lines if line["event"] == "result_accepted")
        assert sum(by_server.values()) == stopped["accepted"] and by_server[self.ws_b] >= 2, by_server
        rows, unique = _ledger(self.url, WALLET)
        assert unique == ["UNIQUE (identity, task_id, epoch, nonce)"], unique
        assert len({row[:4] for row in rows}) == len(rows)  # credited once each (the key makes a second row impossible)
        assert stopped["accepted"] == len(rows), (stopped, len(rows))  # the miner's books are the pool's
        # ... front-end by front-end: what the miner counts accepted for each is what the ledger says each accepted
        # (a result the first one committed just before it died is its, whoever told the miner).
        assert Counter({"fe-a": self.ws_a, "fe-b": self.ws_b}[row[4]] for row in rows) == by_server
        return stopped


@contextlib.contextmanager
def _pool_run(postgres: PostgresServer, tmp_path: Path) -> Iterator[tuple[_PoolRun, list[subprocess.Popen[Any]]]]:
    url = postgres.create_database()
    front_end = ["--db", url, "--db-password-file", str(postgres.password_file), "--task", str(SMALL_TASK_PATH),
                 "--threshold", str(THRESHOLD), "--no-vardiff", "--no-training", "--calibration-walks", "0",
                 "--rate", "10000", "--burst", "10000", "--verify-workers", "1", "--verify-mode", "thread"]
    first = [*front_end, "--port", str(_free_port()), "--front-end-id", "fe-a"]
    journal, api_port = tmp_path / "journal.jsonl", _free_port()
    log = tmp_path / "miner.log"
    with _processes() as procs:
        a, ws_a, _ = start_cli_server(first, tmp_path / "fe-a.log")
        procs.append(a)
        b, ws_b, _ = start_cli_server([*front_end, "--front-end-id", "fe-b"], tmp_path / "fe-b.log")
        procs.append(b)
        miner = subprocess.Popen(
            miner_command("run", "--server", ws_a, "--server", ws_b, "--wallet", WALLET, "--worker", "test-rig",
                          "--threads", "1", "--journal-file", str(journal), "--api-port", str(api_port),
                          "--no-self-test", "--retries", "2", "--backoff-initial-seconds", "0.2",
                          "--backoff-max-seconds", "0.5", "--connect-timeout-seconds", "5",
                          "--primary-retry-seconds", "2", "--submit-timeout-seconds", "5",
                          "--shutdown-timeout-seconds", "60", "--log-format", "json"),
            cwd=ROOT, env=clean_env(), stdout=log.open("wb"), stderr=subprocess.STDOUT)
        procs.append(miner)
        yield _PoolRun(url, first, ws_a, ws_b, a, miner, journal, log, api_port), procs


def test_a_miner_fails_over_between_front_ends_and_the_books_agree(postgres: PostgresServer,
                                                                   tmp_path: Path) -> None:
    with _pool_run(postgres, tmp_path) as (run, procs):
        out_to_a = run.kill_a_with_a_submission_out()
        run.fail_over(run.status().results.accepted)
        a, _, _ = start_cli_server(run.first, tmp_path / "fe-a.log")  # back on its port, as a supervisor restarts it
        procs.append(a)
        _until(lambda: run.status().server == run.ws_a, 120, "the miner to return to the first front-end")
        # What was out to the first front-end when it died gets its verdict: DUPLICATE (it had been committed:
        # counted accepted once) or STALE_JOB (it had not: never credited).
        _until(lambda: not (out_to_a & set(_journal(run.journal)[0])), 120, "verdicts for the results sent before")
        back = run.status().results.accepted
        _until(lambda: run.status().results.accepted > back, 240, "solutions accepted by the first front-end again")
        stopped = run.stop_miner()
    pending, _ = _journal(run.journal)
    assert pending == {}, pending  # every found result has its verdict: nothing unsent
    assert stopped["pending_kept"] == 0, stopped


def test_a_front_end_that_stays_dead_has_its_results_settled_by_the_other(postgres: PostgresServer,
                                                                          tmp_path: Path) -> None:
    """Without the first front-end's return: what the miner had sent it is settled by the second from the
    shared ledger (both announce one ``PoolId``), so the books agree; a result never sent waits for its own
    server (it cannot be in the ledger), kept in the journal."""
    with _pool_run(postgres, tmp_path) as (run, _):
        out_to_a = run.kill_a_with_a_submission_out()
        sent_to_a = {rid for rid, r in _journal(run.journal)[0].items() if rid in out_to_a and r["sent"]}
        run.fail_over(run.status().results.accepted)
        _until(lambda: not (sent_to_a & set(_journal(run.journal)[0])), 120,
               "verdicts from the second front-end for the results sent to the first")
        stopped = run.stop_miner()
    pending, _ = _journal(run.journal)
    assert all(r["work"]["server"] == run.ws_a and not r["sent"] for r in pending.values()), pending
    assert stopped["pending_kept"] == len(pending), stopped
    lines = [json.loads(line) for line in run.log.read_text().splitlines() if line.startswith("{")]
    assert {line["id"] for line in lines if line["event"] == "result_settled_by_pool"} \
        == {rid[:12] for rid in sent_to_a}
