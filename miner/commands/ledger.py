"""``neuraxon-miner ledger``: what each account had accepted in a time window, for paying out a pool.

Reads the work server's ledger (``--db``: the SQLite file or the pool's PostgreSQL, as ``workserver``
takes it) and prints per account its accepted solutions, shares and the best score it set on each
task, as a table or ``--json`` (which also counts the results each front-end accepted, by
``--front-end-id``); the same on both databases. The window is ``--since``/``--until``
(ISO 8601 times, UTC unless they say otherwise, or Unix seconds) or the last ``--hours``; default all.
Exit 2 on a bad argument or a ledger that cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["add_database_arguments", "database_from_args", "register"]


def add_database_arguments(group: argparse._ActionsContainer, *, default: str | None) -> None:
    """``--db`` and ``--db-password-file`` (workserver and ledger take the same)."""
    group.add_argument("--db", default=default, required=default is None, metavar="PATH|URL",
                       help="ledger: a SQLite file or sqlite:///PATH, or postgresql://USER@HOST[:PORT]/DB shared "
                            "by several front-ends (the pool extra)" + (f" (default {default})" if default else ""))
    group.add_argument("--db-password-file", type=Path, metavar="FILE",
                       help="PostgreSQL password, first line of FILE (else PGPASSWORD or ~/.pgpass; never in the URL)")


def database_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~protocol.server.database.Database` of ``--db``; raises ValueError naming the problem."""
    from protocol.server.database import parse_database

    password = None
    if args.db_password_file is not None:
        try:
            password = args.db_password_file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            raise ValueError(f"--db-password-file {args.db_password_file}: cannot read a password ({exc})") from None
        if not password:
            raise ValueError(f"--db-password-file {args.db_password_file}: the first line is empty")
    database = parse_database(args.db, password=password)
    if password is not None and not database.is_postgres:
        raise ValueError("--db-password-file is for a postgresql:// --db")
    return database


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ledger", help="per-account accepted solutions, shares and best scores (pool payouts)",
                       description="Print what each account had accepted in a time window from a work server's "
                                   "ledger (SQLite or PostgreSQL). Exit 2 on a bad argument.")
    add_database_arguments(p, default=None)
    p.add_argument("--since", help="window start: ISO 8601 time (UTC unless given) or Unix seconds")
    p.add_argument("--until", help="window end, exclusive (default now)")
    p.add_argument("--hours", type=float, help="the last HOURS hours (instead of --since)")
    p.add_argument("--json", action="store_true",
                   help="print JSON instead of a table (with the results each front-end accepted)")
    p.set_defaults(func=run)


def _when(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not an ISO 8601 time or Unix seconds") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _window(args: argparse.Namespace, now: float) -> tuple[float, float]:
    until = now if args.until is None else _when(args.until, "--until")
    if args.hours is not None:
        if args.since is not None:
            raise ValueError("give either --since or --hours, not both")
        if not (math.isfinite(args.hours) and args.hours > 0):
            raise ValueError(f"--hours must be a positive number, got {args.hours}")
        since = until - args.hours * 3600.0
    else:
        since = 0.0 if args.since is None else _when(args.since, "--since")
    if since >= until:
        raise ValueError("the window is empty: --since must be before --until")
    return since, until


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def run(args: argparse.Namespace) -> int:
    from protocol.server.ledger import Ledger

    try:
        since, until = _window(args, time.time())
        database = database_from_args(args)
        if database.path is not None and not database.path.exists():
            raise ValueError(f"--db {database.path}: no such ledger file")
        ledger = Ledger(database)
    except (ValueError, RuntimeError) as exc:
        print(f"neuraxon-miner ledger: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the database refused us (psycopg.OperationalError, sqlite3.DatabaseError)
        print(f"neuraxon-miner ledger: cannot open {database.describe()}: {exc}", file=sys.stderr)
        return 2
    try:
        rows = ledger.payouts(since, until)
    finally:
        ledger.close()
    if args.json:
        json.dump({"since": _iso(since), "until": _iso(until),
                   "accounts": [{"account": r.account, "solutions": r.solutions, "shares": r.shares,
                                 "best": dict(sorted(r.best.items())), "front_ends": r.front_ends} for r in rows]},
                  sys.stdout, indent=2)
        sys.stdout.write(os.linesep)
        return 0
    print(f"accepted from {_iso(since)} until {_iso(until)} (UTC)")
    print(f"{'account':<60}  {'solutions':>9}  {'shares':>9}  best score per task")
    for r in rows:
        best = ", ".join(f"{task[:16]}={score}" for task, score in sorted(r.best.items())) or "-"
        print(f"{r.account:<60}  {r.solutions:>9}  {r.shares:>9}  {best}")
    print(f"{len(rows)} accounts, {sum(r.solutions for r in rows)} solutions, {sum(r.shares for r in rows)} shares")
    return 0
