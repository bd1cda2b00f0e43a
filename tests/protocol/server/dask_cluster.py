"""A real Dask cluster for the work-server tests, over TCP.

:func:`local_cluster`: scheduler and workers in this process (``processes=False`` keeps it light on a
2-core machine: no worker processes to spawn and import the scorers in); the server still talks to it
as to a remote cluster (a TCP address, an asyncio client). :func:`dask_processes`: ``dask scheduler``
and ``dask worker`` processes started by the CLI exactly as ``docs/pool.md`` runs them, for what only
processes show (a worker killed with SIGKILL mid-task).
Without the ``pool`` extra the tests skip, unless ``NEURAXON_REQUIRE_TOOLS`` is set (then they fail).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.protocol.server.helpers import stop_processes

__all__ = ["dask_processes", "local_cluster", "require_dask"]

ROOT = Path(__file__).resolve().parents[3]


def require_dask() -> None:
    """Skip the calling test without Dask distributed (fail when ``NEURAXON_REQUIRE_TOOLS`` is set)."""
    if importlib.util.find_spec("distributed") is None:
        if os.environ.get("NEURAXON_REQUIRE_TOOLS"):
            pytest.fail("Dask distributed is required here (NEURAXON_REQUIRE_TOOLS is set): pip install '.[pool]'")
        pytest.skip("Dask distributed is not installed (the 'pool' extra)")


@asynccontextmanager
async def local_cluster(workers: int = 1, threads: int = 1) -> AsyncIterator[Any]:
    """A started ``distributed.LocalCluster`` on loopback TCP (ephemeral ports); ``.scheduler_address``."""
    from distributed import LocalCluster

    async with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=False, protocol="tcp",
                            host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                            asynchronous=True) as cluster:
        yield cluster


@contextlib.contextmanager
def dask_processes(workers: int, logs: Path) -> Iterator[str]:
    """``dask scheduler`` on a free loopback port and ``workers`` single-threaded ``dask worker`` processes
    with ``--preload protocol.server.dask_verify`` (no nanny: a killed worker stays dead rather than being
    restarted); yields the scheduler's address once every worker has joined. Output goes to ``logs/``.
    The processes can import this checkout (``PYTHONPATH``), so test verifiers unpickle on them."""
    from distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    logs.mkdir(parents=True, exist_ok=True)
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}",
                  "--preload", "protocol.server.dask_verify"] for i in range(workers)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, command in enumerate(commands):
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=(logs / f"dask-{i}.log").open("wb")))
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=180)
        yield address
    finally:
        stop_processes(procs[::-1])  # workers first
