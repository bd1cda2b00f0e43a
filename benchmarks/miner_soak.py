"""Soak: run the real miner for N minutes; hash rate and resident memory per minute, as a table and a plot.

Run: ``.venv/bin/python benchmarks/miner_soak.py [--minutes 60] [--threads auto] [--embedded] [--plot FILE]``
(the plot needs matplotlib: ``pip install -e '.[plots]'``).

By default the miner mines a real work server in its own process (the demo setting: the default
Neuraxon task at the demo threshold, with cumulative training, so jobs change as the task's best
network improves and solutions are submitted all along), so the figure is the miner's memory alone;
``--embedded`` runs the README's zero-config mode instead (the embedded server's in-memory ledger
then counts too). While it runs, /metrics and /status are scraped every few seconds, as a
Prometheus server and a rig dashboard would. The miner's RSS (``/proc/<pid>/status`` VmRSS) is
sampled every 5 s with the iteration count; each minute's row gives its mean it/s and median RSS.
The summary compares the hash rate of minutes 2-6 (after the warm-up) with the last 5 minutes, and
the RSS of minute 2 with the last minute. Acceptance: growth <= 5 % (and no hash-rate collapse,
which users of other miners report after hours).
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


def _per_minute(samples: list[tuple[float, float, int]], minutes: int) -> list[tuple[int, float, float, float]]:
    """``(minute, it/s, median RSS MiB, peak RSS MiB)`` for each whole minute of ``(t, rss, iterations)`` samples."""
    rows = []
    for m in range(1, minutes + 1):
        inside = [s for s in samples if (m - 1) * 60 <= s[0] < m * 60 + 1e-6]
        before = [s for s in samples if s[0] <= (m - 1) * 60 + 1e-6]
        if not inside:
            continue
        t0, it0 = (before[-1][0], before[-1][2]) if before else (0.0, 0)
        t1, it1 = inside[-1][0], inside[-1][2]
        rss = [s[1] for s in inside]
        rows.append((m, (it1 - it0) / (t1 - t0) if t1 > t0 else 0.0, statistics.median(rss), max(rss)))
    return rows


def _plot(rows: list[tuple[int, float, float, float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e '.[plots]')")
        return False
    fig, rate_ax = plt.subplots(figsize=(9, 4.5))
    minutes = [r[0] for r in rows]
    rate_ax.plot(minutes, [r[1] for r in rows], marker="o", color="tab:blue", label="it/s (minute mean)")
    rate_ax.set_xlabel("minute")
    rate_ax.set_ylabel("iterations per second", color="tab:blue")
    rate_ax.set_ylim(bottom=0)
    rss_ax = rate_ax.twinx()
    rss_ax.plot(minutes, [r[2] for r in rows], marker="s", color="tab:red", label="RSS (median)")
    rss_ax.set_ylabel("resident memory, MiB", color="tab:red")
    rss_ax.set_ylim(bottom=0)
    rate_ax.set_title("neuraxon-miner soak: hash rate and memory per minute")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--embedded", action="store_true", help="mine the embedded demo server instead")
    parser.add_argument("--plot", type=Path, help="where to save the plot (default: miner_soak.png in the run's "
                                                  "temporary directory); needs matplotlib (the plots extra)")
    args = parser.parse_args()
    if args.minutes < 2:
        raise SystemExit("--minutes must be at least 2 (minute 1 holds the JIT warm-up)")
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
    samples: list[tuple[float, float, int]] = []  # (seconds since start, RSS MiB, iterations)
    started = time.monotonic()
    base = f"http://127.0.0.1:{port}"
    print(f"miner_soak: {args.minutes} min, {'embedded server' if args.embedded else 'server process'}, "
          f"miner pid {miner.pid}, log {tmp / 'miner.log'}")
    print(f"{'minute':>6} {'it/s':>8} {'RSS MiB':>8} {'peak':>8} {'accepted':>9} {'stale':>6} {'rejected':>9} "
          f"{'errors':>7}", flush=True)
    printed = 0
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(SAMPLE_SECONDS)
            if miner.poll() is not None:
                raise SystemExit(f"the miner exited with {miner.returncode}")
            rss = _rss_mib(miner.pid)
            try:
                _get(base + "/metrics")  # scraped as a Prometheus server would
                status = json.loads(_get(base + "/status"))
            except OSError:
                continue
            samples.append((time.monotonic() - started, rss, int(status["iterations_total"])))
            done = int(samples[-1][0] // 60)
            if done > printed:
                for minute, rate, median, peak in _per_minute(samples, done)[printed:]:
                    r = status["results"]
                    print(f"{minute:>6} {rate:>8.2f} {median:>8.1f} {peak:>8.1f} {r['accepted']:>9} {r['stale']:>6} "
                          f"{r['rejected']:>9} {r['error']:>7}", flush=True)
                printed = done
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
    rows = _per_minute(samples, args.minutes)
    # Hash rate: the first minutes after the warm-up (minute 1) against the last ones, up to 5 each.
    width = max(1, min(5, (args.minutes - 1) // 2))
    first = [r[1] for r in rows if 2 <= r[0] < 2 + width]
    last = [r[1] for r in rows[-width:]]
    first_rate, last_rate = statistics.mean(first), statistics.mean(last)
    print(f"hash rate: minutes 2-{1 + width} {first_rate:.2f} it/s, last {width} min {last_rate:.2f} it/s, "
          f"ratio {last_rate / first_rate:.3f}")
    # Memory: minute 2 (after JIT warm-up and the first jobs; minute 1 on a 2-minute run) against the last.
    baseline = rows[1][2] if len(rows) >= 3 else rows[0][2]
    final, peak = rows[-1][2], max(r[3] for r in rows)
    growth = final / baseline - 1
    print(f"RSS baseline (minute {2 if len(rows) >= 3 else 1}) {baseline:.1f} MiB, last minute {final:.1f} MiB, "
          f"peak {peak:.1f} MiB, growth {growth:+.2%}  (acceptance: <= +5%)")
    print(f"accepted {final_status['results']['accepted']}, stale {final_status['results']['stale']}, "
          f"rejected {final_status['results']['rejected']}, errors {final_status['results']['error']}, "
          f"worker errors {final_status.get('worker_errors', 0)}, iterations {final_status['iterations_total']}, "
          f"/healthz {json.loads(healthy)['status']}, exit code {code}")
    plot = args.plot or tmp / "miner_soak.png"
    if _plot(rows, plot):
        print(f"plot: {plot}")
    return 0 if growth <= 0.05 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
