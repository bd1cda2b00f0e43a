"""The miner's page in a real headless Chromium, against a miner mining on the real work server."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from miner.scorers import JobInputs, PreparedWork, Scorer
from protocol.fields import Algo
from tests.browser import chromium_page, require_chromium, screenshot_path
from tests.miner.harness import ServerProcess, fast_settings, running_daemon, wait_for, wait_for_async


class _Lying(PreparedWork):
    def __init__(self, inner: PreparedWork, lie: threading.Event) -> None:
        self.inner, self.lie = inner, lie

    def score(self, nonce: bytes) -> int:
        score = self.inner.score(nonce)
        return score + 10_000 if self.lie.is_set() else score  # a claim the server's recomputation refutes


class LyingScorer(Scorer):
    """The real scorer, overstating every score while ``lie`` is set (so the server rejects the result)."""

    def __init__(self) -> None:
        super().__init__(Algo.NEURAXON)
        self.lie = threading.Event()

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        return _Lying(super().prepare(inputs), self.lie)


def test_miner_page_is_live_and_shows_a_rejected_solution(tmp_path: Path) -> None:
    require_chromium()
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    scorer = LyingScorer()

    async def scenario() -> None:
        settings = fast_settings(tmp_path, [server.url], api_enabled=True, api_port=0, api_token="page-token",
                                 threads="2", submit_timeout_seconds=30.0)
        async with running_daemon(settings, scorers={Algo.NEURAXON: scorer}) as daemon, \
                chromium_page(tmp_path) as browser:
            daemon_api = daemon.api
            assert daemon_api is not None and daemon.stats.api_url is not None
            daemon_api.page.interval = 0.5  # snapshots twice a second: the test sees changes sooner
            page = browser.page
            # The token signs the browser in (a session cookie) and leaves the address bar.
            await page.goto(daemon.stats.api_url + "/?token=page-token")
            assert page.url == daemon.stats.api_url + "/"
            await page.wait_for_function("document.getElementById('live').textContent.startsWith('live')")
            chart = page.locator("#hashrate-chart")

            async def points() -> int:
                return int(await chart.get_attribute("data-points") or 0)

            await wait_for_async(lambda: _at_least(points, 1), 60, "the first point of the hash rate chart")
            first = await points()
            await wait_for_async(lambda: _at_least(points, first + 1), 60, "a new point while mining")
            assert await page.locator("#hashrate-chart path.line").count() == 1
            await page.wait_for_function("Number(document.getElementById('accepted').textContent) >= 1",
                                         timeout=60_000)
            scorer.lie.set()  # the next result claims more than it scores: the server rejects it
            await wait_for(lambda: daemon.stats.count("rejected") >= 1, 60, "a rejected result")
            scorer.lie.clear()
            await page.wait_for_function("Number(document.getElementById('rejected').textContent) >= 1",
                                         timeout=30_000)
            rejected = page.locator("#recent-errors li[data-kind='result_rejected']")
            assert await rejected.count() >= 1 and "recomputed" in (await rejected.first.text_content() or "")
            assert await page.locator("#threads tbody tr").count() == 2  # one rate per worker thread
            assert (await page.locator("#server").text_content() or "").startswith("ws://127.0.0.1:")
            assert await page.locator("#server-history li[data-kind='connected']").count() >= 1
            assert await page.locator("#health").text_content() in ("mining", "warming up (no iteration finished "
                                                                               "yet)")
            await page.screenshot(path=str(screenshot_path(tmp_path, "miner-page.png")), full_page=True)
            assert browser.errors == []

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


async def _at_least(read: object, n: int) -> bool:
    return await read() >= n  # type: ignore[operator, no-any-return]
