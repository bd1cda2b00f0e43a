"""The SQLite ledger: duplicates, best network per task in the algorithm's direction, restart state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from protocol.server.ledger import AcceptedRecord, DuplicateSubmissionError, Ledger


def _rec(nonce: str, score: int, kind: str = "solution", task: str = "t1", identity: str = "ID") -> AcceptedRecord:
    return AcceptedRecord(kind, task, identity, nonce, score, "job.1", 1, 100, None, None, "acct", "w1", at=1000.0)


def test_a_restart_keeps_everything_committed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    assert ledger.record_accepted(_rec("aa", 120), network=b'{"n":1}', network_id="n1") == (1, True)
    assert ledger.record_accepted(_rec("bb", 110), network=b'{"n":2}', network_id="n2") == (2, False)  # worse
    assert ledger.record_accepted(_rec("cc", 130), network=b'{"n":3}', network_id="n3") == (3, True)
    assert ledger.record_accepted(_rec("dd", 50, kind="share"))[1] is False
    first = ledger.allocate_prefixes(256)
    ledger.save_calibration("t1", [5, 1, 3], 0.25)
    ledger.count_mismatch("acct", "w1")
    ledger.close()

    again = Ledger(path)
    state = again.load_state()
    assert state.best["t1"].network_id == "n3" and state.best["t1"].body == b'{"n":3}'
    assert [(p.score, p.network_id) for p in state.history["t1"]] == [(120, "n1"), (130, "n3")]
    assert state.counts["t1"] == (3, 1)
    assert state.calibration["t1"] == ([5, 1, 3], 0.25)
    assert again.allocate_prefixes(256) == first + 256  # never hands out a prefix twice
    (worker,) = again.workers()
    assert (worker.solutions, worker.shares, worker.mismatches) == (3, 1, 1)
    assert again.network("n2") is None and again.network("n1") == b'{"n":1}'
    assert again.is_duplicate("ID", "t1", "aa") and not again.is_duplicate("ID", "t2", "aa")
    again.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_duplicates_are_refused_and_nothing_else_changes() -> None:
    ledger = Ledger(None)
    ledger.record_accepted(_rec("aa", 120))
    with pytest.raises(DuplicateSubmissionError):
        ledger.record_accepted(_rec("aa", 999, kind="share"))
    assert [r["score"] for r in ledger.accepted()] == [120]
    assert ledger.workers()[0].shares == 0
    ledger.record_accepted(_rec("aa", 120, identity="OTHER"))  # another identity may use the same nonce


def test_lower_is_better_for_bpp_style_tasks() -> None:
    ledger = Ledger(None)
    assert ledger.record_accepted(_rec("a", 3000), network=b"1", network_id="x1", higher_is_better=False)[1]
    assert not ledger.record_accepted(_rec("b", 3100), network=b"2", network_id="x2", higher_is_better=False)[1]
    assert ledger.record_accepted(_rec("c", 2900), network=b"3", network_id="x3", higher_is_better=False)[1]
    assert ledger.load_state().best["t1"].score == 2900
