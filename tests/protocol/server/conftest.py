"""Fixtures of the work-server tests: the ledger's two databases (a SQLite file and a real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.server.database import Database, parse_database
from tests.postgres import PASSWORD, PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster for the whole run (each test takes a database of its own)."""
    with postgres_server() as server:
        yield server


@dataclass(frozen=True)
class LedgerTarget:
    """A fresh, empty ledger location: ``db`` to open it, ``arg`` as ``--db`` takes it."""

    db: Database
    arg: str


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerTarget:
    """The same ledger tests on both backends."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite"
        return LedgerTarget(parse_database(path), str(path))
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    return LedgerTarget(parse_database(url, password=PASSWORD), url)
