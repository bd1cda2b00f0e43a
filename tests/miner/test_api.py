"""/metrics, /healthz, /readyz, /status as Prometheus, Docker and HiveOS read them; systemd notifications."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from miner.api import MinerApi, StatusDocument, readiness
from miner.journal import WorkKey
from miner.metrics import MinerMetrics
from miner.page import COOKIE, PageSnapshot, session_value
from miner.sd_notify import SystemdNotifier
from miner.stats import MinerStats
from miner.workers import ActiveJob, JobBoard, WorkerPool
from tests.miner.fakes import HashScorer, make_job


def _stats() -> tuple[MinerStats, MinerMetrics]:
    stats = MinerStats(threads=2, algos=["neuraxon"], worker="rig", embedded=False)
    stats.board = JobBoard()
    stats.pool = WorkerPool(stats.board, 2, lambda r: None)
    return stats, MinerMetrics(stats, CollectorRegistry())


def test_metrics_parse_and_carry_units_and_labels() -> None:
    stats, metrics = _stats()
    state = stats.server("ws://a:1/ws")
    state.up = state.active = True
    state.failures["refused"] += 2
    stats.results[("solution", "accepted")] += 3
    stats.results[("share", "stale")] += 1
    job = make_job()
    stats.board.publish(lambda g: ActiveJob(g, job, "ws://a:1/ws", WorkKey("a", 0, 1, "t", "s", None, "i"),
                                            HashScorer(), HashScorer().work))
    for t in range(12):
        stats.pool.iterations[0] = t * 10
        stats.sample(now=float(t))
    metrics.submit_latency.observe(0.02)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("neuraxon_miner_iterations_total", ())] == 110
    assert samples[("neuraxon_miner_iterations_per_second", (("window", "10s"),))] == 10.0
    assert samples[("neuraxon_miner_solutions_total", (("kind", "solution"), ("result", "accepted")))] == 3
    assert samples[("neuraxon_miner_solutions_total", (("kind", "share"), ("result", "stale")))] == 1
    assert samples[("neuraxon_miner_server_up", (("priority", "0"), ("server", "ws://a:1/ws")))] == 1
    assert samples[("neuraxon_miner_server_connect_failures_total",
                    (("reason", "refused"), ("server", "ws://a:1/ws")))] == 2
    assert samples[("neuraxon_miner_job_threshold", ())] == 250
    assert samples[("neuraxon_miner_submit_latency_seconds_count", ())] == 1
    assert ("neuraxon_miner_job_age_seconds", ()) in samples
    build = families["neuraxon_miner_build_info"].samples
    assert build[0].labels["algos"] == "neuraxon"
    assert "process_resident_memory_bytes" in families
    assert "neuraxon_miner_start_time_seconds" in families


def test_api_token_and_status_document() -> None:
    async def scenario() -> None:
        stats, metrics = _stats()
        api = MinerApi(stats, metrics, host="127.0.0.1", port=0, token="tok")
        base = await api.start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/status") as resp:
                    assert resp.status == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
                async with http.get(base + "/metrics", headers={"Authorization": "Bearer nope"}) as resp:
                    assert resp.status == 403
                auth = {"Authorization": "Bearer tok"}
                async with http.get(base + "/status", headers=auth) as resp:
                    doc = StatusDocument.model_validate_json(await resp.read())
                    assert doc.schema_version == 1 and doc.threads == 2 and doc.worker == "rig"
                async with http.get(base + "/healthz", headers=auth) as resp:
                    assert resp.status == 200
                async with http.get(base + "/readyz", headers=auth) as resp:
                    assert resp.status == 503 and (await resp.json())["reason"] == "not connected to a work server"
                stats.stalled = True
                async with http.get(base + "/healthz", headers=auth) as resp:
                    assert resp.status == 503
        finally:
            await api.close()

    asyncio.run(scenario())


def test_readiness_needs_a_session_a_job_and_progress() -> None:
    stats, _ = _stats()
    assert readiness(stats) == (False, "not connected to a work server")
    stats.server("ws://a:1/ws").active = True
    assert readiness(stats) == (False, "no job yet")
    job = make_job()
    stats.board.publish(lambda g: ActiveJob(g, job, "ws://a:1/ws", WorkKey("a", 0, 1, "t", "s", None, "i"),
                                            HashScorer(), HashScorer().work))
    stats.note_job(True)
    assert readiness(stats)[0] is False  # no iteration yet
    stats.pool.iterations[0] = 1
    assert readiness(stats) == (True, "mining")
    stats.computable_since = stats.pool.last_progress[0] = stats.pool.last_progress[1] = -1000.0
    assert readiness(stats)[1].startswith("no iteration finished")
    idle = make_job("j.2", idle=True)
    stats.board.publish(lambda g: ActiveJob(g, idle, "ws://a:1/ws", WorkKey("a", 0, 1, "t", "s", None, "i"),
                                            None, None))
    stats.note_job(False)
    assert readiness(stats) == (True, "idle")


def test_sd_notify_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(1)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
        assert notifier.enabled and notifier.watchdog_interval == 2.0
        assert notifier.ready("mining")
        assert sock.recv(4096) == b"READY=1\nSTATUS=mining"
        notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        sock.close()
    assert not SystemdNotifier({}).ready()
    assert SystemdNotifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "10", "WATCHDOG_PID": "1"}).watchdog_interval \
        is None  # the watchdog is meant for another process


def test_page_assets_and_snapshot_without_a_token() -> None:
    async def scenario() -> None:
        stats, metrics = _stats()
        start = time.monotonic() - 30
        for t in range(30):
            stats.pool.iterations[0] = t * 7
            stats.sample(now=start + t)
        stats.note_error("result_rejected", "solution score 5: code 302: claimed 5, recomputed 4")
        api = MinerApi(stats, metrics, host="127.0.0.1", port=0, token=None)
        base = await api.start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/") as resp:
                    assert resp.status == 200 and resp.content_type == "text/html"
                    assert 'src="/static/miner.js"' in await resp.text()
                for name, kind in (("chart.js", "text/javascript"), ("miner.js", "text/javascript"),
                                   ("page.css", "text/css")):
                    async with http.get(base + "/static/" + name) as resp:
                        assert resp.status == 200 and resp.content_type == kind, name
                for name in ("miner.html", "..%2Fapi.py", "nope.js"):
                    async with http.get(base + "/static/" + name) as resp:
                        assert resp.status == 404, name
                async with http.get(base + "/api/page") as resp:
                    snap = PageSnapshot.model_validate_json(await resp.read())
                assert len(snap.hashrate) >= 5 and all(abs(r - 7.0) < 1e-9 for _, r in snap.hashrate)
                assert snap.recent_errors[0].kind == "result_rejected" and snap.healthy
                async with http.get(base + "/events") as resp:
                    assert resp.content_type == "text/event-stream"
                    assert await resp.content.readline() == b"event: snapshot\n"
                    data = await resp.content.readline()
                    assert PageSnapshot.model_validate_json(data.removeprefix(b"data: ")).status.threads == 2
        finally:
            await api.close()

    asyncio.run(scenario())


def test_page_sign_in_with_the_api_token_sets_a_session_cookie() -> None:
    async def scenario() -> None:
        stats, metrics = _stats()
        api = MinerApi(stats, metrics, host="127.0.0.1", port=0, token="tok")
        base = await api.start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/") as resp:  # a sign-in form, not the page
                    assert resp.status == 401 and 'name="token"' in await resp.text()
                async with http.get(base + "/?token=wrong", allow_redirects=False) as resp:
                    assert resp.status == 403 and COOKIE not in resp.cookies
                async with http.get(base + "/events") as resp:
                    assert resp.status == 401
                async with http.get(base + "/static/chart.js") as resp:  # public code
                    assert resp.status == 200
                async with http.get(base + "/?token=tok", allow_redirects=False) as resp:
                    assert resp.status == 303 and resp.headers["Location"] == "/"
                    cookie = resp.cookies[COOKIE]
                    assert cookie.value == session_value("tok") != "tok"  # proof of the token, not the token
                    assert cookie["httponly"] and cookie["samesite"] == "Strict"
            jar = {COOKIE: session_value("tok")}
            async with aiohttp.ClientSession(cookies=jar) as http:
                for path in ("/", "/status", "/metrics", "/api/page"):
                    async with http.get(base + path) as resp:
                        assert resp.status == 200, path
            async with aiohttp.ClientSession(cookies={COOKIE: session_value("other")}) as http, \
                    http.get(base + "/status") as resp:
                assert resp.status == 401
            async with aiohttp.ClientSession() as http:
                async with http.post(base + "/login", data={"token": "tok"}, allow_redirects=False) as resp:
                    assert resp.status == 303 and resp.cookies[COOKIE].value == session_value("tok")
                async with http.post(base + "/login", data={"token": "nope"}) as resp:
                    assert resp.status == 403 and "wrong token" in await resp.text()
        finally:
            await api.close()

    asyncio.run(scenario())
