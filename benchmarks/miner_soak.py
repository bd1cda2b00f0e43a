"""Soak: run the real miner for N minutes and check that its resident memory does not grow.

Run: ``.venv/bin/python benchmarks/miner_soak.py [--minutes 10] [--threads auto] [--embedded]``.

By default the miner mines a real work server in its own process (the demo setting: the default
Neuraxon task at the demo threshold, with cumulative training, so jobs change as the task's best
network improves and solutions are submitted all along), so the figure is the miner's memory alone;
``--embedded`` runs the README's zero-config mode instead (the embedded server's in-memory ledger
then counts too). While it runs, /metrics and /status are scraped every few seconds, as a
Prometheus server and a rig dashboard would. The miner's RSS (``/proc/<pid>/status`` VmRSS) is
sampled every 5 s; the baseline is the median of minute 2 (after JIT warm-up and the first jobs),
the end value the median of the last minute. Acceptance: growth <= 5 %.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocol.server.tasks import DEMO_THRESHOLD
from tests.miner.harness import ROOT, WALLET, ServerProcess, clean_env, miner_command

SAMPLE_SECONDS = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--embedded", action="store_true", help="mine the embedded demo server instead")
    args = parser.parse_args()
    if args.minutes < 3:
        raise SystemExit("--minutes must be at least 3 (baseline minute 2, end the last minute)")
    tmp = Path(tempfile.mkdtemp(prefix="miner-soak-"))
    server = None
    port = _free_port()
    command = ["run", "--threads", args.threads, "--api-port", str(port), "--journal-file",
               str(tmp / "journal.jsonl"), "--log-format", "json"]
    if not args.embedded:
        server = ServerProcess(tmp / "ledger.sqlite", task="default", threshold=DEMO_THRESHOLD, training=True).start()
        command += ["--server", server.url, "--wallet", WALLET, "--worker", "soak"]
    log = (tmp / "miner.log").open("w")
    miner = subprocess.Popen(miner_command(*command), cwd=ROOT, env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    base = f"http://127.0.0.1:{port}"
    print(f"miner_soak: {args.minutes:g} min, {'embedded server' if args.embedded else 'server process'}, "
          f"miner pid {miner.pid}, log {tmp / 'miner.log'}")
    try:
        while (elapsed := time.monotonic() - started) < args.minutes * 60:
            time.sleep(SAMPLE_SECONDS)
            if miner.poll() is not None:
                raise SystemExit(f"the miner exited with {miner.returncode}")
            samples.append((time.monotonic() - started, _rss_mib(miner.pid)))
            try:
                _get(base + "/metrics")
                status = json.loads(_get(base + "/status"))
            except OSError:
                continue
            if int(elapsed) // 60 != int(elapsed - SAMPLE_SECONDS) // 60:
                print(f"{elapsed / 60:5.1f} min  RSS {samples[-1][1]:7.1f} MiB  it {status['iterations_total']:>7}  "
                      f"rate60 {status['rates']['60s'] or 0:6.2f}  accepted {status['results']['accepted']:>5}  "
                      f"stale {status['results']['stale']:>5}  pending {status['results']['pending']}", flush=True)
        final_status = json.loads(_get(base + "/status"))
        healthy = _get(base + "/healthz")
    finally:
        miner.send_signal(signal.SIGTERM)
        try:
            code = miner.wait(60)
        except subprocess.TimeoutExpired:
            miner.kill()
            code = -9
        log.close()
        if server is not None:
            server.stop()
    end = args.minutes * 60
    baseline = statistics.median(r for t, r in samples if 60 <= t < 120)
    final = statistics.median(r for t, r in samples if t >= end - 60)
    peak = max(r for _, r in samples)
    growth = final / baseline - 1
    print(f"RSS baseline (minute 2) {baseline:.1f} MiB, last minute {final:.1f} MiB, peak {peak:.1f} MiB, "
          f"growth {growth:+.2%}  (acceptance: <= +5%)")
    print(f"accepted {final_status['results']['accepted']}, stale {final_status['results']['stale']}, "
          f"rejected {final_status['results']['rejected']}, errors {final_status['results']['error']}, "
          f"iterations {final_status['iterations_total']}, /healthz {json.loads(healthy)['status']}, exit code {code}")
    return 0 if growth <= 0.05 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
