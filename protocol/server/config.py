"""Settings of the work server: one frozen dataclass, every knob documented with its unit."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from protocol.fields import Algo
from protocol.server.abuse import AbusePolicy
from protocol.server.database import Database
from protocol.server.tasks import TaskEntry

if TYPE_CHECKING:
    from protocol.server.verify import Verifier

__all__ = ["VERIFIER_SCHEMES", "IdleSchedule", "ServerConfig"]

#: Address schemes of a Dask scheduler that ``verifier`` accepts.
VERIFIER_SCHEMES = ("tcp://", "tls://")

#: A front-end id: what a host name, an address and a port are made of, as a log field and label value.
_FRONT_END_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/\[\]-]{0,127}")


@dataclass(frozen=True)
class IdleSchedule:
    """A fixed work/idle cycle on the wall clock: ``work_seconds`` of work, then ``idle_seconds``
    of idle (all-zero seed), repeating; cycles start at multiples of the period since the Unix epoch,
    so every server with the same schedule agrees."""

    work_seconds: float
    idle_seconds: float

    def __post_init__(self) -> None:
        if self.work_seconds <= 0 or self.idle_seconds <= 0:
            raise ValueError("idle schedule: work and idle seconds must be positive")

    def is_idle(self, now: float) -> bool:
        """Whether the wall-clock time ``now`` (Unix seconds) falls in an idle phase."""
        return now % (self.work_seconds + self.idle_seconds) >= self.work_seconds


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs; the defaults suit a small pool on one machine.

    Authentication: a login with ``AccessToken`` must present one of ``access_tokens``; a login with
    ``Wallet`` is accepted when ``allow_wallets`` (and, if ``wallet_allowlist`` is set, only for
    those identities). Jobs are for ``identity`` (the pool's key) when set, else for the login's
    wallet; token logins without a pool identity mine for :data:`~protocol.server.service.DEFAULT_POOL_IDENTITY`.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    #: This front-end's name in its log lines (``front_end``) and metrics (``workserver_front_end_info``);
    #: ``None``: ``HOST:PORT``, this machine's host name and the port it listens on
    #: (:attr:`~protocol.server.server.WorkServer.front_end_id`).
    front_end_id: str | None = None
    #: SQLite ledger file; ``None`` keeps the ledger in memory (nothing survives a restart).
    db_path: Path | None = None
    #: The ledger's database when given as ``--db`` (a SQLite path or a PostgreSQL URL shared by several
    #: front-ends, see :mod:`protocol.server.database`); takes precedence over ``db_path``.
    database: Database | None = None
    #: Tasks to hand out (the first one is the default for new sessions); empty = the default task.
    tasks: tuple[TaskEntry, ...] = ()
    epoch: int = 1
    identity: str | None = None
    access_tokens: frozenset[str] = frozenset()
    allow_wallets: bool = True
    wallet_allowlist: frozenset[str] | None = None
    #: Bearer token of ``POST /api/v1/admin/state`` and ``GET /api/v1/workers``; ``None`` disables admin.
    admin_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Largest client frame (WebSocket message or HTTP body) in bytes; larger gets FRAME_TOO_LARGE.
    max_frame_bytes: int = 64 * 1024
    #: Per-connection token bucket: sustained messages per second and burst size.
    messages_per_second: float = 20.0
    message_burst: int = 40
    #: Consecutive malformed frames before the connection is closed (protocol.CLOSE_POLICY).
    max_strikes: int = 16
    #: Messages a connection may send over its rate limit before it is closed as a flood (a budget
    #: that refills at ``messages_per_second``); only the first of a run gets a RATE_LIMITED ack.
    max_rate_strikes: int = 64
    #: Fair verification (``protocol.server.scheduling``): submissions queued or running in total,
    #: per account and per connection before SERVER_BUSY.
    max_pending_verifications: int = 256
    max_inflight_per_account: int = 32
    max_inflight_per_session: int = 16
    #: Bans for repeated wrong claims and floods, and their backoff (``protocol.server.abuse``).
    abuse: AbusePolicy = field(default_factory=AbusePolicy)
    #: Admission (``protocol.server.admission``): connections per client address (0: no cap); a new
    #: connection must make its first request (the WebSocket upgrade) within ``handshake_timeout_seconds``;
    #: an HTTP connection idle between requests is closed after ``keepalive_timeout_seconds``.
    max_connections_per_address: int = 256
    handshake_timeout_seconds: float = 10.0
    keepalive_timeout_seconds: float = 15.0
    #: WebSocket pings: a session that neither sends anything nor answers a ping within 1.5 times
    #: this is closed (aiohttp's heartbeat: the pong is due within half the interval).
    ping_interval_seconds: float = 30.0
    verify_workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    #: ``thread``: a thread pool (numba releases the GIL); ``process``: separate processes.
    verify_mode: Literal["thread", "process"] = "thread"
    #: Where verification runs: ``local`` (the pool above, in this process) or the address of a Dask
    #: scheduler (``tcp://host:8786``; needs the ``pool`` extra, see ``docs/pool.md``).
    verifier: str = "local"
    #: Seconds to wait for the Dask scheduler at start (then the server refuses to start).
    verifier_connect_seconds: float = 10.0
    #: Nice increment of verification workers, so the network loop keeps priority (0 = off).
    verify_nice: int = 10
    #: Full garbage collections at most this often, run by the server between job pushes instead of by
    #: Python when allocation crosses its threshold — which happens in a push, and stalls it for the
    #: time a pass over every session's objects takes (tens of ms at 1,000 sessions). ``None`` leaves
    #: Python's automatic full collections on (embedded mode: the miner's process is not the server's).
    full_gc_seconds: float | None = None
    #: Seconds between periodic job pushes (Pool Connect sends one about every 30 s).
    job_interval_seconds: float = 30.0
    #: Cumulative training: a new best network becomes the parent of jobs at most this often. Until
    #: then solutions against the current parent stay valid (and are accepted), so a fleet does not
    #: turn every in-flight result stale on each improvement; 0 publishes every new best at once.
    parent_refresh_seconds: float = 0.0
    #: Cumulative training: before a best network is published as the parent, sample this many walks
    #: from it and set its jobs' ``Threshold`` to the score that a walk from the parent reaches about as
    #: often as a walk from the root reaches the task's threshold — so solutions stay as rare as on the
    #: root instead of nearly every walk (which improves on its parent) being one, which would flood
    #: verification. Needs the root's score distribution (``calibration_walks``). 0: any improvement
    #: on the parent that meets the task's threshold is a solution.
    parent_bar_walks: int = 0
    #: Vardiff: target seconds between shares per worker, and the retarget window in seconds.
    vardiff: bool = True
    share_interval_seconds: float = 15.0
    retarget_seconds: float = 60.0
    #: Walks computed per task at start-up to learn its score distribution (vardiff); cached in the ledger.
    calibration_walks: int = 64
    idle: bool = False
    idle_schedule: IdleSchedule | None = None
    #: A WebSocket connection must log in this long after its upgrade.
    login_timeout_seconds: float = 15.0
    #: Send the task inline as ``Task`` instead of ``TaskUrl`` + ``TaskHash`` (the miner downloads it
    #: once; jobs stay small, which matters when a change is pushed to thousands of connections).
    inline_task: bool = False
    #: Send ``Parent.Network`` inline instead of ``NetworkUrl`` + ``NetworkHash``.
    inline_parent: bool = False
    #: Jobs remembered for submit checks; older ones answer STALE_JOB.
    job_retention: int = 100_000
    #: Pull-mode sessions (per account and worker) expire after this many idle seconds.
    pull_session_ttl_seconds: float = 600.0
    #: Replace the verifier of an algorithm (tests stub them); ``None`` = the built-in ones.
    verifiers: Mapping[Algo, Verifier] | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and a key")
        if self.max_frame_bytes < 1024:
            raise ValueError("max_frame_bytes must be at least 1024")
        if self.messages_per_second <= 0 or self.message_burst < 1:
            raise ValueError("rate limit must be positive")
        if self.verify_workers < 1:
            raise ValueError("verify_workers must be >= 1")
        if self.verify_mode not in ("thread", "process"):
            raise ValueError("verify_mode must be 'thread' or 'process'")
        if self.verifier != "local" and not self.verifier.startswith(VERIFIER_SCHEMES):
            raise ValueError(f"verifier must be 'local' or a Dask scheduler address "
                             f"({', '.join(s + 'host:port' for s in VERIFIER_SCHEMES)}), got {self.verifier!r}")
        if self.front_end_id is not None and not _FRONT_END_ID.fullmatch(self.front_end_id):
            raise ValueError(f"front-end id {self.front_end_id!r}: 1 to 128 letters, digits and ._:@/[]- "
                             "(starting with a letter or digit)")
        if self.verifier_connect_seconds <= 0:
            raise ValueError("verifier_connect_seconds must be positive")
        if not 0 <= self.epoch <= 0xFFFF:
            raise ValueError("epoch must be 0..65535")
        if self.calibration_walks < 0:
            raise ValueError(f"calibration_walks must be >= 0, got {self.calibration_walks}")
        if self.parent_bar_walks < 0:
            raise ValueError(f"parent_bar_walks must be >= 0, got {self.parent_bar_walks}")
        if self.parent_refresh_seconds < 0:
            raise ValueError(f"parent_refresh_seconds must be >= 0, got {self.parent_refresh_seconds}")
        if self.job_interval_seconds <= 0 or self.share_interval_seconds <= 0 or self.retarget_seconds <= 0:
            raise ValueError("intervals must be positive")
        if min(self.max_pending_verifications, self.max_inflight_per_account, self.max_inflight_per_session,
               self.max_rate_strikes) < 1:
            raise ValueError("verification bounds and max_rate_strikes must be >= 1")
        if self.max_connections_per_address < 0:
            raise ValueError("max_connections_per_address must be >= 0 (0: no cap)")
        if min(self.handshake_timeout_seconds, self.keepalive_timeout_seconds, self.ping_interval_seconds,
               self.login_timeout_seconds) <= 0:
            raise ValueError("timeouts must be positive")
        if self.full_gc_seconds is not None and self.full_gc_seconds <= 0:
            raise ValueError("full_gc_seconds must be positive (None: Python's automatic full collections)")
        ids = [t.task_id for t in self.tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("task ids must be distinct")

    def replace(self, **changes: Any) -> ServerConfig:
        """A modified copy (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def tls(self) -> bool:
        """Whether the server listens with TLS."""
        return self.tls_cert is not None

    def with_tasks(self, tasks: Sequence[TaskEntry]) -> ServerConfig:
        """A copy serving ``tasks``."""
        return self.replace(tasks=tuple(tasks))
