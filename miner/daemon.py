"""The miner daemon: wires settings, work sources, workers, journal, submitter, API and systemd together.

Start-up order: journal (refuse to mine without it), API (so ``/healthz`` answers during the
warm-up), self-test and JIT warm-up, embedded work server when no server is configured, then the
workers, the job preparer, the submitter and the failover strategy. Once a second a ticker samples
the rates, updates readiness, pings systemd's watchdog while workers make progress, and runs the
stall watchdog. SIGTERM or SIGINT: stop the workers, journal what they found, try to submit
pending results for ``shutdown_timeout_seconds``, close everything, exit 0 (a second signal stops
waiting). See :mod:`miner.exit_codes` for the other outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from miner import exit_codes
from miner._version import __version__
from miner.api import MinerApi, readiness
from miner.cpu import available_cpus, resolve_threads
from miner.journal import Journal, JournalError
from miner.metrics import MinerMetrics
from miner.preparation import JobPreparer
from miner.results import ResultSubmitter, SubmitPolicy
from miner.scorers import Scorer, available_scorers, choose_backends
from miner.sd_notify import SystemdNotifier
from miner.selftest import SelfTestError, check_backend, run_self_tests, self_test_entry
from miner.settings import MinerSettings
from miner.sources.connection import (
    ConnectError,
    ConnectionPolicy,
    Credentials,
    ServerConnection,
    ServerEndpoint,
    open_connection,
)
from miner.sources.failover import FailoverPolicy, FailoverStrategy
from miner.stats import MinerStats
from miner.workers import FoundResult, JobBoard, WorkerPool
from protocol.errors import ErrorCode
from protocol.fields import Algo
from protocol.messages import StratumAck, StratumJob, StratumStats
from scoring import registry
from scoring.registry import BackendChoice, BackendUnavailableError

__all__ = ["MinerDaemon", "format_duration"]

log = structlog.get_logger("miner")


def format_duration(seconds: float) -> str:
    """``1d 2:03:04`` style uptime."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {text}" if days else text


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name.lower()
    except ValueError:  # a code newer than this miner
        return str(code)


def _fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


class MinerDaemon:
    """One miner process's lifetime; ``await run()`` returns the exit code."""

    def __init__(self, settings: MinerSettings, *, registry: CollectorRegistry | None = None,
                 environ: Mapping[str, str] | None = None, scorers: dict[Algo, Scorer] | None = None) -> None:
        self.settings = settings
        self.threads = resolve_threads(settings.threads)
        self.scorers = scorers if scorers is not None else available_scorers(
            backend=settings.backend, bpp9000_changes=settings.bpp9000_changes, check=check_backend)
        self.stats = MinerStats(threads=self.threads, algos=[a.label for a in self.scorers], worker=settings.worker,
                                embedded=settings.embedded, worker_error_limit=settings.worker_error_limit)
        self.metrics = MinerMetrics(self.stats, registry)
        self.notifier = SystemdNotifier(environ)
        self.journal = Journal(settings.journal_path)
        self.board = JobBoard()
        self.stats.board = self.board
        self.api: MinerApi | None = None
        self.embedded: Any = None
        self.strategy: FailoverStrategy | None = None
        self.pool: WorkerPool | None = None
        self.submitter: ResultSubmitter | None = None
        self.preparer: JobPreparer | None = None
        self.endpoints: list[ServerEndpoint] = []
        self.credentials: Credentials | None = None
        self.exit_code = exit_codes.EXIT_OK
        self._stop: asyncio.Event | None = None
        self._found: asyncio.Queue[FoundResult] | None = None
        #: Found results handed over by a worker and not yet journaled, by server (written from worker threads).
        self._in_transit: Counter[str] = Counter()
        self._transit_lock = threading.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._http: aiohttp.ClientSession | None = None
        self._ready_sent = False
        self._signals = 0
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._abort_flush = asyncio.Event()
        self._unhealthy_reported = False

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until a signal (or the stall watchdog) stops the miner; returns the exit code."""
        loop = self._event_loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._found = asyncio.Queue()
        installed = self._install_signals(loop)
        try:
            code = await self._start()
            if code != exit_codes.EXIT_OK:
                return code
            await self._stop.wait()
            return await self._shutdown()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self._close_resources()

    def request_stop(self, why: str = "requested") -> None:
        """Begin a clean shutdown (what SIGTERM does)."""
        if self._stop is not None and not self._stop.is_set():
            log.info("miner_stopping", reason=why)
            self._stop.set()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not Unix
                pass
        return installed

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("miner_stop_forced", signal=signal.Signals(sig).name,
                        detail="second signal: not waiting for pending results (they stay in the journal)")
            self._abort_flush.set()
            return
        self.request_stop(f"signal {signal.Signals(sig).name}")

    async def _start(self) -> int:
        s = self.settings
        log.info("miner_starting", version=__version__, worker=s.worker,
                 threads=self.threads, cpus_available=available_cpus(), algos=self.stats.algos,
                 servers=s.servers or ["embedded"], journal=str(self.journal.path))
        try:
            restored = await asyncio.to_thread(self.journal.open)
        except JournalError as exc:
            log.error("journal_unusable", error=str(exc))
            return exit_codes.EXIT_JOURNAL
        if self.journal.quarantined:
            self.stats.journal_quarantined += self.journal.quarantined
            log.warning("journal_quarantined", lines=self.journal.quarantined,
                        quarantine=str(self.journal.quarantine_path),
                        detail="unreadable journal records were moved aside; the rest is mined as usual")
        if s.api_enabled:
            self.api = MinerApi(self.stats, self.metrics, host=s.api_host, port=s.api_port,
                                token=s.api_token.get_secret_value() if s.api_token else None)
            try:
                self.stats.api_url = await self.api.start()
            except OSError as exc:
                log.error("api_bind_failed", host=s.api_host, port=s.api_port, error=str(exc))
                self.api = None
                return exit_codes.EXIT_API_BIND
            log.info("api_listening", url=self.stats.api_url, token_required=s.api_token is not None,
                     endpoints=["/", "/metrics", "/healthz", "/readyz", "/status"])
        code, error, backends = await self._choose_backends()
        if code != exit_codes.EXIT_OK:
            log.error("backend_unusable", backend=s.backend, error=error)
            return code
        for name, choice in backends:
            log.info("backend_selected", algo=name, backend=choice.backend.name, requested=s.backend,
                     reason=choice.reason)
        tested_first: set[str] = set()
        if s.self_test:
            # Neuraxon (the main work, every version) before anything else; other entries before their first job.
            first = {Algo.NEURAXON} & set(self.scorers)
            tested_first = {e.name for e in registry.entries() if e.algo in first}
            try:
                reports = await asyncio.to_thread(run_self_tests, self.scorers, first)
            except SelfTestError as exc:
                log.error("self_test_failed", error=str(exc), detail="this machine computes wrong scores; not mining")
                return exit_codes.EXIT_SELF_TEST
            self.stats.self_test_seconds = sum(r.seconds for r in reports)
            for report in reports:
                log.info("self_test_passed", algo=report.algo, cases=report.cases, seconds=round(report.seconds, 3))
        await self._start_sources()
        pool = WorkerPool(self.board, self.threads, self._on_result, nice=s.worker_nice,
                          on_fault=lambda f: self.stats.note_error("worker", f"{f.algo}: {f.error} at {f.where}"))
        self.pool = self.stats.pool = pool
        assert self.strategy is not None
        self.submitter = ResultSubmitter(
            self.journal, self.stats, self.metrics, self.strategy.connection_for,
            SubmitPolicy(stale_after=s.stale_result_seconds, attempts=s.submit_attempts,
                         resend_after=s.submit_timeout_seconds),
            pool_connection=self.strategy.pool_connection)
        self.submitter.restore(restored)
        self.preparer = JobPreparer(self.board, self.scorers, self.stats,
                                    self_test=self._self_test_one if s.self_test else None,
                                    tested=tested_first)
        pool.start()
        for coro in (self.strategy.run(), self.preparer.run(), self.submitter.run(), self._consume_found(),
                     self._tick(), self._status_lines(), self._report_stats()):
            self._spawn(coro)
        return exit_codes.EXIT_OK

    async def _start_sources(self) -> None:
        s = self.settings
        token = s.access_token.get_secret_value() if s.access_token else None
        wallet = s.wallet
        if s.embedded:
            from protocol.server.embedded import start_embedded  # noqa: PLC0415 - only in embedded mode

            overrides: dict[str, Any] = {"port": s.embedded_port} if s.embedded_port else {}
            self.embedded = await start_embedded(algo=s.algo, **overrides)
            urls = [self.embedded.ws_url]
            if wallet is None:
                token = self.embedded.login_token
            log.info("embedded_server_started", url=self.embedded.ws_url, http=self.embedded.http_url,
                     algo=s.algo, detail="no server configured: mining the demo task on the embedded work server")
        else:
            urls = list(s.servers)
        self.endpoints = [ServerEndpoint.parse(url, i, s.transport) for i, url in enumerate(urls)]
        for endpoint in self.endpoints:
            self.stats.server(endpoint.url)
        self.credentials = Credentials(worker=s.worker, threads=self.threads, wallet=wallet,
                                       access_token=None if wallet is not None else token)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout_seconds)
        self._http = aiohttp.ClientSession(timeout=timeout)
        self.strategy = FailoverStrategy(
            self.endpoints, self._open, self,
            FailoverPolicy(retries=s.retries, backoff_initial=s.backoff_initial_seconds,
                           backoff_max=s.backoff_max_seconds, primary_retry=s.primary_retry_seconds,
                           drain_timeout=s.submit_timeout_seconds))

    def _policy(self) -> ConnectionPolicy:
        s = self.settings
        return ConnectionPolicy(connect_timeout=s.connect_timeout_seconds, submit_timeout=s.submit_timeout_seconds,
                                heartbeat=s.heartbeat_seconds, job_timeout=s.job_timeout_seconds,
                                pull_interval=s.pull_interval_seconds)

    async def _open(self, endpoint: ServerEndpoint) -> ServerConnection:
        assert self._http is not None and self.credentials is not None
        return await open_connection(endpoint, self._http, self.credentials, self._policy())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("miner_task_failed", task=task.get_coro().__qualname__, error=repr(exc),  # type: ignore[union-attr]
                      exc_info=exc)
            self.exit_code = exit_codes.EXIT_ERROR
            self.request_stop("internal error")

    async def _choose_backends(self) -> tuple[int, str, list[tuple[str, BackendChoice]]]:
        """Every algorithm's backend, chosen now (a GPU's self-test runs here): (exit code, error, choices)."""
        try:
            return exit_codes.EXIT_OK, "", await asyncio.to_thread(choose_backends, self.scorers)
        except BackendUnavailableError as exc:
            return exit_codes.EXIT_CONFIG, f"--backend {self.settings.backend}: {exc}", []
        except SelfTestError as exc:
            return exit_codes.EXIT_SELF_TEST, f"--backend {self.settings.backend}: self-test FAILED: {exc}", []

    def _self_test_one(self, scorer: Scorer, entry: registry.Algorithm) -> None:
        """Self-test one registry entry (in a thread, before its first job)."""
        report = self_test_entry(scorer, entry)
        log.info("self_test_passed", algo=report.algo, cases=report.cases, seconds=round(report.seconds, 3))
        self.stats.self_test_seconds = (self.stats.self_test_seconds or 0.0) + report.seconds

    def _on_result(self, result: FoundResult) -> None:
        # Called from worker threads: hand over to the loop, never touch the network here.
        loop, queue = self._event_loop, self._found
        if loop is None or queue is None:
            return
        with self._transit_lock:
            self._in_transit[result.server] += 1
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(queue.put_nowait, result)

    async def _consume_found(self) -> None:
        assert self._found is not None
        while True:
            await self._journal_found(await self._found.get())

    async def _journal_found(self, result: FoundResult) -> None:
        assert self.submitter is not None
        try:
            await self.submitter.add(result, result.session)
        finally:
            with self._transit_lock:
                self._in_transit[result.server] -= 1

    # -- source events (SourceListener) -----------------------------------------------------------

    def on_connected(self, conn: ServerConnection) -> None:
        """A session became active."""
        state = self.stats.server(conn.endpoint.url)
        state.up, state.active, state.transport = True, True, conn.transport
        state.connected_since = time.monotonic()
        state.jobs_received += 1
        conn.on_unmatched_answer = self._on_unmatched_answer
        self.stats.note_server_event("connected", f"{conn.endpoint.url} over {conn.transport}")
        log.info("server_connected", server=conn.endpoint.url, transport=conn.transport,
                 priority=conn.endpoint.priority, job=conn.first_job.job_id)
        assert self.preparer is not None and self.submitter is not None
        self.preparer.offer(conn, conn.first_job)
        self.submitter.wake()

    def on_job(self, conn: ServerConnection, job: StratumJob) -> None:
        """The active session sent a job."""
        self.stats.server(conn.endpoint.url).jobs_received += 1
        assert self.preparer is not None
        self.preparer.offer(conn, job)

    def on_disconnected(self, conn: ServerConnection, reason: str) -> None:
        """The active session ended."""
        state = self.stats.server(conn.endpoint.url)
        state.up = state.active = False
        state.connected_since = None
        if reason != "primary_back":
            state.failures[reason] += 1
            state.last_error = reason
        self.stats.note_server_event("disconnected", f"{conn.endpoint.url}: {reason}")
        log.warning("server_disconnected", server=conn.endpoint.url, reason=reason)

    def on_connect_failed(self, endpoint: ServerEndpoint, reason: str, detail: str) -> None:
        """A connect attempt failed."""
        state = self.stats.server(endpoint.url)
        state.failures[reason] += 1
        state.last_error = f"{reason}: {detail}"[:200]
        self.stats.note_error("connect_failed", f"{endpoint.url}: {state.last_error}")
        log.warning("server_connect_failed", server=endpoint.url, reason=reason, detail=detail[:200])

    def on_switch(self, old: ServerEndpoint, new: ServerEndpoint, why: str) -> None:
        """The strategy moved to another server."""
        self.stats.server_switches += 1
        event = "server_return" if new.priority == 0 else "server_failover"
        self.stats.note_server_event(event.removeprefix("server_"), f"{old.url} → {new.url}: {why}")
        log.warning(event, old=old.url, new=new.url, why=why)

    def holds_results_for(self, server_url: str) -> bool:
        """Whether results of ``server_url``'s work still need its session (keeps a replaced session draining)."""
        # Read in the order results move (worker thread -> hand-over -> journal -> verdict), so one moving on
        # between two reads is seen by the later one.
        if self.pool is not None and server_url in self.pool.mining_for:
            return True
        with self._transit_lock:
            if self._in_transit[server_url] > 0:
                return True
        return self.submitter is not None and self.submitter.holds_results_for(server_url)

    def _on_unmatched_answer(self, conn: ServerConnection, ack: StratumAck) -> None:
        """An error answer that names no submit of ours: counted and shown, never a result's verdict."""
        code = _code_name(ack.code)
        self.stats.server(conn.endpoint.url).unmatched_answers[code] += 1
        self.stats.note_error("unmatched_answer", f"{conn.endpoint.url}: code {ack.code} ({code}) {ack.message}")

    # -- periodic ---------------------------------------------------------------------------------

    async def _tick(self) -> None:
        s = self.settings
        started = time.monotonic()
        last_watchdog = 0.0
        while True:
            await asyncio.sleep(1.0)
            self.stats.sample()
            ready, reason = readiness(self.stats)
            self.stats.ready = ready
            unhealthy = self.stats.workers_failing
            if unhealthy != self._unhealthy_reported:  # tell systemd at once, not at the next status line
                self._unhealthy_reported = unhealthy
                if unhealthy:
                    log.error("miner_unhealthy", reason=reason)
                else:
                    log.info("miner_healthy", detail="the workers complete iterations again")
                self.notifier.status(self._status_text())
            now = time.monotonic()
            if not self._ready_sent and (ready or now - started >= s.ready_timeout_seconds):
                self._ready_sent = True
                self.notifier.ready(self._status_text())
                if ready:
                    log.info("miner_ready", api=self.stats.api_url)
                else:
                    log.warning("miner_ready_timeout", api=self.stats.api_url,
                                detail=f"not mining after {s.ready_timeout_seconds:g} s; told systemd READY anyway")
            interval = self.notifier.watchdog_interval
            if interval is not None and now - last_watchdog >= interval:
                if self.stats.progressing(2 * interval):  # progress within WatchdogSec, or nothing to do
                    self.notifier.watchdog()
                    last_watchdog = now
            stalled_for = self.stats.seconds_since_progress()
            if self.stats.computable_since is not None and stalled_for > s.stall_timeout_seconds:
                self.stats.stalled = True
                log.error("watchdog_stall", seconds=round(stalled_for, 1),
                          limit=s.stall_timeout_seconds, exit_code=exit_codes.EXIT_STALLED,
                          detail="there is work but no worker finished an iteration: exiting for a restart")
                self.exit_code = exit_codes.EXIT_STALLED
                self.request_stop("stall watchdog")
                return

    def _status_text(self) -> str:
        rates = self.stats.rates()
        server = self.stats.active_server
        text = (f"{_fmt_rate(rates['60s'] or rates['10s'])} it/s, {self.stats.count('accepted')} accepted, "
                f"server {server.url if server else 'none'}")
        if self.stats.workers_failing:
            text = f"UNHEALTHY: workers failing ({self.stats.worker_errors_in_a_row} errors in a row); {text}"
        return text

    async def _status_lines(self) -> None:
        interval = self.settings.print_interval_seconds
        while True:
            await asyncio.sleep(interval)
            s = self.stats
            rates = s.rates()
            server = s.active_server
            log.info("rate_report", speed=f"{_fmt_rate(rates['10s'])} {_fmt_rate(rates['60s'])} "
                                           f"{_fmt_rate(rates['15m'])} it/s (10s 60s 15m)",
                     max_rate=round(s.rate.highest, 2), accepted=s.count("accepted"), rejected=s.count("rejected"),
                     stale=s.count("stale"), errors=s.count("error"), pending=s.pending_results,
                     server=server.url if server else None, uptime=format_duration(s.uptime),
                     iterations=s.iterations)
            self.notifier.status(self._status_text())

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stats_interval_seconds)
            strategy = self.strategy
            conn = strategy.active if strategy is not None else None
            if conn is None:
                continue
            rates = self.stats.rates()
            rate = rates["60s"] if rates["60s"] is not None else (rates["10s"] or 0.0)
            found = sum(self.stats.found.values())
            await conn.send_stats(StratumStats(it_per_sec=max(0.0, rate), threads=self.threads, solutions=found))

    # -- shutdown ---------------------------------------------------------------------------------

    async def _shutdown(self) -> int:
        s = self.settings
        self.stats.stopping = True
        self.notifier.stopping()
        if self.pool is not None:
            # A stalled worker will not return: do not wait for it (its thread is a daemon thread).
            grace = 0.5 if self.exit_code == exit_codes.EXIT_STALLED else 5.0
            stopped = await asyncio.to_thread(self.pool.stop, grace)
            if not stopped:
                log.warning("workers_still_running", detail=f"a worker did not finish its iteration in {grace:g} s")
        if self._found is not None and self.submitter is not None:
            while not self._found.empty():
                await self._journal_found(self._found.get_nowait())
            # The consumer task may be journaling one it took before the stop: it joins the pending results
            # only once durable, and the flush below sends only those. Cancelling it then would leave a
            # journaled result unsent (replayed at the next start) while the stop reports nothing kept.
            await self._await_journaled(s.shutdown_timeout_seconds)
        remaining = 0
        if self.submitter is not None and self.exit_code != exit_codes.EXIT_STALLED:
            remaining = await self.submitter.flush(self.settings.shutdown_timeout_seconds, self._abort_flush)
        elif self.submitter is not None:
            remaining = len(self.submitter.pending)
        log.info("miner_stopped", pending_kept=remaining, accepted=self.stats.count("accepted"),
                 rejected=self.stats.count("rejected"), stale=self.stats.count("stale"),
                 errors=self.stats.count("error"), uptime=format_duration(self.stats.uptime),
                 iterations=self.stats.iterations, shutdown_timeout=s.shutdown_timeout_seconds)
        return self.exit_code

    def _transit_total(self) -> int:
        with self._transit_lock:
            return sum(self._in_transit.values())

    async def _await_journaled(self, timeout: float) -> None:
        """Wait until every found result handed over by a worker is journaled and pending (``timeout`` s at
        most: a result still being written then stays in the journal, for the next start)."""
        deadline = time.monotonic() + timeout
        while self._transit_total() > 0:
            if time.monotonic() > deadline:
                log.warning("results_not_journaled", count=self._transit_total(),
                            detail=f"still being journaled after {timeout:g} s; the next start replays them")
                return
            await asyncio.sleep(0.01)

    async def _close_resources(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self.pool is not None:
            self.pool.stop(0.1)
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.embedded is not None:
            with contextlib.suppress(Exception):
                await self.embedded.close()
            self.embedded = None
        if self.api is not None:
            await self.api.close()
            self.api = None
        self.journal.close()

    # -- dry run ----------------------------------------------------------------------------------

    async def dry_run(self) -> tuple[int, str]:
        """Validate, self-test, connect once to each server in order until one answers; nothing is mined."""
        lines = [f"settings: valid ({self.threads} worker threads of {available_cpus()} available CPUs)"]
        try:
            pending, unreadable = await asyncio.to_thread(Journal.inspect, self.settings.journal_path)
        except JournalError as exc:
            return exit_codes.EXIT_JOURNAL, f"journal: {exc}"
        quarantine = f"; {unreadable} unreadable lines to quarantine at start" if unreadable else ""
        lines.append(f"journal: {self.settings.journal_path} ({pending} pending results{quarantine})")
        code, error, backends = await self._choose_backends()
        if code != exit_codes.EXIT_OK:
            return code, error
        lines += [f"backend {name}: {choice.backend.name} ({choice.reason})" for name, choice in backends]
        if self.settings.self_test:
            try:
                reports = await asyncio.to_thread(run_self_tests, self.scorers)
            except SelfTestError as exc:
                return exit_codes.EXIT_SELF_TEST, f"self-test FAILED: {exc}"
            for report in reports:
                lines.append(f"self-test {report.algo}: {report.cases} known answers ok ({report.seconds:.2f} s)")
        try:
            await self._start_sources()
            for endpoint in self.endpoints:
                try:
                    conn = await self._open(endpoint)
                except ConnectError as exc:
                    lines.append(f"server {endpoint.url}: FAILED ({exc})")
                    continue
                job = conn.first_job
                lines.append(f"server {endpoint.url}: ok over {conn.transport}, job {job.job_id} "
                             f"({job.algo.label}, task {job.task_id[:16]}, threshold {job.threshold}"
                             f"{', idle' if job.is_idle else ''})")
                await conn.close()
                return exit_codes.EXIT_OK, "\n".join(lines)
            return exit_codes.EXIT_UNHEALTHY, "\n".join([*lines, "no server answered"])
        finally:
            await self._close_resources()

