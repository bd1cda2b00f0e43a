"""The reference work server: jobs out, every claimed score recomputed, a real ledger, cumulative training.

Layout:

* :mod:`~protocol.server.config` — :class:`ServerConfig` (every knob);
* :mod:`~protocol.server.tasks` — :class:`TaskEntry`, the default and demo task sets;
* :mod:`~protocol.server.service` — :class:`WorkService`, the transport-independent rules;
* :mod:`~protocol.server.training` — cumulative training (best networks, parents) and calibration;
* :mod:`~protocol.server.connection` / :mod:`~protocol.server.app` — WebSocket and HTTP endpoints;
* :mod:`~protocol.server.admission` — connection admission at accept time, deadlines, lingering closes;
* :mod:`~protocol.server.scheduling` — fair verification scheduling in front of the pool;
* :mod:`~protocol.server.abuse` — bans for repeated wrong claims and floods;
* :mod:`~protocol.server.verify` — the :class:`Verifier` interface (one implementation over the
  scoring registry) and the verification pool;
* :mod:`~protocol.server.ledger` — SQLite (WAL) ledger; :mod:`~protocol.server.vardiff` — share bars;
* :mod:`~protocol.server.server` — :class:`WorkServer`; :mod:`~protocol.server.embedded` —
  :func:`start_embedded` for the miner's zero-config default.

Importing this package loads the scorer (numba); the wire models in :mod:`protocol` do not need it.
See ``docs/workserver.md``.
"""

from protocol.server.config import IdleSchedule, ServerConfig
from protocol.server.embedded import EmbeddedServer, start_embedded
from protocol.server.server import WorkServer
from protocol.server.service import DEFAULT_POOL_IDENTITY, WorkService
from protocol.server.tasks import DEMO_THRESHOLD, TaskEntry, default_tasks, demo_tasks, neuraxon_task
from protocol.server.verify import ScoringVerifier, Verifier, VerifyOutcome, VerifyRequest

__all__ = [
    "DEFAULT_POOL_IDENTITY",
    "DEMO_THRESHOLD",
    "EmbeddedServer",
    "IdleSchedule",
    "ScoringVerifier",
    "ServerConfig",
    "TaskEntry",
    "Verifier",
    "VerifyOutcome",
    "VerifyRequest",
    "WorkServer",
    "WorkService",
    "default_tasks",
    "demo_tasks",
    "neuraxon_task",
    "start_embedded",
]
