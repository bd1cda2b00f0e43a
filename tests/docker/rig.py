"""A real rig on loopback for the packaging tests: work server and miner as subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCKER = ROOT / "docker"
#: The shipped Prometheus config always sends this bearer token; a loopback miner ignores it.
API_TOKEN = "packaging-test-token"
WALLET = "WUQHZHKUBPWFQGHNPXWMIGFRODFCDXNYYOGPKRMNIDLUZQQAZAGHYBIHNPYJ"


def cli(*args: str) -> list[str]:
    exe = ROOT / ".venv" / "bin" / "neuraxon-miner"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "miner", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEURAXON_MINER_", "NOTIFY_SOCKET", "WATCHDOG"))}
    env.update(extra)
    return env


def http_get(url: str, token: str | None = None, timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()  # type: ignore[no-any-return]


def wait_until(check: object, timeout: float, what: str, interval: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()  # type: ignore[operator]
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last_error})")


@dataclass
class Rig:
    server_http: str
    server_ws: str
    api: str
    api_port: int
    miner: subprocess.Popen[bytes]
    tmp: Path

    def metrics_text(self) -> str:
        return http_get(f"{self.api}/metrics").decode()

    def status(self) -> dict[str, object]:
        return json.loads(http_get(f"{self.api}/status"))  # type: ignore[no-any-return]


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def rig(tmp: Path) -> Iterator[Rig]:
    """Work server (demo task) + miner with its API on loopback, both with the real CLI."""
    server_log = (tmp / "workserver.log").open("wb")
    server = subprocess.Popen(cli("workserver", "--host", "127.0.0.1", "--port", "0", "--db", str(tmp / "ws.sqlite"),
                                  "--demo", "--job-interval", "5",
                                  # miner and server share the cores: a niced verifier would starve
                                  "--verify-nice", "0", "--calibration-walks", "32", "--parent-bar-walks", "16"),
                              stdout=subprocess.PIPE, stderr=server_log, env=clean_env())
    miner: subprocess.Popen[bytes] | None = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        assert line.startswith("workserver ready:"), f"work server did not start: {line!r}"
        ws_url, http_url = line.split()[2:4]
        api_port = free_port()
        miner = subprocess.Popen(
            cli("run", "--server", ws_url, "--wallet", WALLET, "--worker", "packaging-rig", "--threads", "2",
                "--api-port", str(api_port)),
            stdout=(tmp / "miner.log").open("wb"), stderr=subprocess.STDOUT,
            env=clean_env(XDG_STATE_HOME=str(tmp / "state")))
        api = f"http://127.0.0.1:{api_port}"
        wait_until(lambda: http_get(f"{api}/healthz"), 180, "the miner's /healthz")
        yield Rig(http_url, ws_url, api, api_port, miner, tmp)
    finally:
        if miner is not None:
            _stop(miner)
        _stop(server)
        server_log.close()


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
