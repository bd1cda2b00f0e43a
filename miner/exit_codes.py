"""Exit codes of ``neuraxon-miner`` (documented in the README; supervisors act on them).

==  =======================================================================================
0   clean exit (also after SIGTERM/SIGINT, pending results flushed or kept in the journal)
1   unexpected error (a bug: the traceback is logged)
2   bad configuration or usage (the message names the key and the reason)
3   self-test failed: a scorer computed a wrong known answer (do not mine on this machine)
4   the result journal cannot be opened (unwritable, corrupt, or used by another miner)
5   ``--dry-run``: no server answered; ``healthcheck``: the miner is not healthy
6   the API port cannot be bound (in use, or not permitted)
42  stall watchdog: there was work but no iteration finished for ``stall_timeout_seconds``;
    the supervisor should restart the miner (lolMiner's convention)
==  =======================================================================================
"""

from __future__ import annotations

__all__ = [
    "EXIT_API_BIND",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_JOURNAL",
    "EXIT_OK",
    "EXIT_SELF_TEST",
    "EXIT_STALLED",
    "EXIT_UNHEALTHY",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_SELF_TEST = 3
EXIT_JOURNAL = 4
EXIT_UNHEALTHY = 5
EXIT_API_BIND = 6
EXIT_STALLED = 42
