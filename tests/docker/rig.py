"""A real rig on loopback for the packaging and deploy tests: the reference work server and the miner
as subprocesses, and a real Prometheus with the shipped scrape configuration."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

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


def need(tool: str) -> str:
    """Path of a real tool the test drives: skip without it, or fail when ``NEURAXON_REQUIRE_TOOLS`` is set."""
    venv_tool = ROOT / ".venv" / "bin" / tool
    path = shutil.which(tool) or (str(venv_tool) if venv_tool.exists() else None)
    if path is None:
        if os.environ.get("NEURAXON_REQUIRE_TOOLS"):
            pytest.fail(f"{tool} is required here (NEURAXON_REQUIRE_TOOLS is set) but not installed")
        pytest.skip(f"{tool} not installed (.ci/run installs it)")
    return path


@dataclass
class WorkServer:
    """The reference work server (``neuraxon-miner workserver``) as a child process on loopback."""

    ws_url: str
    http_url: str
    db: Path
    proc: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return int(urllib.parse.urlsplit(self.http_url).port or 0)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung server)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


@contextmanager
def workserver(tmp: Path, *extra: str) -> Iterator[WorkServer]:
    """The demo task on a free loopback port, with a short job interval and quick calibration.

    ``extra`` arguments are appended (e.g. ``--no-training`` keeps the work fixed, so results found
    before an outage are still current after it).
    """
    db = tmp / "ws.sqlite"
    log = (tmp / "workserver.log").open("wb")
    proc = subprocess.Popen(cli("workserver", "--host", "127.0.0.1", "--port", "0", "--db", str(db),
                                "--demo", "--job-interval", "5",
                                # miner and server share the cores: a niced verifier would starve
                                "--verify-nice", "0", "--calibration-walks", "32", "--parent-bar-walks", "16",
                                *extra),
                            stdout=subprocess.PIPE, stderr=log, env=clean_env())
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("workserver ready:"), f"work server did not start: {line!r}"
        ws_url, http_url = line.split()[2:4]
        yield WorkServer(ws_url, http_url, db, proc)
    finally:
        proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        _stop(proc)
        log.close()


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
    with workserver(tmp) as server:
        api_port = free_port()
        miner = subprocess.Popen(
            cli("run", "--server", server.ws_url, "--wallet", WALLET, "--worker", "packaging-rig", "--threads", "2",
                "--api-port", str(api_port)),
            stdout=(tmp / "miner.log").open("wb"), stderr=subprocess.STDOUT,
            env=clean_env(XDG_STATE_HOME=str(tmp / "state")))
        try:
            api = f"http://127.0.0.1:{api_port}"
            wait_until(lambda: http_get(f"{api}/healthz"), 180, "the miner's /healthz")
            yield Rig(server.http_url, server.ws_url, api, api_port, miner, tmp)
        finally:
            _stop(miner)


def prometheus_dir(tmp: Path, miner_targets: list[str], workserver_target: str, token: str = API_TOKEN) -> Path:
    """The shipped scrape config, verbatim, with the given ``host:port`` targets and the token file beside it."""
    prom = tmp / "prometheus"
    (prom / "targets").mkdir(parents=True)
    (prom / "secrets").mkdir()
    shutil.copy(DOCKER / "prometheus" / "prometheus.yml", prom / "prometheus.yml")
    (prom / "targets" / "miner.yml").write_text(f"- targets: {json.dumps(miner_targets)}\n")
    (prom / "targets" / "workserver.yml").write_text(f'- targets: ["{workserver_target}"]\n')
    (prom / "targets" / "pool.yml").write_text("[]\n")  # no pool front-ends
    (prom / "secrets" / "miner_api_token").write_text(token)
    return prom


@contextmanager
def prometheus(prom: Path) -> Iterator[str]:
    """A real Prometheus on a free loopback port with ``prom/prometheus.yml``; yields its base URL."""
    binary = need("prometheus")
    port = free_port()
    proc = subprocess.Popen([binary, f"--config.file={prom / 'prometheus.yml'}",
                             f"--storage.tsdb.path={prom / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=(prom / "prometheus.log").open("wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_get(f"{base}/-/ready"), 60, "Prometheus to be ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def prom_query(base: str, expr: str) -> list[dict[str, object]]:
    """An instant query; the result vector (fails on a query error)."""
    body = json.loads(http_get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"))
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
