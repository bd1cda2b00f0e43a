"""Every metric of the work server, on its own :class:`CollectorRegistry` (injectable for tests)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from protocol.errors import ErrorCode

__all__ = ["BAN_REASONS", "DROP_REASONS", "JOB_REASONS", "REFUSAL_REASONS", "ServerMetrics"]

#: Why a job was sent (label values of ``workserver_jobs_sent_total``).
JOB_REASONS = ("login", "submit", "change", "vardiff", "periodic", "pull")
#: Why a connection was refused at accept time (``workserver_refused_connections_total``).
REFUSAL_REASONS = ("banned", "address_cap", "open_files", "closing")
#: Why an account or address was banned (``workserver_bans_total``).
BAN_REASONS = ("wrong_claims", "flooding")
#: Why a queued verification was removed (``workserver_verification_dropped_total``).
DROP_REASONS = ("displaced", "disconnected", "banned", "stopping")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """Counters, gauges and histograms; names carry units, label sets are small and fixed."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.connections = Gauge("workserver_connections", "Open WebSocket sessions (logged in)", registry=r)
        self.pull_sessions = Gauge("workserver_pull_sessions", "Live pull-mode sessions", registry=r)
        self.verification_pending = Gauge(
            "workserver_verification_pending", "Submissions queued or running in the verification pool", registry=r)
        self.idle = Gauge("workserver_idle", "1 while the server hands out idle jobs", registry=r)
        self.epoch = Gauge("workserver_epoch", "Current epoch", registry=r)
        self.logins = Counter("workserver_logins_total", "Login attempts by result", ["result"], registry=r)
        self.frames = Counter("workserver_frames_total", "Client messages received", ["transport"], registry=r)
        self.rejected_frames = Counter(
            "workserver_rejected_frames_total", "Malformed or refused client messages by error code", ["code"],
            registry=r)
        self.submits = Counter(
            "workserver_submits_total", "Submissions by verdict (solution, share, or the error code)", ["verdict"],
            registry=r)
        self.jobs_sent = Counter("workserver_jobs_sent_total", "Jobs sent by reason", ["reason"], registry=r)
        self.verification_seconds = Histogram(
            "workserver_verification_seconds", "Compute time of one score recomputation", registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.submit_seconds = Histogram(
            "workserver_submit_seconds", "Submit received to ack ready (queue, verification, ledger commit)",
            registry=r, buckets=_LATENCY_BUCKETS)
        self.commit_seconds = Histogram(
            "workserver_ledger_commit_seconds", "Ledger transaction of an accepted submission", registry=r,
            buckets=_LATENCY_BUCKETS)
        self.full_gc_seconds = Histogram(
            "workserver_full_gc_seconds", "Full garbage collections the server ran between pushes (full_gc_seconds)",
            registry=r, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
        self.broadcast_seconds = Histogram(
            "workserver_broadcast_seconds", "Time to queue a changed job to every session", registry=r,
            buckets=_LATENCY_BUCKETS)
        self.best_score = Gauge("workserver_best_score", "Best accepted score per task", ["task"], registry=r)
        # Abuse and admission (docs/workserver.md, "Abuse"):
        self.open_connections = Gauge("workserver_open_connections", "TCP connections admitted and open",
                                      registry=r)
        self.refused_connections = Counter(
            "workserver_refused_connections_total", "Connections refused at accept time by reason", ["reason"],
            registry=r)
        self.connection_timeouts = Counter(
            "workserver_connection_timeouts_total", "Connections dropped for no request (handshake) or no login",
            ["stage"], registry=r)
        self.flood_closes = Counter("workserver_flood_closes_total", "Connections closed for flooding messages",
                                    registry=r)
        self.bans = Counter("workserver_bans_total", "Bans of accounts and addresses by reason", ["reason"],
                            registry=r)
        self.banned = Gauge("workserver_banned_keys", "Accounts and addresses banned right now", registry=r)
        self.verification_dropped = Counter(
            "workserver_verification_dropped_total", "Queued verifications removed before they ran, by reason",
            ["reason"], registry=r)
        self.verifier_unavailable = Counter(
            "workserver_verifier_unavailable_total",
            "Submissions answered SERVER_BUSY because the verification cluster was unreachable", registry=r)
        self.verification_slots = Gauge(
            "workserver_verification_slots", "Verifications that may run at once (a Dask cluster: its threads)",
            registry=r)
        # ``workserver_front_end_info{front_end="..."} 1``: which front-end a scrape came from, to join
        # its other series on (``* on (instance) group_left (front_end) workserver_front_end_info``).
        self.front_end = Info("workserver_front_end", "This front-end's id (--front-end-id)", registry=r)
        for code in ErrorCode:
            if code is not ErrorCode.OK:
                self.submits.labels(verdict=code.name.lower())
        for verdict in ("solution", "share"):
            self.submits.labels(verdict=verdict)
        for reason in JOB_REASONS:
            self.jobs_sent.labels(reason=reason)
        for reason in REFUSAL_REASONS:
            self.refused_connections.labels(reason=reason)
        for stage in ("handshake", "login"):
            self.connection_timeouts.labels(stage=stage)
        for reason in BAN_REASONS:
            self.bans.labels(reason=reason)
        for reason in DROP_REASONS:
            self.verification_dropped.labels(reason=reason)

    def bind(self, *, connections: Callable[[], float], pull_sessions: Callable[[], float],
             pending: Callable[[], float], idle: Callable[[], float], epoch: Callable[[], float],
             banned: Callable[[], float]) -> None:
        """Gauges computed at scrape time from the server's state."""
        self.connections.set_function(connections)
        self.pull_sessions.set_function(pull_sessions)
        self.verification_pending.set_function(pending)
        self.idle.set_function(idle)
        self.epoch.set_function(epoch)
        self.banned.set_function(banned)

    def identify(self, front_end: str) -> None:
        """Label this registry's scrapes with the front-end id (``workserver_front_end_info``)."""
        self.front_end.info({"front_end": front_end})

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
