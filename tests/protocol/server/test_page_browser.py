"""The work server's page in a real headless Chromium: the training curve and the best network's replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

from protocol import StratumAck, StratumJob
from tests.browser import chromium_page, require_chromium, screenshot_path
from tests.protocol.server.helpers import Miner, fetch_parent, serving, small_config
from tests.protocol.server.test_progress import find_improvement


def test_pool_page_shows_the_training_curve_and_replays_the_best_network(tmp_path: Path) -> None:
    require_chromium()

    async def scenario() -> None:
        async with serving(small_config(db_path=tmp_path / "ledger.sqlite")) as server, \
                Miner.connect(server.ws_url, "trainer") as miner, chromium_page(tmp_path) as browser:
            job = await miner.login()
            counter = 0
            for _ in range(3):  # three improvements, each the next parent: a rising curve
                parent = await fetch_parent(miner.http, server.http_url, job)
                nonce, score, counter = find_improvement(job, parent, counter)
                await miner.send(job.submit(nonce, score))
                assert (await miner.expect(StratumAck)).success
                job = await miner.expect(StratumJob)
                counter += 1
            page = browser.page
            await page.goto(server.http_url + "/")
            await page.wait_for_function("Number(document.getElementById('miners').textContent) === 1")
            curve = page.locator("section.task svg.curve")
            await page.wait_for_function(
                "document.querySelector('section.task svg.curve')?.dataset.improvements === '3'", timeout=30_000)
            assert await curve.locator("path.line").count() == 1
            markers = curve.locator("circle.marker title")
            assert await markers.count() == 3 and miner.wallet in (await markers.first.text_content() or "")
            assert await page.locator("#accounts tbody tr").count() == 1
            # The replay plays: its frame number moves on by itself.
            canvas = page.locator("section.task canvas.world")
            await page.wait_for_function("document.querySelector('section.task canvas.world')?.dataset.frame",
                                         timeout=120_000)  # the server records the lifetime first
            frames = []
            while len(set(frames)) < 3:
                frames.append(await canvas.get_attribute("data-frame"))
                await asyncio.sleep(0.1)
            assert "collisions" in (await page.locator("section.task .frame").text_content() or "")
            await page.wait_for_function("Number(document.querySelector('section.task canvas.world')"
                                         ".dataset.frame) >= 12")
            await page.screenshot(path=str(screenshot_path(tmp_path, "pool-page.png")), full_page=True)
            assert browser.errors == []

    asyncio.run(asyncio.wait_for(scenario(), 300))
