"""Neuraxon task (algo 0) scoring speed: iterations per second on one core and on all cores, and
the ratio against the plain-Python twin on the same task, all measured in this run.

One iteration = one nonce = the full training walk (``walk.steps`` mutation steps, each evaluated
in every world). Run: ``.venv/bin/python benchmarks/neuraxon_task.py [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch import default_threads
from scoring import neuraxon as NX
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec
from tests.naive import neuraxon_task as naive

PK = bytes(range(32))


def rate(task: TaskSpec, threads: int, seconds: float) -> tuple[float, int]:
    """Iterations per second with ``threads`` threads each scoring its own nonces."""
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            NX.score(task, PK, (k << 32 | i).to_bytes(32, "little"))
            i += 1
        done[k] = i

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(done) / (time.perf_counter() - started), sum(done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0, help="measuring time per configuration")
    args = ap.parse_args()
    task = DEFAULT_TASK
    NX.score(task, PK, bytes(32))  # compile and prepare
    print(f"task {task.name}: {task.worlds} worlds x {task.lifetime_ticks} ticks x {task.steps_per_tick} "
          f"steps, walk {task.walk.steps} x {task.walk.mutations}, {6 + task.network.hidden + 2} neurons")

    # Same task, short walk, so that the plain twin finishes: time per fitness evaluation.
    short = task.replace(walk={**task.to_dict()["walk"], "steps": 2})
    nonce = bytes([5]) * 32
    t = time.perf_counter()
    twin_score, _ = naive.score(short, PK, nonce)
    twin_time = time.perf_counter() - t
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        numba_score = NX.score(short, PK, nonce)
    numba_time = (time.perf_counter() - t) / reps
    assert numba_score == twin_score, (numba_score, twin_score)
    print(f"short walk (2 steps, 3 evaluations): plain twin {twin_time:.2f} s, numba {numba_time * 1000:.1f} ms, "
          f"ratio {twin_time / numba_time:.0f}x (same score {numba_score})")

    one, n1 = rate(task, 1, args.seconds)
    print(f"1 thread : {one:6.2f} it/s ({1000 / one:.0f} ms per iteration, {n1} iterations)")
    cores = default_threads()
    if cores > 1:
        many, nn = rate(task, cores, args.seconds)
        print(f"{cores} threads: {many:6.2f} it/s ({nn} iterations); scaling {many / one:.2f}x over 1 thread")
    est_twin_iteration = twin_time / 3 * (task.walk.steps + 1)
    print(f"full iteration: numba {1000 / one:.0f} ms vs plain twin ~{est_twin_iteration:.0f} s "
          f"(extrapolated from the short walk): {est_twin_iteration * one:.0f}x")


if __name__ == "__main__":
    main()
