"""The result journal: durable before send, gone only after a verdict, survives torn writes and restarts;
unreadable records are moved to a quarantine file instead of stopping the miner."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from miner.journal import Journal, JournalError, JournalRecord, WorkKey
from protocol import StratumSubmit, encode

WORK = WorkKey("ws://s:1/ws", 0, 1, "t" * 8, "ab" * 32, None, "I" * 60)


def _record(n: int) -> JournalRecord:
    submit = StratumSubmit(job_id="abcdef.1", epoch=1, nonce=f"{n:064x}", claimed_score=1000 + n)
    return JournalRecord(f"id{n}", encode(submit), WORK, "solution", 1000.0 + n)


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


def test_the_pool_of_a_result_survives_a_restart_and_older_records_read_without_one(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.open()
    pooled = dataclasses.replace(_record(1), work=dataclasses.replace(WORK, pool="p" * 32))
    journal.add(pooled)
    journal.add(_record(2))
    journal.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["work"]["pool"] == "p" * 32 and "pool" not in lines[1]["work"]  # as an earlier release wrote
    restored = Journal(path)
    assert [r.work.pool for r in restored.open()] == ["p" * 32, None]
    restored.close()


def test_a_torn_last_line_is_ignored_and_corruption_elsewhere_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.open()
    journal.add(_record(1))
    journal.close()
    with path.open("a") as fh:
        fh.write('{"v":1,"op":"found","id":"id2","sub')  # the process died mid-write
    journal = Journal(path)
    assert [r.result_id for r in journal.open()] == ["id1"] and journal.quarantined == 0
    journal.close()
    assert not journal.quarantine_path.exists()
    path.write_text('garbage\n' + json.dumps({**_record(3).to_json()}) + "\n")
    journal = Journal(path)
    assert [r.result_id for r in journal.open()] == ["id3"] and journal.quarantined == 1
    journal.close()
    assert journal.quarantine_path.read_bytes() == b"garbage\n"


def test_unreadable_records_are_moved_to_quarantine_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.open()
    for n in (1, 2, 3):
        journal.add(_record(n))
    journal.mark_sent("id2")
    journal.close()
    lines = path.read_bytes().split(b"\n")
    bad_utf8 = lines[0].replace(b'"found"', b'"f\xff\xfeund"')  # a flipped byte on disk: not UTF-8
    bad_submit = lines[1].replace(b"abcdef.1", b"abcdef.1\\u0000")  # JSON, but a submit that cannot be sent
    path.write_bytes(b"\n".join([bad_utf8, bad_submit, *lines[2:]]))
    journal = Journal(path)
    restored = journal.open()
    assert [(r.result_id, r.sent) for r in restored] == [("id3", False)]  # id2's "sent" has no result now
    assert journal.quarantined == 2
    assert journal.quarantine_path.read_bytes() == bad_utf8 + b"\n" + bad_submit + b"\n"  # byte for byte
    journal.close()
    assert Journal.inspect(path) == (1, 0)  # the journal itself is clean again
    journal = Journal(path)
    journal.open()
    assert journal.quarantined == 0 and journal.quarantine_path.read_bytes().count(b"\n") == 2
    journal.close()


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
    assert Journal.inspect(path) == (1, 0)
    assert path.read_text() == before
    journal.close()
