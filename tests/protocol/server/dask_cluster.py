"""A real Dask cluster for the work-server tests: scheduler and workers in this process, over TCP.

``processes=False`` keeps it light on a 2-core machine (no worker processes to spawn and import the
scorers in); the server still talks to it as to a remote cluster (a TCP address, an asyncio client).
Without the ``pool`` extra the tests skip, unless ``NEURAXON_REQUIRE_TOOLS`` is set (then they fail).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

__all__ = ["local_cluster", "require_dask"]


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
