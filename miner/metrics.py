"""Every Prometheus metric of the miner, defined here and nowhere else, on an injectable registry.

Names carry units (``_seconds``, ``_total``, ``_per_second``); label sets are small and fixed (no
job or task ids). Values that live in :class:`~miner.stats.MinerStats` are read at scrape time by
one collector, so /metrics, /status and the status line never disagree; the submit latency is a
real histogram observed when each answer arrives. Tests pass their own ``CollectorRegistry``.

==================================================  =======  ==============================================
metric                                              type     labels / meaning
==================================================  =======  ==============================================
``neuraxon_miner_build_info``                       gauge    version, python, numba, algos; always 1
``neuraxon_miner_start_time_seconds``               gauge    Unix time the miner started
``neuraxon_miner_iterations_total``                 counter  scores computed by all workers
``neuraxon_miner_iterations_per_second``            gauge    window = 10s, 60s, 15m
``neuraxon_miner_worker_iterations_per_second``     gauge    worker = thread index; 10 s window
``neuraxon_miner_worker_threads``                   gauge    worker threads
``neuraxon_miner_worker_errors_total``              counter  algo; iterations whose scorer raised
``neuraxon_miner_worker_errors_in_a_row``           gauge    longest current run of one worker's failures
``neuraxon_miner_results_found_total``              counter  kind = solution, share
``neuraxon_miner_solutions_total``                  counter  kind, result = accepted, rejected, stale, error
``neuraxon_miner_pending_results``                  gauge    results in the journal awaiting a verdict
``neuraxon_miner_journal_quarantined_total``        counter  unreadable journal records moved to the quarantine file
``neuraxon_miner_last_accepted_timestamp_seconds``  gauge    Unix time of the last accepted result
``neuraxon_miner_best_score``                       gauge    best accepted score of this run
``neuraxon_miner_server_up``                        gauge    server, priority; 1 while a session is open
``neuraxon_miner_server_active``                    gauge    server; 1 for the server being mined on
``neuraxon_miner_server_connect_failures_total``    counter  server, reason
``neuraxon_miner_server_switches_total``            counter  failovers and returns to the primary
``neuraxon_miner_unmatched_answers_total``          counter  server, code; error answers tied to no submit
``neuraxon_miner_connection_uptime_seconds``        gauge    age of the active session
``neuraxon_miner_jobs_received_total``              counter  server
``neuraxon_miner_job_errors_total``                 counter  jobs that could not be prepared
``neuraxon_miner_job_age_seconds``                  gauge    time since the current job arrived
``neuraxon_miner_job_idle``                         gauge    1 while the server says idle
``neuraxon_miner_job_threshold``                    gauge    the job's solution threshold
``neuraxon_miner_job_parent_score``                 gauge    the parent's score (training progress)
``neuraxon_miner_submit_latency_seconds``           hist.    submit sent to answer received
``neuraxon_miner_self_test_seconds``                gauge    self-test and JIT warm-up time
``neuraxon_miner_ready``                            gauge    1 when /readyz answers 200
``process_*``, ``python_gc_*``, ``python_info``     various  standard collectors (RSS, CPU seconds)
==================================================  =======  ==============================================
"""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from miner._version import __version__
from miner.stats import KINDS, VERDICTS, MinerStats

__all__ = ["PREFIX", "MinerMetrics"]

#: Prefix of every miner metric.
PREFIX = "neuraxon_miner"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _numba_version() -> str:
    try:
        import numba  # noqa: PLC0415 - only for the label

        return str(numba.__version__)
    except ImportError:  # pragma: no cover
        return "none"


class _StatsCollector(Collector):
    """Reads :class:`MinerStats` at scrape time."""

    def __init__(self, stats: MinerStats) -> None:
        self.stats = stats
        self._build = (__version__, platform.python_version(), _numba_version(), ",".join(stats.algos))

    def describe(self) -> Iterator[Metric]:
        return iter(())  # values appear at collect time; nothing to pre-register

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "Miner build; always 1",
                                 labels=["version", "python", "numba", "algos"])
        info.add_metric(list(self._build), 1.0)
        yield info
        yield GaugeMetricFamily(f"{PREFIX}_start_time_seconds", "Unix time the miner started", value=s.started_at)
        yield CounterMetricFamily(f"{PREFIX}_iterations", "Scores computed by all workers", value=s.iterations)
        rate = GaugeMetricFamily(f"{PREFIX}_iterations_per_second", "Iteration rate by window", labels=["window"])
        for window, value in s.rates().items():
            if value is not None:
                rate.add_metric([window], value)
        yield rate
        per_worker = GaugeMetricFamily(f"{PREFIX}_worker_iterations_per_second",
                                       "Iteration rate of each worker thread over 10 s", labels=["worker"])
        for index, meter in enumerate(s.worker_rates):
            value = meter.rate(10.0)
            if value is not None:
                per_worker.add_metric([str(index)], value)
        yield per_worker
        yield GaugeMetricFamily(f"{PREFIX}_worker_threads", "Worker threads", value=s.threads)
        worker_errors = CounterMetricFamily(f"{PREFIX}_worker_errors", "Worker iterations whose scorer raised",
                                            labels=["algo"])
        by_algo = s.pool.errors_by_algo if s.pool is not None else {}
        for algo in sorted(set(s.algos) | set(by_algo)):
            worker_errors.add_metric([algo], by_algo.get(algo, 0))
        yield worker_errors
        yield GaugeMetricFamily(f"{PREFIX}_worker_errors_in_a_row", "Longest current run of failed iterations of "
                                "one worker", value=s.worker_errors_in_a_row)
        found = CounterMetricFamily(f"{PREFIX}_results_found", "Results worth submitting found by the workers",
                                    labels=["kind"])
        for kind in KINDS:
            found.add_metric([kind], s.found[kind])
        yield found
        solutions = CounterMetricFamily(f"{PREFIX}_solutions", "Results by kind and definitive verdict",
                                        labels=["kind", "result"])
        for kind in KINDS:
            for verdict in VERDICTS:
                solutions.add_metric([kind, verdict], s.results[(kind, verdict)])
        yield solutions
        yield GaugeMetricFamily(f"{PREFIX}_pending_results", "Results in the journal awaiting a verdict",
                                value=s.pending_results)
        yield CounterMetricFamily(f"{PREFIX}_journal_quarantined", "Unreadable journal records moved to "
                                  "<journal>.quarantine", value=s.journal_quarantined)
        if s.last_accepted_at is not None:
            yield GaugeMetricFamily(f"{PREFIX}_last_accepted_timestamp_seconds",
                                    "Unix time of the last accepted result", value=s.last_accepted_at)
        if s.best_score is not None:
            yield GaugeMetricFamily(f"{PREFIX}_best_score", "Best accepted score of this run", value=s.best_score)
        up = GaugeMetricFamily(f"{PREFIX}_server_up", "1 while a session with the server is open",
                               labels=["server", "priority"])
        active = GaugeMetricFamily(f"{PREFIX}_server_active", "1 for the server being mined on", labels=["server"])
        failures = CounterMetricFamily(f"{PREFIX}_server_connect_failures", "Failed connects and lost sessions",
                                       labels=["server", "reason"])
        jobs = CounterMetricFamily(f"{PREFIX}_jobs_received", "Jobs received", labels=["server"])
        unmatched = CounterMetricFamily(f"{PREFIX}_unmatched_answers",
                                        "Error answers of the server tied to no submit", labels=["server", "code"])
        for server in s.servers:
            up.add_metric([server.url, str(server.priority)], float(server.up))
            active.add_metric([server.url], float(server.active))
            for reason, count in sorted(server.failures.items()):
                failures.add_metric([server.url, reason], count)
            jobs.add_metric([server.url], server.jobs_received)
            for code, count in sorted(server.unmatched_answers.items()):
                unmatched.add_metric([server.url, code], count)
        yield from (up, active, failures, jobs, unmatched)
        yield CounterMetricFamily(f"{PREFIX}_server_switches", "Failovers and returns to the primary",
                                  value=s.server_switches)
        current = s.active_server
        if current is not None and current.connected_since is not None:
            import time  # noqa: PLC0415

            yield GaugeMetricFamily(f"{PREFIX}_connection_uptime_seconds", "Age of the active session",
                                    value=time.monotonic() - current.connected_since)
        yield CounterMetricFamily(f"{PREFIX}_job_errors", "Jobs that could not be prepared", value=s.job_errors)
        job = s.job
        age = s.job_age()
        if job is not None and age is not None:
            yield GaugeMetricFamily(f"{PREFIX}_job_age_seconds", "Seconds since the current job arrived", value=age)
            yield GaugeMetricFamily(f"{PREFIX}_job_idle", "1 while the server says idle", value=float(job.job.is_idle))
            if not job.job.is_idle:
                yield GaugeMetricFamily(f"{PREFIX}_job_threshold", "Solution threshold of the current job",
                                        value=job.job.threshold)
            if job.job.parent is not None:
                yield GaugeMetricFamily(f"{PREFIX}_job_parent_score",
                                        "Score of the current job's parent network (training progress)",
                                        value=job.job.parent.score)
        if s.self_test_seconds is not None:
            yield GaugeMetricFamily(f"{PREFIX}_self_test_seconds", "Self-test and JIT warm-up time",
                                    value=s.self_test_seconds)
        yield GaugeMetricFamily(f"{PREFIX}_ready", "1 when the miner is ready (/readyz 200)", value=float(s.ready))


class MinerMetrics:
    """The miner's registry: the stats collector, the submit latency histogram, process collectors."""

    def __init__(self, stats: MinerStats, registry: CollectorRegistry | None = None, *,
                 process_collectors: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(_StatsCollector(stats))
        self.submit_latency = Histogram(f"{PREFIX}_submit_latency_seconds", "Submit sent to answer received",
                                        registry=self.registry, buckets=_LATENCY_BUCKETS)
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
