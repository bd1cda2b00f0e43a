"""``neuraxon-miner workserver``: run the reference work server (WebSocket, pull mode, ledger, training)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from miner.commands.ledger import add_database_arguments, database_from_args

EXIT_BAD_INPUT = 2
#: Environment variables of the admin token (the flags win over them), so it need not show in ``ps``.
ADMIN_TOKEN_ENV = "NEURAXON_WORKSERVER_ADMIN_TOKEN"
ADMIN_TOKEN_FILE_ENV = ADMIN_TOKEN_ENV + "_FILE"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "workserver", help="run the reference work server",
        description="Serve jobs over WebSocket (/ws) and HTTP pull (/api/v1/job, /api/v1/submit), recompute every "
                    "submitted score, keep an SQLite ledger, and train the best network per task. Prints one "
                    "'workserver ready: <ws url> <http url>' line on stdout once listening.")
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free port)")
    net.add_argument("--front-end-id", metavar="ID",
                     help="this front-end's name in every log line (front_end) and in its metrics "
                          "(workserver_front_end_info{front_end=ID}); default HOST:PORT, this machine's host name "
                          "and the port it listens on (docs/pool.md)")
    net.add_argument("--tls-cert", type=Path, help="PEM certificate: serve wss:// and https://")
    net.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    net.add_argument("--max-frame-bytes", type=int, default=64 * 1024, help="largest client message (default 65536)")
    net.add_argument("--rate", type=float, default=20.0, help="messages per second per connection (default 20)")
    net.add_argument("--burst", type=int, default=40, help="message burst per connection (default 40)")
    auth = p.add_argument_group("authentication")
    auth.add_argument("--token", action="append", default=[], help="accepted access token (repeatable)")
    auth.add_argument("--token-file", type=Path, help="file with one accepted access token per line")
    auth.add_argument("--no-wallets", action="store_true", help="refuse wallet logins (tokens only)")
    auth.add_argument("--allow-wallet", action="append", default=[], metavar="IDENTITY",
                      help="accept only these wallets (repeatable; default: any valid identity)")
    auth.add_argument("--identity", help="pool identity all jobs are for (default: the login's wallet)")
    auth.add_argument("--admin-token", help="bearer token of /api/v1/admin/state and /api/v1/workers (visible in "
                      f"ps: prefer --admin-token-file or ${ADMIN_TOKEN_ENV} / ${ADMIN_TOKEN_FILE_ENV})")
    auth.add_argument("--admin-token-file", type=Path, help="file holding the admin token")
    limits = p.add_argument_group("abuse limits (docs/workserver.md, 'Abuse')")
    limits.add_argument("--max-connections-per-address", type=int, default=256, metavar="N",
                        help="connections per client address (default 256; 0 = no cap)")
    limits.add_argument("--handshake-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="a connection must make its first request (the WebSocket upgrade) this soon (default 10)")
    limits.add_argument("--login-timeout", type=float, default=15.0, metavar="SECONDS",
                        help="a WebSocket connection must log in this soon after its upgrade (default 15)")
    limits.add_argument("--ping-interval", type=float, default=30.0, metavar="SECONDS",
                        help="WebSocket ping interval; no answer within half of it closes the session (default 30)")
    limits.add_argument("--full-gc-seconds", type=float, default=60.0, metavar="SECONDS",
                        help="run Python's full garbage collection this often, between job pushes, instead of "
                             "inside one (default 60; 0 = Python's automatic full collections)")
    limits.add_argument("--max-inflight-per-account", type=int, default=32, metavar="N",
                        help="submissions of one account queued or in verification (default 32)")
    limits.add_argument("--max-wrong-claims", type=int, default=5, metavar="N",
                        help="the N-th wrong score claim in a row bans the account and its address (default 5)")
    limits.add_argument("--ban-seconds", type=float, default=60.0, metavar="SECONDS",
                        help="first ban length; each further ban of the same account or address doubles it, up to "
                             "a day (default 60)")
    work = p.add_argument_group("work")
    add_database_arguments(work, default="workserver.sqlite")
    work.add_argument("--task", type=Path, action="append", default=[], help="task spec JSON (repeatable; "
                      "default: the built-in default Neuraxon task)")
    work.add_argument("--demo", action="store_true", help="serve the embedded demo task (low threshold)")
    work.add_argument("--demo-v2", action="store_true", help="with --demo: also serve the demo Neuraxon v2 task "
                      "(sessions are dealt the tasks in turn)")
    work.add_argument("--threshold", type=int, help="solution threshold for every task (default: each task's)")
    work.add_argument("--no-training", action="store_true", help="do not hand out the best network as parent")
    work.add_argument("--bpp9000-task", type=Path, help="also serve this bpp9000 task file (algo 1; the verifier "
                      "builds a 512 MiB pool per mining seed)")
    work.add_argument("--bpp9000-seed", help="mining seed of the bpp9000 jobs (64 hex digits; required with "
                      "--bpp9000-task)")
    work.add_argument("--bpp9000-threshold", type=int, help="bpp9000 solution threshold (default: qubic/core's): "
                      "v1.305, the most errors in frame 0 (an advance always counts); v1.301, the error count")
    work.add_argument("--bpp9000-version", choices=("v1305", "v1301"), default="v1305",
                      help="bpp9000 scorer of the task: v1305 (current, qubic/core v1.305: a chain, each new best "
                           "network the parent of new jobs unless --no-training) or v1301 (default v1305)")
    work.add_argument("--epoch", type=int, default=1, help="epoch of the jobs (default 1)")
    work.add_argument("--idle", action="store_true", help="start in the idle phase (all-zero seed)")
    work.add_argument("--idle-schedule", metavar="WORK:IDLE", help="repeat WORK seconds of work, IDLE of idle")
    work.add_argument("--job-interval", type=float, default=30.0, help="seconds between job pushes (default 30)")
    work.add_argument("--parent-refresh", type=float, default=30.0, metavar="SECONDS",
                      help="training: publish a new best network as the jobs' parent at most this often, so "
                           "solutions against the current parent are not all turned stale (default 30; 0 = at once)")
    work.add_argument("--calibration-walks", type=int, default=64, metavar="N",
                      help="walks sampled per task at start-up (cached in the ledger) for vardiff and parent "
                           "bars (default 64)")
    work.add_argument("--parent-bar-walks", type=int, default=32, metavar="N",
                      help="training: sample N walks from each new parent and raise its jobs' Threshold so a "
                           "solution is as rare as on the root (default 32; 0 = any improvement is a solution)")
    work.add_argument("--share-interval", type=float, default=15.0, help="vardiff target seconds per share")
    work.add_argument("--retarget", type=float, default=60.0, help="vardiff window in seconds (default 60)")
    work.add_argument("--no-vardiff", action="store_true", help="no ShareThreshold (shares are solutions)")
    work.add_argument("--inline-task", action="store_true",
                      help="send Neuraxon tasks inline in jobs (default: TaskUrl + TaskHash, small jobs)")
    work.add_argument("--inline-parent", action="store_true",
                      help="send parent networks inline (default: NetworkUrl + NetworkHash)")
    work.add_argument("--verify-workers", type=int, help="verification workers (default: CPU count)")
    work.add_argument("--verify-mode", choices=("thread", "process"), default="process",
                      help="verify in separate processes (default: no GIL shared with the network loop) or threads")
    work.add_argument("--verifier", default="local", metavar="local|tcp://HOST:PORT",
                      help="where scores are recomputed: 'local' (default: the worker pool in this process) or a "
                      "Dask scheduler's address (needs the 'pool' extra; see docs/pool.md)")
    work.add_argument("--verifier-connect-timeout", type=float, default=10.0, metavar="S",
                      help="seconds to wait for the Dask scheduler at start before exiting with code 2 (default 10)")
    work.add_argument("--verify-nice", type=int, default=10,
                      help="nice increment of verification workers, so job pushes keep priority (default 10)")
    logs = p.add_argument_group("logging")
    logs.add_argument("--log-format", choices=("console", "json"), help="default: console on a terminal, else json")
    logs.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run_workserver)


class _InputError(Exception):
    pass


class _FrontEndField:
    """A structlog processor: ``front_end=<id>`` on every line. A processor rather than a bound context
    variable, so lines logged from the ledger's thread and the executors carry it too."""

    def __init__(self) -> None:
        self.value = ""

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if self.value:
            event.setdefault("front_end", self.value)
        return event


def _configure_logging(fmt: str | None, level: str, front_end: _FrontEndField) -> None:
    import structlog

    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, front_end, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _InputError(f"{what} {path} is not UTF-8 text") from None


def _read_secret(path: Path, what: str) -> str:
    text = _read_text(path, what).strip()
    if not text:
        raise _InputError(f"{what} {path} is empty")
    return text


def _admin_token(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """The admin token: ``--admin-token`` or ``--admin-token-file``, else the environment (each source
    given one way only)."""
    if args.admin_token is not None and args.admin_token_file is not None:
        raise _InputError("give either --admin-token or --admin-token-file, not both")
    if args.admin_token is not None:
        return str(args.admin_token)
    if args.admin_token_file is not None:
        return _read_secret(args.admin_token_file, "--admin-token-file")
    if ADMIN_TOKEN_ENV in environ and ADMIN_TOKEN_FILE_ENV in environ:
        raise _InputError(f"set either {ADMIN_TOKEN_ENV} or {ADMIN_TOKEN_FILE_ENV}, not both")
    if ADMIN_TOKEN_FILE_ENV in environ:
        return _read_secret(Path(environ[ADMIN_TOKEN_FILE_ENV]), ADMIN_TOKEN_FILE_ENV)
    token = environ.get(ADMIN_TOKEN_ENV, "").strip()
    if ADMIN_TOKEN_ENV in environ and not token:
        raise _InputError(f"{ADMIN_TOKEN_ENV} is empty")
    return token or None


def _tokens(args: argparse.Namespace) -> frozenset[str]:
    tokens = set(args.token)
    if args.token_file is not None:
        lines = _read_text(args.token_file, "--token-file").splitlines()
        tokens.update(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return frozenset(tokens)


def _config(args: argparse.Namespace) -> Any:
    from protocol.identity import IdentityError, normalize_identity
    from protocol.server.abuse import AbusePolicy
    from protocol.server.config import IdleSchedule, ServerConfig
    from protocol.server.tasks import TaskLoadError, default_tasks, demo_tasks, load_task_file, neuraxon_task

    training = not args.no_training
    if args.demo_v2 and not args.demo:
        raise _InputError("--demo-v2 needs --demo")
    try:
        if args.task:
            tasks = [load_task_file(path, threshold=args.threshold, training=training) for path in args.task]
        elif args.demo:
            tasks = demo_tasks(training=training, v2=args.demo_v2) if args.threshold is None else \
                demo_tasks(threshold=args.threshold, training=training, v2=args.demo_v2)
        else:
            tasks = [neuraxon_task(t.payload, threshold=args.threshold, training=training) for t in default_tasks()]
    except TaskLoadError as exc:
        raise _InputError(str(exc)) from None
    if args.bpp9000_task is not None:
        tasks.append(_bpp9000_task(args))
    elif args.bpp9000_seed is not None:
        raise _InputError("--bpp9000-seed needs --bpp9000-task")
    try:
        identity = normalize_identity(args.identity) if args.identity else None
        allow = frozenset(normalize_identity(w) for w in args.allow_wallet) if args.allow_wallet else None
    except IdentityError as exc:
        raise _InputError(f"invalid identity: {exc}") from None
    if not args.full_gc_seconds >= 0:
        raise _InputError(f"--full-gc-seconds {args.full_gc_seconds:g}: must be >= 0 "
                          "(0: Python's automatic full collections)")
    schedule = None
    if args.idle_schedule:
        try:
            work_s, idle_s = (float(x) for x in args.idle_schedule.split(":"))
            schedule = IdleSchedule(work_s, idle_s)
        except ValueError:
            raise _InputError("--idle-schedule must be WORK:IDLE, two positive numbers of seconds") from None
    try:  # ':memory:' keeps nothing
        database = database_from_args(args)
    except ValueError as exc:
        raise _InputError(str(exc)) from None
    admin_token = _admin_token(args, os.environ)
    try:
        abuse = AbusePolicy(max_wrong_claims=args.max_wrong_claims, ban_seconds=args.ban_seconds,
                            ban_max_seconds=max(86_400.0, args.ban_seconds))
        return ServerConfig(
            host=args.host, port=args.port, front_end_id=args.front_end_id, db_path=database.path, database=database,
            tasks=tuple(tasks),
            epoch=args.epoch, identity=identity,
            access_tokens=_tokens(args), allow_wallets=not args.no_wallets, wallet_allowlist=allow,
            admin_token=admin_token, tls_cert=args.tls_cert, tls_key=args.tls_key, abuse=abuse,
            max_connections_per_address=args.max_connections_per_address,
            handshake_timeout_seconds=args.handshake_timeout, login_timeout_seconds=args.login_timeout,
            ping_interval_seconds=args.ping_interval, max_inflight_per_account=args.max_inflight_per_account,
            full_gc_seconds=args.full_gc_seconds or None,
            max_frame_bytes=args.max_frame_bytes, messages_per_second=args.rate, message_burst=args.burst,
            verify_mode=args.verify_mode, verify_nice=args.verify_nice, job_interval_seconds=args.job_interval,
            verifier=args.verifier, verifier_connect_seconds=args.verifier_connect_timeout,
            parent_refresh_seconds=args.parent_refresh, parent_bar_walks=args.parent_bar_walks,
            calibration_walks=args.calibration_walks,
            share_interval_seconds=args.share_interval, retarget_seconds=args.retarget, vardiff=not args.no_vardiff,
            idle=args.idle, idle_schedule=schedule, inline_task=args.inline_task, inline_parent=args.inline_parent,
            **({"verify_workers": args.verify_workers} if args.verify_workers is not None else {}),
        )
    except ValueError as exc:
        raise _InputError(str(exc)) from None


def _bpp9000_task(args: argparse.Namespace) -> Any:
    from protocol.server.bpp9000 import bpp9000_task, frame_task
    from scoring.bpp9000 import TaskFileError
    from scoring.bpp9000_frame import Rating, rating_score
    from scoring.registry import TaskError

    if args.bpp9000_seed is None:
        raise _InputError("--bpp9000-task needs --bpp9000-seed (the mining seed, 64 hex digits)")
    try:
        data = args.bpp9000_task.read_bytes()
    except OSError as exc:
        raise _InputError(f"cannot read --bpp9000-task {args.bpp9000_task}: {exc.strerror}") from None
    try:
        if args.bpp9000_version == "v1301":
            return bpp9000_task(data, seed=args.bpp9000_seed, threshold=args.bpp9000_threshold)
        threshold = None if args.bpp9000_threshold is None else rating_score(Rating(args.bpp9000_threshold, 0))
        return frame_task(data, seed=args.bpp9000_seed, threshold=threshold, training=not args.no_training)
    except (TaskFileError, TaskError, ValueError) as exc:
        raise _InputError(f"--bpp9000-task {args.bpp9000_task}: {exc}") from None


async def _serve(config: Any, front_end: _FrontEndField) -> int:
    import asyncio
    import gc
    import signal

    import structlog

    from protocol.server.admission import throttled_exception_handler
    from protocol.server.server import WorkServer
    from protocol.server.verify import VerifierUnavailableError

    log = structlog.get_logger("workserver")
    server = WorkServer(config)
    front_end.value = server.front_end_id  # with --port 0 and no --front-end-id: HOST:0 until it listens
    # asyncio reports some faults once per occurrence: at most one line per message and interval, with
    # the count of the ones left out; an accept failing with EMFILE is the guard's open_files refusal.
    asyncio.get_running_loop().set_exception_handler(
        throttled_exception_handler(accept_exhausted=server.guard.accept_exhausted))
    try:
        await server.start()
    except VerifierUnavailableError as exc:
        print(f"error: --verifier: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        log.error("workserver.bind_failed", host=config.host, port=config.port, error=str(exc))
        return 1
    # Everything loaded so far (numba, numpy, the scorer) lives as long as the process: keep it out
    # of the collector's generations, so a collection during a job push costs microseconds, not
    # milliseconds.
    gc.freeze()
    # Verification threads hand the GIL back sooner, so the event loop is never held up long.
    sys.setswitchinterval(0.001)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    front_end.value = server.front_end_id
    log.info("workserver.listening", ws_url=server.ws_url, http_url=server.http_url,
             db=config.database.describe() if config.database else str(config.db_path or ":memory:"))
    print(f"workserver ready: {server.ws_url} {server.http_url}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("workserver.stopping")
        await server.close()
    return 0


def run_workserver(args: argparse.Namespace) -> int:
    import asyncio

    try:
        config = _config(args)
    except _InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    front_end = _FrontEndField()
    _configure_logging(args.log_format, args.log_level, front_end)
    return asyncio.run(_serve(config, front_end))
