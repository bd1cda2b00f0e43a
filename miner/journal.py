"""The result journal: every found result is on disk before it is sent, and leaves only after a verdict.

The journal is a JSON-lines file of three record kinds, each written with ``fsync`` before the
call returns:

* ``found`` — a new result: its id, the encoded ``StratumSubmit`` (the wire text, decoded again on
  replay), the server and work it belongs to, its kind (solution or share) and when it was found;
* ``sent`` — the result is going out (written before each send, with the time): an answer may be
  lost, so it is sent again only after the submit timeout has passed since, and then a
  ``DUPLICATE`` answer means the earlier send was recorded;
* ``done`` — a definitive verdict (accepted, rejected, stale or error): the result is finished.

Opening the journal replays it, keeps the results without a ``done`` record, and rewrites the file
atomically with only those (temporary file, fsync, rename, fsync of the directory), so the file
never grows without bound. A torn last line (a crash mid-write) is ignored: its ``fsync`` never
returned, so its result was never sent.

A record that cannot be read — not UTF-8, not JSON, or not a valid record (a ``found`` record whose
submit does not decode, for instance) — must not stop the miner from starting (under systemd that is
a restart loop), nor be lost: its line is appended, as it was, to ``<journal>.quarantine`` (fsynced
before the journal is rewritten without it), :attr:`Journal.quarantined` counts it, and the miner
warns and counts it in ``neuraxon_miner_journal_quarantined_total``. A damaged ``done`` record makes
its result be sent again, which the server answers ``DUPLICATE`` (counted accepted once).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from protocol.codec import decode_as
from protocol.errors import ProtocolError
from protocol.fields import Algo
from protocol.messages import StratumSubmit

__all__ = ["JOURNAL_VERSION", "Journal", "JournalError", "JournalRecord", "WorkKey"]

#: Format version written into every record (``v``).
JOURNAL_VERSION = 1
#: Rewrite the file once this many finished records have accumulated.
_COMPACT_AFTER = 2000

Verdict = Literal["accepted", "rejected", "stale", "error"]


class JournalError(Exception):
    """The journal cannot be read or written (the miner refuses to mine without it)."""


@dataclass(frozen=True)
class WorkKey:
    """What a result was computed for; two jobs with equal keys are the same work on the same server.

    ``random_seed`` is the server's seed of the work (it changes with the epoch, the task and the
    parent), so equal keys mean a result found for one job is still good for the other.
    """

    server: str
    algo: int
    epoch: int
    task_id: str
    random_seed: str
    parent_id: str | None
    identity: str
    #: The server's ``PoolId``: another server with the same one can settle a result of this work. Not
    #: part of the work's identity (a journal of an earlier release has none).
    pool: str | None = field(default=None, compare=False)


def _work_json(work: WorkKey) -> dict[str, Any]:
    # "pool" only when there is one: a journal without pools stays readable by releases before it.
    return {k: v for k, v in asdict(work).items() if k != "pool" or v is not None}


@dataclass(frozen=True)
class JournalRecord:
    """One unfinished result as stored: ``submit`` is the canonical wire text of its ``StratumSubmit``."""

    result_id: str
    submit: str
    work: WorkKey
    kind: Literal["solution", "share"]
    found_at: float
    sent: bool = False
    #: Wall-clock time of the last ``sent`` record (``None`` if never sent).
    sent_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``found`` record."""
        return {"v": JOURNAL_VERSION, "op": "found", "id": self.result_id, "submit": self.submit,
                "work": _work_json(self.work), "kind": self.kind, "found_at": self.found_at}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> JournalRecord:
        """Parse a ``found`` record (``KeyError``/``TypeError``/``ValueError`` if malformed, including a
        submit that does not decode or an unknown algorithm: what the miner could not resend)."""
        kind = obj["kind"]
        if kind not in ("solution", "share"):
            raise ValueError(f"unknown result kind {kind!r}")
        record = cls(str(obj["id"]), str(obj["submit"]), WorkKey(**obj["work"]), kind, float(obj["found_at"]))
        Algo(record.work.algo)
        try:
            decode_as(record.submit, StratumSubmit)
        except ProtocolError as exc:
            raise ValueError(f"the stored submit does not decode: {exc.message}") from None
        return record


class Journal:
    """The journal file of one miner. Thread-safe; every write is fsynced before returning.

    Only one process may use a journal at a time: :meth:`open` takes an exclusive ``flock`` and
    raises :class:`JournalError` when another miner holds it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh: Any = None
        self._lock_fh: Any = None
        self._pending: dict[str, JournalRecord] = {}
        self._finished_since_compact = 0
        #: Unreadable lines moved to :attr:`quarantine_path` by the last :meth:`open`.
        self.quarantined = 0

    @property
    def quarantine_path(self) -> Path:
        """Where unreadable records go: ``<journal>.quarantine``."""
        return self.path.with_name(self.path.name + ".quarantine")

    # -- lifecycle --------------------------------------------------------------------------------

    def open(self) -> list[JournalRecord]:
        """Replay and compact the file; returns the unfinished results, oldest first."""
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._take_lock()
                records, unreadable = self._replay()
                if unreadable:
                    self._quarantine(unreadable)  # on disk before the rewrite drops them from the journal
                self.quarantined = len(unreadable)
                self._pending = {r.result_id: r for r in records}
                self._rewrite()
                self._fh = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                self._release_lock()
                raise JournalError(f"journal {self.path}: {exc.strerror or exc}") from None
            except JournalError:
                self._release_lock()
                raise
            return list(self._pending.values())

    def _take_lock(self) -> None:
        # A lock file beside the journal, held while the journal is open: the journal itself is
        # replaced by renames, which would silently drop a lock taken on it.
        self._lock_fh = self.path.with_name(self.path.name + ".lock").open("a")
        try:
            import fcntl  # noqa: PLC0415 - POSIX only

            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            return
        except BlockingIOError:
            raise JournalError(f"journal {self.path} is in use by another miner process") from None

    def _release_lock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing the descriptor releases the flock
            self._lock_fh = None

    def close(self) -> None:
        """Close the file (pending results stay in it for the next start)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            self._release_lock()

    @classmethod
    def inspect(cls, path: Path) -> tuple[int, int]:
        """``(unfinished results, unreadable lines)`` of the journal at ``path``, without locking,
        rewriting or quarantining anything.

        Raises :class:`JournalError` if it cannot be read or its directory cannot be created or written.
        """
        journal = cls(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(path.parent, os.W_OK):
                raise JournalError(f"journal directory {path.parent} is not writable")
            records, unreadable = journal._replay()
            return len(records), len(unreadable)
        except OSError as exc:
            raise JournalError(f"journal {path}: {exc.strerror or exc}") from None

    def _replay(self) -> tuple[list[JournalRecord], list[bytes]]:
        """The unfinished results, and the raw lines that could not be read (in file order)."""
        if not self.path.exists():
            return [], []
        found: dict[str, JournalRecord] = {}
        unreadable: list[bytes] = []
        lines = self.path.read_bytes().split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
                op = obj["op"]
                if op == "found":
                    record = JournalRecord.from_json(obj)
                    found.setdefault(record.result_id, record)
                elif op == "sent":
                    rec = found.get(str(obj["id"]))
                    at = float(obj.get("at", time.time()))
                    if rec is not None:
                        found[rec.result_id] = JournalRecord(rec.result_id, rec.submit, rec.work, rec.kind,
                                                             rec.found_at, True, at)
                elif op == "done":
                    found.pop(str(obj["id"]), None)
                else:
                    raise ValueError(f"unknown op {op!r}")
            except (ValueError, KeyError, TypeError, AttributeError):  # UnicodeDecodeError is a ValueError
                if number >= len(lines) - 1:
                    continue  # a torn last line: its write never completed, its result was never sent
                unreadable.append(raw)
        return list(found.values()), unreadable

    def _quarantine(self, lines: list[bytes]) -> None:
        with self.quarantine_path.open("ab") as fh:
            for raw in lines:
                fh.write(raw + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._fsync_dir()

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in self._pending.values():
                fh.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
                if record.sent:
                    sent = {**self._op("sent", record.result_id), "at": record.sent_at or time.time()}
                    fh.write(json.dumps(sent, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._fsync_dir()
        self._finished_since_compact = 0

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- records ----------------------------------------------------------------------------------

    @staticmethod
    def _op(op: str, result_id: str, **extra: Any) -> dict[str, Any]:
        return {"v": JOURNAL_VERSION, "op": op, "id": result_id, "at": time.time(), **extra}

    def _append(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            raise JournalError(f"journal {self.path} is not open")
        try:
            self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise JournalError(f"journal {self.path}: {exc.strerror or exc}") from None

    def add(self, record: JournalRecord) -> None:
        """Store a new result (durable when this returns)."""
        with self._lock:
            self._append(record.to_json())
            self._pending[record.result_id] = record

    def mark_sent(self, result_id: str) -> None:
        """Note that the result is being sent (durable when this returns)."""
        with self._lock:
            rec = self._pending.get(result_id)
            if rec is None:
                return
            op = self._op("sent", result_id)
            self._append(op)
            self._pending[result_id] = JournalRecord(rec.result_id, rec.submit, rec.work, rec.kind, rec.found_at, True,
                                                     op["at"])

    def finish(self, result_id: str, verdict: Verdict, code: int | None = None, reason: str = "") -> None:
        """Record the definitive verdict; the result leaves the journal."""
        with self._lock:
            if self._pending.pop(result_id, None) is None:
                return
            self._append(self._op("done", result_id, verdict=verdict, code=code, reason=reason[:200]))
            self._finished_since_compact += 1
            if self._finished_since_compact >= _COMPACT_AFTER or not self._pending:
                self._compact_locked()

    def _compact_locked(self) -> None:
        if self._fh is None:
            return
        try:
            self._rewrite()
            # The rename replaced the file under the open handle: append to the new file.
            self._fh.close()
            self._fh = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise JournalError(f"journal {self.path}: {exc.strerror or exc}") from None

    def pending(self) -> list[JournalRecord]:
        """The unfinished results, oldest first."""
        with self._lock:
            return list(self._pending.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
