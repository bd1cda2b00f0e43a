"""The result journal: durable before send, gone only after a verdict, survives torn writes and restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miner.journal import Journal, JournalError, JournalRecord, WorkKey

WORK = WorkKey("ws://s:1/ws", 0, 1, "t" * 8, "ab" * 32, None, "I" * 60)


def _record(n: int) -> JournalRecord:
    return JournalRecord(f"id{n}", f'{{"submit": {n}}}', WORK, "solution", 1000.0 + n)


def _ops(path: Path) -> list[str]:
    return [json.loads(line)["op"] for line in path.read_text().splitlines()]


def test_found_results_survive_a_restart_until_finished(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    assert journal.open() == []
    journal.add(_record(1))
    journal.add(_record(2))
    journal.mark_sent("id1")
    assert _ops(path) == ["found", "found", "sent"]  # on disk before add() returned
    journal.close()
    again = Journal(path)
    restored = again.open()
    assert [(r.result_id, r.sent) for r in restored] == [("id1", True), ("id2", False)]
    assert restored[0].work == WORK
    again.finish("id1", "accepted", 0, "ok")
    again.finish("id2", "stale", 300)
    assert len(again) == 0
    assert path.read_text() == ""  # compacted once nothing is pending
    again.close()


def test_a_torn_last_line_is_ignored_but_corruption_elsewhere_is_not(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.open()
    journal.add(_record(1))
    journal.close()
    with path.open("a") as fh:
        fh.write('{"v":1,"op":"found","id":"id2","sub')  # the process died mid-write
    journal = Journal(path)
    assert [r.result_id for r in journal.open()] == ["id1"]
    journal.close()
    path.write_text('garbage\n' + json.dumps({**_record(3).to_json()}) + "\n")
    with pytest.raises(JournalError, match="line 1"):
        Journal(path).open()


def test_only_one_miner_per_journal(tmp_path: Path) -> None:
    first = Journal(tmp_path / "j.jsonl")
    first.open()
    with pytest.raises(JournalError, match="in use"):
        Journal(tmp_path / "j.jsonl").open()
    first.close()
    second = Journal(tmp_path / "j.jsonl")
    second.open()
    second.close()


def test_inspect_counts_without_rewriting(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.open()
    journal.add(_record(1))
    journal.add(_record(2))
    journal.finish("id1", "accepted")
    before = path.read_text()
    assert Journal.inspect(path) == 1
    assert path.read_text() == before
    journal.close()
