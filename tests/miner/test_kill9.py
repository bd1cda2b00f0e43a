"""Acceptance: kill -9 of a miner holding unsent results; the restarted miner submits each exactly once.

The miner mines through a relay in front of the real work server. The relay is frozen (submits
vanish as on a dead link), so found results pile up in the journal, sent but unanswered; then the
miner is killed with SIGKILL. A new miner process with the same journal, worker and server resends
them once the relay works again; the ledger must hold each exactly once and the journal end empty.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path

from tests.miner.harness import (
    ROOT,
    WALLET,
    ServerProcess,
    WsProxy,
    clean_env,
    journal_pending,
    ledger_accepted,
    miner_command,
    miner_status,
    wait_for,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kill9_with_unsent_results_then_each_is_resubmitted_and_accepted_once(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    journal = tmp_path / "journal.jsonl"

    async def scenario() -> None:
        proxy = await WsProxy(server.url).start()
        env = clean_env()

        def miner(port: int) -> list[str]:
            return miner_command("run", "--server", proxy.url, "--wallet", WALLET, "--worker", "test-rig",
                                 "--threads", "1", "--journal-file", str(journal), "--api-port", str(port),
                                 "--no-self-test", "--submit-timeout-seconds", "5", "--heartbeat-seconds", "120",
                                 "--job-timeout-seconds", "300", "--log-format", "json")

        port1 = _free_port()
        first = subprocess.Popen(miner(port1), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await wait_for(lambda: (s := miner_status(port1)) is not None and s.results.accepted >= 1, 60,
                           "the first miner's accepted solutions", interval=0.2)
            proxy.freeze()
            # Sent and dropped, not only journaled: under load the miner may hold its sends for a while
            # (in-flight cap, a server's slow-down answer), and the point is results the server never saw.
            await wait_for(lambda: len(journal_pending(journal)) >= 3 and proxy.dropped >= 3, 90,
                           "unsent results in the journal, dropped on their way", interval=0.05)
            first.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        unsent = journal_pending(journal)
        assert len(unsent) >= 3 and proxy.dropped >= 3
        before = {nonce for _, nonce in ledger_accepted(server.db)}
        assert not set(unsent.values()) & before  # the server never saw them

        proxy.freeze(False)
        port2 = _free_port()
        second = subprocess.Popen(miner(port2), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            await wait_for(lambda: not (set(journal_pending(journal)) & set(unsent)), 60,
                           "the resubmissions to be answered", interval=0.2)
            doc = miner_status(port2)
            assert doc is not None and doc.resubmitted == len(unsent)
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 30) == 0  # the relay runs in this loop: keep it going
        finally:
            if second.poll() is None:
                second.kill()
        ledger = [nonce for _, nonce in ledger_accepted(server.db)]
        for nonce in unsent.values():
            assert ledger.count(nonce) == 1, nonce
        assert len(ledger) == len(set(ledger))
        assert journal_pending(journal) == {}
        await proxy.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
