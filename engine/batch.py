"""Many independent networks at once, on all cores.

The step kernels are compiled ``nogil``, so plain threads run them in parallel; each thread owns
whole networks (nothing is shared), which keeps every network's result independent of the thread
count and of scheduling.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import numpy.typing as npt

__all__ = ["Runnable", "default_threads", "run_many"]

R_co = TypeVar("R_co", covariant=True)


class Runnable(Protocol[R_co]):
    """A network with ``run(n_steps, inputs=..., record=...)``: v1 ``Network`` or v2 ``NetworkV2``."""

    def run(self, n_steps: int, *, inputs: Any = None, external: Any = None, record: Any = ()) -> R_co: ...


def default_threads() -> int:
    """CPUs this process may use (affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def run_many(networks: Sequence[Runnable[R_co]], n_steps: int, *, inputs: npt.ArrayLike | None = None,
             record: Sequence[str] = (), threads: int | None = None) -> list[R_co]:
    """Run every network ``n_steps`` steps (same input schedule for all), ``threads`` at a time.

    Works for v1 and v2 networks alike; returns each network's run record, in order. Results do
    not depend on ``threads``.
    """
    threads = default_threads() if threads is None else threads
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads == 1 or len(networks) <= 1:
        return [net.run(n_steps, inputs=inputs, record=record) for net in networks]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engine") as pool:
        futures = [pool.submit(net.run, n_steps, inputs=inputs, record=record) for net in networks]
        return [f.result() for f in futures]
