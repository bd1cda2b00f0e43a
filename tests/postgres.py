"""A real PostgreSQL for tests: a fresh cluster (Debian's ``initdb``/``pg_ctl`` from
``/usr/lib/postgresql/*/bin``) in a temporary directory, listening on 127.0.0.1 at an ephemeral port,
with password authentication over TCP (as a pool operator would run it). As root the cluster runs as
the ``postgres`` user (PostgreSQL refuses root), its directory owned by it.

Skips when PostgreSQL or psycopg is missing, unless ``NEURAXON_REQUIRE_TOOLS=1`` (CI), where it fails.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "pool-secret"
USER = "neuraxon"


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster: ``url(db)`` names a database on it (no password: see :attr:`password_file`)."""

    host: str
    port: int
    password_file: Path

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), password=PASSWORD, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _unavailable(reason: str) -> None:
    if os.environ.get("NEURAXON_REQUIRE_TOOLS"):
        pytest.fail(f"PostgreSQL tests need {reason} (NEURAXON_REQUIRE_TOOLS is set)")
    pytest.skip(f"PostgreSQL tests need {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a throw-away cluster; stop it and remove its files on exit. Tests run it with ``fsync=off``;
    ``durable`` keeps PostgreSQL's default (a commit is flushed to disk), as benchmarks of writes need."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg (pip install -e '.[test]')")
    bindir = _bin_dir()
    if bindir is None:
        _unavailable("initdb and pg_ctl (apt-get install postgresql)")
    assert bindir is not None
    as_user: list[str] = []
    root = os.geteuid() == 0
    if root:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("a 'postgres' user to run the server as (it refuses root)")
        as_user = ["runuser", "-u", "postgres", "--"]
    top = Path(tempfile.mkdtemp(prefix="neuraxon-pg-"))
    data, pwfile = top / "data", top / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if root:
        shutil.chown(top, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    log = top / "server.log"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)

    def stop() -> None:  # idempotent: the fixture's teardown, or at exit if a teardown never ran
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, check=False)
        shutil.rmtree(top, ignore_errors=True)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile), "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={top}"
        if not durable:
            options += " -c fsync=off"
        atexit.register(stop)
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        yield PostgresServer("127.0.0.1", port, pwfile)
    except subprocess.CalledProcessError as exc:
        detail = log.read_text()[-2000:] if log.exists() else ""
        raise AssertionError(f"PostgreSQL failed: {exc.cmd}: {exc.stderr}\n{detail}") from None
    finally:
        stop()
        atexit.unregister(stop)
