"""bpp9000 throughput, both versions: it/s per thread with 1 and 2 threads, against qubic/core.

Run: ``.venv/bin/python benchmarks/bpp9000.py [--iterations K] [--quick]``.
One iteration is one solo ``score(public key, nonce)``: v1.305 (the current ``bpp9000``, a
1000-step walk of a 2048-neuron network, core's golden rows) and v1.301 (``bpp9000-v1301``, a
100-step walk over 8,088 windows; one identity whose root network is valid with canonical nonces
at L = 1, the miner's steady state, and core's golden sample rows).

Every thread scores the same list of iterations (no shared queue, so no thread waits on another)
and reports its own wall time and CPU time. Printed per workload:

* it/s per thread, wall clock, with 1 and with 2 threads, and the 2-thread total over 1 thread;
* it/s per CPU-second: what a thread gets while it holds a core. If this drops with 2 threads the
  hardware is shared (frequency, caches, memory); if only the wall figure drops, the threads
  were waiting (for another process on the machine, or for the GIL);
* ``cpu share``, CPU time over wall time per thread: below ~0.95 the machine was busy with other
  work, and the wall figures understate the code.

Two control loops run the same way (a scalar dependency chain and an AVX-512-wide logic loop):
their 2-thread scaling is the ceiling this machine gives any code in this run.

The qubic/core figures were measured on this machine class (2-core AVX-512 Xeon) by a previous
session, core's own scorers compiled natively: v1.305 0.368 it/s on one thread and 0.35 it/s per
thread on two; v1.301 0.635 it/s (AVX-512 + VBMI) and 0.065 it/s (AVX2 only).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import llvmlite.binding as llvm  # type: ignore[import-untyped]
import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.keccak import build_pool
from scoring import bpp9000 as sb
from scoring import bpp9000_frame as sf
from scoring.bpp9000_pool import PoolCache
from tests.bpp9000_frame_vectors import make_scorer, solo_rows
from tests.bpp9000_vectors import TASK, rows
from tests.naive import bpp9000 as naive_v1301
from tests.naive import bpp9000_frame as naive_v1305

CORE_V1305_1T = 0.368
CORE_V1305_2T = 0.35  # per thread
CORE_V1301_AVX512 = 0.635
CORE_V1301_AVX2 = 0.065


@dataclass(frozen=True)
class Run:
    """One thread's share of a timed run."""

    done: int
    wall: float
    cpu: float


def timed(jobs_per_thread: Sequence[Sequence[Callable[[], object]]]) -> list[Run]:
    """Start one thread per job list at the same instant; each reports its own wall and CPU time."""
    gate = threading.Barrier(len(jobs_per_thread))
    out: list[Run | None] = [None] * len(jobs_per_thread)

    def work(k: int) -> None:
        gate.wait()
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        for job in jobs_per_thread[k]:
            job()
        out[k] = Run(len(jobs_per_thread[k]), time.perf_counter() - wall0, time.thread_time() - cpu0)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs_per_thread))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in out if r is not None]


@dataclass(frozen=True)
class Scaling:
    one: Run
    two: list[Run]

    @property
    def per_thread_1(self) -> float:
        return self.one.done / self.one.wall

    @property
    def per_thread_2(self) -> float:
        return sum(r.done / r.wall for r in self.two) / len(self.two)

    @property
    def speedup(self) -> float:
        return sum(r.done / r.wall for r in self.two) / self.per_thread_1

    def line(self, label: str) -> str:
        cpu1 = self.one.done / self.one.cpu
        cpu2 = sum(r.done / r.cpu for r in self.two) / len(self.two)
        share1 = self.one.cpu / self.one.wall
        share2 = min(r.cpu / r.wall for r in self.two)
        return (f"  {label:34s} {self.per_thread_1:6.3f} {self.per_thread_2:6.3f}  {self.speedup:5.2f}x   "
                f"{cpu1:6.3f} {cpu2:6.3f}   {share1:4.2f} {share2:4.2f}")


HEADER = ("  workload                           it/s per thread     2T/1T   it/s per CPU-s   cpu share\n"
          "                                         1T     2T                  1T     2T     1T   2T")


def scaling(make_jobs: Callable[[], list[Callable[[], object]]], per_thread: int) -> Scaling:
    """The first ``per_thread`` jobs of ``make_jobs()`` on one thread, then the same on each of two threads."""
    one = timed([make_jobs()[:per_thread]])[0]
    two = timed([make_jobs()[:per_thread] for _ in range(2)])
    return Scaling(one, two)


def control_loops(seconds: float) -> tuple[Scaling, Scaling]:
    @numba.njit(nogil=True)
    def chain(n: int) -> np.uint64:
        x = np.uint64(88172645463325252)
        for _ in range(n):
            x ^= x << np.uint64(13)
            x ^= x >> np.uint64(7)
            x ^= x << np.uint64(17)
        return x

    @numba.njit(nogil=True)
    def wide(a: np.ndarray, b: np.ndarray, n: int) -> np.uint64:
        for _ in range(n):
            for i in range(a.shape[0]):
                a[i] = (a[i] & b[i]) | (~a[i] ^ b[(i + 8) % b.shape[0]])
        return a[0]

    a = np.arange(1024, dtype=np.uint64)
    chain(10)
    wide(a.copy(), a, 1)
    # calibrate each to ~seconds/4 per job on one thread
    start = time.perf_counter()
    chain(10_000_000)
    n_chain = int(10_000_000 * seconds / 4 / max(time.perf_counter() - start, 1e-6))
    start = time.perf_counter()
    wide(a.copy(), a, 1000)
    n_wide = int(1000 * seconds / 4 / max(time.perf_counter() - start, 1e-6))
    return (scaling(lambda: [lambda: chain(n_chain)] * 4, 4),
            scaling(lambda: [lambda: wide(a.copy(), a, n_wide)] * 4, 4))


def v1305(iterations: int, quick: bool) -> Scaling:
    cache = PoolCache()
    golden = solo_rows()
    scorer = make_scorer(cache, golden[0].seed)
    print(f"v1.305 (bpp9000): config {scorer.config}, control {scorer.control}, output {scorer.output}")
    root = scorer.root(golden[0].public_key)
    scorer.evaluate(root)  # compile / load the kernels
    start = time.perf_counter()
    rating = scorer.evaluate(root)
    rollout_s = time.perf_counter() - start
    print(f"  one rollout of a root network (to {rating}): {rollout_s * 1e3:.1f} ms")
    if not quick:
        c = scorer.config
        p = c.population
        net = naive_v1305.Net(root.neighbors.reshape(p, 3).tolist(), root.start.tolist(),
                              root.lut.reshape(p, 27).tolist())
        params = naive_v1305.Params(c.window_width, c.shift_cap, 60, 0, scorer.control, scorer.output,
                                    scorer.targets.tolist())
        start = time.perf_counter()
        naive_v1305.frame_errors(net, params, 0)  # 59 ticks, then void
        twin_s = (time.perf_counter() - start) / 59 * _ticks(scorer, root)
        print(f"  Python twin, same rollout (scaled from 59 ticks): {twin_s * 1e3:.0f} ms "
              f"-> kernel is {twin_s / rollout_s:.0f}x faster")

    def jobs() -> list[Callable[[], object]]:
        return [lambda r=r: scorer.score(r.public_key, r.nonce) for r in golden]

    return scaling(jobs, iterations)


def _ticks(scorer: sf.FrameScorer, root: sf.Network) -> int:
    # ticks of the root's frame-0 rollout: emits needed over the share of ticks that emit
    c = scorer.config
    p = c.population
    state = root.start.copy()
    nbr = root.neighbors.reshape(p, 3)
    lut = root.lut.reshape(p, 27)
    emits = ticks = 0
    while emits < c.window_width and ticks < c.max_ticks:
        state = lut[np.arange(p), state[nbr[:, 0]] + 3 * state[nbr[:, 1]] + 9 * state[nbr[:, 2]]]
        ticks += 1
        emits += int(state[scorer.control] != 2)
    return ticks


def v1301(iterations: int, quick: bool) -> tuple[Scaling, Scaling]:
    config = sb.PRODUCTION_CONFIG
    samples = rows()
    pool = build_pool(samples[0].seed)
    task = sb.read_task_file(TASK)
    scorer = sb.Bpp9000Scorer(pool, task, config)
    print(f"v1.301 (bpp9000-v1301): config {config} with {TASK.name}; cone {scorer.cone_size} of "
          f"{config.population - config.inputs} neurons")
    key = samples[0].public_key
    lut = sb.root_lut(pool, key, config.population)
    scorer.errors(lut)  # compile / load
    start = time.perf_counter()
    errors = scorer.errors(lut)
    sliced_s = time.perf_counter() - start
    print(f"  one evaluation (8,088 windows) of a valid root network: {sliced_s * 1e3:.1f} ms")
    if not quick:
        head = task.head(config.sequence_length)
        start = time.perf_counter()
        for w in range(3):
            naive_v1301.window_result(lut.tolist(), head.neighbor_indices.tolist(), head.input_indices.tolist(),
                                      head.signal_index, int(head.output_indices[0]), head.inputs.tolist(),
                                      head.outputs[:, 0].tolist(), w, config.window_width, config.max_ticks)
        twin_s = (time.perf_counter() - start) / 3 * config.windows
        print(f"  Python twin, same evaluation (scaled from 3 windows): {twin_s * 1e3:.0f} ms "
              f"-> kernel is {twin_s / sliced_s:.0f}x faster ({errors} errors)")

    rng = np.random.default_rng(100)
    nonces = [sb.canonical_nonce(1, rng.bytes(29)) for _ in range(iterations)]

    def hard() -> list[Callable[[], object]]:
        return [lambda n=n: scorer.score(key, n) for n in nonces]

    def mixed() -> list[Callable[[], object]]:
        return [lambda r=r: scorer.score(r.public_key, r.nonce) for r in samples]

    return scaling(hard, iterations), scaling(mixed, 2 * iterations)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iterations", type=int, default=4, help="iterations per thread and workload (default 4)")
    ap.add_argument("--quick", action="store_true", help="one iteration per thread, no Python-twin baselines")
    args = ap.parse_args()
    iterations = 1 if args.quick else args.iterations
    features = llvm.get_host_cpu_features()
    print(f"machine: {os.cpu_count()} CPUs, {llvm.get_host_cpu_name()} "
          f"({'AVX-512' if features.get('avx512f') else 'no AVX-512'}), numba {numba.__version__}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print()
    new = v1305(iterations, args.quick)
    print()
    old_hard, old_mixed = v1301(iterations, args.quick)
    print()
    chain, wide = control_loops(2.0 if args.quick else 6.0)
    print(HEADER)
    print(new.line("v1.305 golden rows"))
    print(old_hard.line("v1.301 valid root, L=1"))
    print(old_mixed.line("v1.301 golden sample rows"))
    print(chain.line("control: scalar chain"))
    print(wide.line("control: AVX-512 logic"))
    print()
    print("against qubic/core on this machine class (measured here by a previous session):")
    print(f"  v1.305: core {CORE_V1305_1T} it/s on 1 thread, {CORE_V1305_2T} per thread on 2 -> ours "
          f"{new.per_thread_1 / CORE_V1305_1T:.2f}x and {new.per_thread_2 / CORE_V1305_2T:.2f}x "
          f"(goal >= 0.5x); 2-thread scaling {new.speedup:.2f}x (goal >= 1.8x, core "
          f"{2 * CORE_V1305_2T / CORE_V1305_1T:.2f}x)")
    print(f"  v1.301: core {CORE_V1301_AVX512} it/s AVX-512+VBMI, {CORE_V1301_AVX2} AVX2 only -> ours (valid root) "
          f"{old_hard.per_thread_1 / CORE_V1301_AVX512:.2f}x / {old_hard.per_thread_1 / CORE_V1301_AVX2:.1f}x, "
          f"(golden rows) {old_mixed.per_thread_1 / CORE_V1301_AVX512:.2f}x / "
          f"{old_mixed.per_thread_1 / CORE_V1301_AVX2:.1f}x; 2-thread scaling {old_hard.speedup:.2f}x")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (two 512 MiB pools, "
          f"each shared by all threads)")


if __name__ == "__main__":
    main()
