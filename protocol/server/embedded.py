"""Embedded mode: the reference work server in-process on an ephemeral loopback port, with a demo task.

The miner's zero-config default. Typical use, inside a running event loop::

    from protocol.server.embedded import start_embedded

    server = await start_embedded()            # or: async with await start_embedded() as server:
    connect(server.ws_url)                     # ws://127.0.0.1:<port>/ws
    ...
    await server.close()

The demo task is the default Neuraxon task at :data:`~protocol.server.tasks.DEMO_THRESHOLD` (about one
walk in 12 is a solution, so a 2-core machine finds some within seconds), with cumulative training:
each new best network becomes the parent of the next jobs. ``algo`` (the miner's ``--algo``) offers
bpp9000 instead: ``bpp9000`` (core v1.305 on its production task, a chain) or ``bpp9000-v1301``.
Any wallet may log in (no token needed); :attr:`EmbeddedServer.login_token` is accepted too.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from protocol.server.config import ServerConfig
from protocol.server.server import WorkServer
from protocol.server.service import WorkService
from protocol.server.tasks import DEMO_THRESHOLD, TaskEntry, demo_tasks

__all__ = ["EmbeddedServer", "start_embedded"]


class EmbeddedServer:
    """A started in-process work server: its URLs, tokens, and :meth:`close`."""

    def __init__(self, server: WorkServer, login_token: str, admin_token: str) -> None:
        self._server = server
        #: An access token the server accepts at login (wallet logins work as well).
        self.login_token = login_token
        #: Bearer token of the admin endpoints (``POST /api/v1/admin/state``, ``GET /api/v1/workers``).
        self.admin_token = admin_token

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return self._server.ws_url

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>`` (pull mode: ``/api/v1/job``, ``/api/v1/submit``)."""
        return self._server.http_url

    @property
    def port(self) -> int:
        """The ephemeral port."""
        return self._server.port

    @property
    def config(self) -> ServerConfig:
        """The configuration it runs with."""
        return self._server.config

    @property
    def service(self) -> WorkService:
        """The server's state and rules (for tests and the miner's status page)."""
        return self._server.service

    def set_idle(self, idle: bool) -> None:
        """Switch idle jobs (all-zero seed) on or off; connected miners get a new job at once."""
        self._server.service.set_idle(idle)

    async def close(self) -> None:
        """Stop the server (connected miners get SHUTTING_DOWN) and close its ledger."""
        await self._server.close()

    async def __aenter__(self) -> EmbeddedServer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


#: The demo publishes a new best network as the jobs' parent at most every 30 s, like a pool: a
#: newcomer sees solutions accepted instead of nearly all of them turned stale by the last one.
DEMO_PARENT_REFRESH_SECONDS = 30.0
#: Walks sampled from each new parent to set its jobs' threshold (solutions as rare as on the root).
DEMO_PARENT_BAR_WALKS = 32


#: What ``start_embedded(algo=...)`` (the miner's ``--algo``) can offer: registry entry names.
DEMO_ALGOS = ("neuraxon", "bpp9000", "bpp9000-v1301")


#: Solution bar of the embedded v1.301 demo (lower is better): about the median of production-config
#: walks on the demo seed (6 sampled 2026-12: 4178-5177).
DEMO_V1301_THRESHOLD = 4450


def _demo_algo_settings(algo: str) -> tuple[list[TaskEntry], dict[str, Any]]:
    # bpp9000 walks take seconds each: no calibration or parent-bar sampling (they would keep the
    # one verifier busy for minutes); a chain's parent is published as soon as it is the best.
    from protocol.server.bpp9000 import DEMO_SEED, bpp9000_task, demo_frame_task  # noqa: PLC0415 - loads numba
    from scoring.algorithms.bpp9000_v1305 import PRODUCTION_TASK_FILE  # noqa: PLC0415

    quiet = {"calibration_walks": 0, "parent_bar_walks": 0, "parent_refresh_seconds": 0.0}
    if algo == "bpp9000":
        return [demo_frame_task()], quiet
    if algo == "bpp9000-v1301":
        return [bpp9000_task(PRODUCTION_TASK_FILE.read_bytes(), seed=DEMO_SEED, name="bpp9000-v1301-demo",
                             threshold=DEMO_V1301_THRESHOLD)], quiet
    raise ValueError(f"the embedded work server offers {', '.join(DEMO_ALGOS)}, not {algo!r}")


async def start_embedded(db_path: Path | str | None = None, *, tasks: Sequence[TaskEntry] | None = None,
                         threshold: int = DEMO_THRESHOLD, training: bool = True, verify_workers: int = 1,
                         algo: str = "neuraxon", **overrides: Any) -> EmbeddedServer:
    """Start the demo work server on ``127.0.0.1`` with an ephemeral port and return it.

    * ``db_path`` — SQLite ledger file; ``None`` keeps the ledger in memory.
    * ``tasks`` — the task set (default: :func:`~protocol.server.tasks.demo_tasks` at ``threshold``,
      with cumulative ``training``).
    * ``verify_workers`` — verification threads (1: the miner in the same process wants the cores).
    * ``algo`` — without ``tasks``, what the demo offers (:data:`DEMO_ALGOS`): the Neuraxon demo task,
      the current bpp9000 (v1.305, production task and config, a chain) or bpp9000 v1.301.
    * ``overrides`` — any other :class:`ServerConfig` field (e.g. ``share_interval_seconds``).
    """
    algo_overrides: dict[str, Any] = {}
    if tasks is None and algo != "neuraxon":
        tasks, algo_overrides = _demo_algo_settings(algo)
    login_token = secrets.token_urlsafe(16)
    admin_token = secrets.token_urlsafe(16)
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        db_path=None if db_path is None else Path(db_path),
        tasks=tuple(tasks) if tasks is not None else tuple(demo_tasks(threshold=threshold, training=training)),
        access_tokens=frozenset({login_token}),
        admin_token=admin_token,
        verify_workers=verify_workers,
        calibration_walks=32,
        # Not niced: the miner's threads take every core, and a niced verifier would get a tenth of
        # one, so results would queue for verification until the next parent turned them stale.
        verify_nice=0,
        parent_refresh_seconds=DEMO_PARENT_REFRESH_SECONDS,
        parent_bar_walks=DEMO_PARENT_BAR_WALKS,
    )
    if algo_overrides or overrides:
        config = config.replace(**{**algo_overrides, **overrides})
    server = WorkServer(config)
    await server.start()
    return EmbeddedServer(server, login_token, admin_token)
