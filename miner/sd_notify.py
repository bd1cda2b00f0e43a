"""systemd's notify protocol, spoken directly (a datagram to ``$NOTIFY_SOCKET``; no dependency).

With ``Type=notify`` the miner sends ``READY=1`` once it is ready to mine, ``WATCHDOG=1`` every
half ``WatchdogSec`` (``$WATCHDOG_USEC``) *only while the workers make progress* — so a hung
worker leads systemd to restart the miner — ``STATUS=...`` with a one-line summary, and
``STOPPING=1`` when it shuts down. Without ``NOTIFY_SOCKET`` every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["SystemdNotifier"]


class SystemdNotifier:
    """Sends notify datagrams to ``NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET") or None
        self.address: str | bytes | None = None
        if path:
            self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_for_us = not pid or pid == str(os.getpid())
        #: Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None without a watchdog.
        self.watchdog_interval: float | None = (
            int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and watchdog_for_us else None)
        self.sent: list[str] = []
        self._stopping = False

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given."""
        return self.address is not None

    def notify(self, *states: str) -> bool:
        """Send ``states`` (e.g. ``"READY=1"``) in one datagram; False if not sent."""
        if self.address is None or not states:
            return False
        payload = "\n".join(states).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Never block the event loop: if the receiver's queue is full, this message is dropped.
                sock.setblocking(False)
                sock.connect(self.address)
                sock.sendall(payload)
        except OSError:
            return False
        self.sent.extend(states)
        del self.sent[:-64]  # keep a short history for tests and /status
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (and ``STATUS=``)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """``WATCHDOG=1`` (not after ``STOPPING=1``)."""
        return not self._stopping and self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """``STATUS=text`` (not after ``STOPPING=1``)."""
        return not self._stopping and self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """``STOPPING=1``; later watchdog and status messages are not sent."""
        self._stopping = True
        return self.notify("STOPPING=1")
