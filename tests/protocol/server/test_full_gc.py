"""The server's full garbage collections run between job pushes, not inside one (``full_gc_seconds``).

Python starts a full collection when allocation crosses its threshold, and a push allocates a job per
session: with a thousand sessions every few dozen pushes stalled for a pass over all their objects
(``benchmarks/pool_scale.py`` measured that round at twice the others' p99). With ``full_gc_seconds``
the server takes the full collections over and runs them from its tick, while no broadcast runs.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from protocol import StratumJob
from protocol.server.config import ServerConfig
from tests.protocol.server.helpers import ADMIN, Miner, run, serving, small_config, until


@contextlib.contextmanager
def _full_collections(service: Any) -> Iterator[list[int]]:
    """For each full collection while inside: how many broadcasts were running when it started."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(service._broadcasting)

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def test_full_collections_run_from_the_tick_between_pushes_and_the_thresholds_come_back() -> None:
    before = gc.get_threshold()

    async def body() -> None:
        async with serving(small_config(training=False, full_gc_seconds=0.3)) as server:
            service = server.service
            assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 10**9  # none automatic
            async with contextlib.AsyncExitStack() as stack:
                miners = [await stack.enter_async_context(Miner.connect(server.ws_url, f"m{i}")) for i in range(30)]
                for miner in miners:
                    await miner.login()
                with _full_collections(service) as seen:
                    for epoch in range(2, 12):  # ten pushes to every session, garbage made in between
                        junk = [[object() for _ in range(50)] for _ in range(2000)]
                        junk.append(junk)  # a cycle only a full collection frees
                        del junk
                        async with miners[0].http.post(server.http_url + "/api/v1/admin/state",
                                                       data=f'{{"Epoch":{epoch}}}'.encode(),
                                                       headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
                            assert resp.status == 200
                        for miner in miners:
                            assert (await miner.expect(StratumJob)).epoch == epoch

                    async def collected() -> bool:
                        return bool(seen)

                    await until(collected, 10)
                assert seen and all(running == 0 for running in seen), seen  # never inside a push
                async with miners[0].http.get(server.http_url + "/metrics") as resp:
                    text = await resp.text()
                (count,) = [float(line.split()[1]) for line in text.splitlines()
                            if line.startswith("workserver_full_gc_seconds_count ")]
                assert count >= len(seen) >= 1  # each timed for the dashboard
        assert gc.get_threshold() == before  # restored on close

    run(body())


def test_a_non_positive_period_is_refused() -> None:
    with pytest.raises(ValueError, match="full_gc_seconds must be positive"):
        ServerConfig(full_gc_seconds=0.0)
