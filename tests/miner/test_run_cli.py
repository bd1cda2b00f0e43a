"""Acceptance: the README's run command mines on the embedded server and is observable and stoppable.

Runs ``./scripts/run.sh run --api-port P`` as a subprocess (a fresh state directory, JSON logs because
stdout is a pipe, a systemd notify socket of the test's own), and checks: iterations and an accepted
solution within 60 s, ``/metrics`` parses with prometheus_client's parser, ``/status`` is JSON,
``neuraxon-miner healthcheck`` agrees, READY/WATCHDOG/STOPPING reach systemd, SIGTERM exits 0.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from miner.api import StatusDocument
from scoring.algorithms.cuda_backends import cuda_unavailable
from tests.miner.harness import ROOT, clean_env, miner_command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_readme_run_command_mines_on_the_embedded_server(tmp_path: Path) -> None:
    port = _free_port()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"), NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
                    WATCHDOG_USEC="4000000", NEURAXON_MINER_PRINT_INTERVAL_SECONDS="2")
    env.pop("STATE_DIRECTORY", None)
    log = (tmp_path / "miner.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen([str(ROOT / "scripts" / "run.sh"), "run", "--api-port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    messages: list[str] = []

    def drain() -> None:  # read the notify socket as systemd would
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                return

    try:
        # Until a solution is accepted and the miner is ready (the deadline only guards against a hang;
        # how soon it comes is measured in README's table, not asserted here).
        while time.monotonic() - started < 300:
            time.sleep(1)
            drain()
            assert proc.poll() is None, (tmp_path / "miner.log").read_text()[-3000:]
            try:
                status, body = _get(base + "/status")
            except OSError:
                continue
            doc = StatusDocument.model_validate_json(body)
            # the rate windows need 2 s of samples, and a first solution can come sooner than that
            if doc.results.accepted >= 1 and doc.ready and doc.rates.get("10s") is not None:
                break
        status, body = _get(base + "/status")
        doc = StatusDocument.model_validate_json(body)
        assert json.loads(body)["schema_version"] == 1
        assert doc.embedded_server and doc.iterations_total > 0 and doc.results.accepted >= 1, doc
        assert doc.ready and doc.server is not None and doc.server.startswith("ws://127.0.0.1:")
        status, metrics = _get(base + "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(metrics.decode())}
        iterations = families["neuraxon_miner_iterations"].samples[0].value
        accepted = sum(s.value for s in families["neuraxon_miner_solutions"].samples
                       if s.labels["result"] == "accepted" and s.name.endswith("_total"))
        assert iterations > 0 and accepted >= 1
        assert {s.labels["window"] for s in families["neuraxon_miner_iterations_per_second"].samples} >= {"10s", "60s"}
        assert _get(base + "/healthz")[0] == 200 and _get(base + "/readyz")[0] == 200
        check = subprocess.run(miner_command("healthcheck", "--api-port", str(port)), env=env, check=False,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        deadline = time.monotonic() + 60  # a guard against a hang: WATCHDOG=1 follows READY=1 within 2 s
        while time.monotonic() < deadline:
            drain()
            lines = [line for m in messages for line in m.split("\n")]
            if "READY=1" in lines and "WATCHDOG=1" in lines[lines.index("READY=1"):] \
                    and '"rate_report"' in (tmp_path / "miner.log").read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    check = subprocess.run(miner_command("healthcheck", "--api-port", str(port), "--timeout", "1"), env=env,
                           check=False, capture_output=True, text=True, timeout=60)
    assert check.returncode == 5  # nobody answers any more
    drain()
    notify.close()
    states = [line for m in messages for line in m.split("\n")]
    assert "READY=1" in states and "WATCHDOG=1" in states and states[-1] == "STOPPING=1"
    assert states.index("READY=1") < states.index("WATCHDOG=1")
    lines = [json.loads(line) for line in (tmp_path / "miner.log").read_text().splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"self_test_passed", "embedded_server_started", "server_connected", "result_accepted", "rate_report",
            "miner_stopped"} <= events
    assert all(line["timestamp"].endswith("Z") for line in lines)
    # --backend auto (the default) says which backend each algorithm got, and why
    chosen = {(line["algo"], line["backend"], line["reason"]) for line in lines if line["event"] == "backend_selected"}
    assert chosen == {("neuraxon", "cpu", cuda_unavailable()), ("neuraxon-v2", "cpu", "neuraxon-v2 has no cuda kernel"),
                      ("bpp9000", "cpu", "bpp9000 has no cuda kernel"), ("bpp9000-v1301", "cpu", cuda_unavailable())}


# Runs the miner's CLI in a fresh interpreter in which importing Dask or psycopg fails (and is reported,
# in case some code caught the ImportError and went on).
_WITHOUT_POOL = """
import atexit, sys

tried = []

class NoPool:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("distributed", "dask", "psycopg"):
            tried.append(name)
            raise ImportError(f"{name}: the newcomer path must not need the pool extra")

sys.meta_path.insert(0, NoPool())
atexit.register(lambda: print("pool imports tried:", sorted(set(tried))))
from miner.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_newcomer_path_needs_no_postgresql_and_no_dask(tmp_path: Path) -> None:
    """What ``./scripts/run.sh`` runs, ``neuraxon-miner run`` with no server (the embedded work server, its
    SQLite ledger, local verification), starts, connects and gets a job without ever importing Dask or
    psycopg: the pool is opt-in."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_POOL, "run", "--dry-run", "--no-self-test", "--state-dir",
         str(tmp_path / "state"), "--api-port", "0"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "dry run: ok" in done.stdout and "pool imports tried: []" in done.stdout, done.stdout[-2000:]
