"""structlog, configured once per process: JSON lines for machines, readable lines for people.

``format="auto"`` renders readable (and, on a colour terminal, coloured) lines when stdout is a
terminal and JSON lines otherwise (systemd's journal, Docker, a pipe). Every line carries an
RFC 3339 UTC timestamp and a level; events have stable names (``job_received``,
``result_accepted``, ``server_failover``, ``rate_report``, ...). Output goes to stdout and is
flushed per line, so nothing is lost in a buffer when the process is killed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

__all__ = ["configure_logging", "is_configured"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured = False


def is_configured() -> bool:
    """Whether :func:`configure_logging` ran in this process."""
    return _configured


def configure_logging(format: str = "auto", level: str = "info", stream: TextIO | None = None) -> str:
    """Configure structlog for the whole process (later calls only change nothing); returns the format used."""
    global _configured  # noqa: PLW0603 - structlog's configuration is process-wide by design
    out = stream if stream is not None else sys.stdout
    chosen = format
    if chosen == "auto":
        chosen = "text" if out.isatty() else "json"
    if _configured:
        return chosen
    renderer: Any
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty(), pad_event_to=24)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if chosen == "json" else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _configured = True
    return chosen
