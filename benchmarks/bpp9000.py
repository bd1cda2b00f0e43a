"""bpp9000 (algo 1) throughput on the production config with qubic/core's example task.

Run: ``.venv/bin/python benchmarks/bpp9000.py [--threads N] [--iterations K] [--quick]``.
Everything is measured in this run on this machine; ratios compare against baselines measured
in the same run (the straightforward per-window kernel on one full evaluation, and the plain
Python twin on a few windows scaled to all of them). One iteration is one ``score(public key,
nonce)``: a 100-step walk, up to 101 evaluations of 8,088 windows each.

Two workloads: the golden sample rows (mixed identities as in core's profiling run: roughly a
third of the roots time out, and walks that never leave a timed-out network are cheap), and one
identity whose root network is valid with canonical nonces at L = 1 (every step a full
evaluation unless its mutation misses the output's cone; the miner's steady state).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

import llvmlite.binding as llvm  # type: ignore[import-untyped]
import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.keccak import build_pool
from scoring import bpp9000 as sb
from tests.bpp9000_vectors import TASK, rows
from tests.naive import bpp9000 as naive

#: qubic/core's own scorer on a 2-core Zen 4 like the project's machine (reference/qubic-upow.md §4.1).
ANCHOR_AVX512 = 1.25
ANCHOR_AVX512_2T = 2.15
ANCHOR_AVX2 = 0.072


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def canonical_nonces(count: int, changes: int, salt: int) -> list[bytes]:
    rng = np.random.default_rng(salt)
    return [sb.canonical_nonce(changes, rng.bytes(29)) for _ in range(count)]


def rate(scorer: sb.Bpp9000Scorer, jobs: list[tuple[bytes, bytes]]) -> float:
    start = time.perf_counter()
    for key, nonce in jobs:
        scorer.score(key, nonce)
    return len(jobs) / (time.perf_counter() - start)


def threaded_rate(scorer: sb.Bpp9000Scorer, jobs: list[tuple[bytes, bytes]], threads: int) -> float:
    """Iterations per second of ``threads`` threads pulling jobs from one shared queue."""
    queue = list(reversed(jobs))
    lock = threading.Lock()
    gate = threading.Barrier(threads + 1)

    def work() -> None:
        gate.wait()
        while True:
            with lock:
                if not queue:
                    return
                key, nonce = queue.pop()
            scorer.score(key, nonce)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return len(jobs) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for the all-threads run")
    ap.add_argument("--iterations", type=int, default=4, help="iterations per thread for the hard workload")
    ap.add_argument("--quick", action="store_true", help="fewer iterations and no per-window baseline")
    args = ap.parse_args()
    iterations = 1 if args.quick else args.iterations
    config = sb.PRODUCTION_CONFIG
    samples = rows()
    features = llvm.get_host_cpu_features()
    print(f"machine: {os.cpu_count()} CPUs, {llvm.get_host_cpu_name()} "
          f"({'AVX-512' if features.get('avx512f') else 'no AVX-512'}), numba {numba.__version__}")
    print(f"config {config} with {TASK.name}")

    start = time.perf_counter()
    pool = build_pool(samples[0].seed)
    build_s = time.perf_counter() - start
    print(f"random2 pool build: {build_s:.2f} s ({pool.nbytes / 2**20:.0f} MiB; C reference ~1.6 s)")
    task = sb.read_task_file(TASK)
    scorer = sb.Bpp9000Scorer(pool, task, config)
    print(f"cone of influence: {scorer.cone_size} of {config.population - config.inputs} updated neurons")

    hard_key = samples[0].public_key
    lut = sb.root_lut(pool, hard_key, config.population)
    scorer.errors(lut)  # compile / load the kernels
    scorer.score(hard_key, canonical_nonces(1, 1, 99)[0])
    start = time.perf_counter()
    errors = scorer.errors(lut)
    sliced_s = time.perf_counter() - start
    print()
    print("one evaluation (8,088 windows) of a valid root network:")
    print(f"  bit-sliced kernel      {sliced_s * 1e3:9.1f} ms   ({errors} errors)")
    if not args.quick:
        baseline = sb.Bpp9000Scorer(pool, task, config, kernel="per_window")
        baseline.errors(lut[:1].repeat(config.population, axis=0))  # compile
        start = time.perf_counter()
        assert baseline.errors(lut) == errors
        window_s = time.perf_counter() - start
        print(f"  per-window kernel      {window_s * 1e3:9.1f} ms   -> bit-sliced is {window_s / sliced_s:.0f}x faster")
    head = task.head(config.sequence_length)
    twin_windows = 3
    start = time.perf_counter()
    for w in range(twin_windows):
        naive.window_result(lut.tolist(), head.neighbor_indices.tolist(), head.input_indices.tolist(),
                            head.signal_index, int(head.output_indices[0]), head.inputs.tolist(),
                            head.outputs[:, 0].tolist(), w, config.window_width, config.max_ticks)
    twin_s = (time.perf_counter() - start) / twin_windows * config.windows
    print(f"  Python twin (scaled)   {twin_s * 1e3:9.0f} ms   -> bit-sliced is {twin_s / sliced_s:.0f}x faster")

    print()
    print("iterations per second (one iteration = one score(public key, nonce)):")
    mixed = [(r.public_key, r.nonce) for r in samples[:4 if args.quick else 16]]
    mixed_rate = rate(scorer, mixed)
    print(f"  golden sample rows, 1 thread:                   {mixed_rate:6.3f} it/s   ({len(mixed)} rows)")
    hard = [(hard_key, n) for n in canonical_nonces(iterations, 1, 1)]
    hard_rate = rate(scorer, hard)
    print(f"  valid root, L=1, 1 thread:                      {hard_rate:6.3f} it/s")
    jobs = [(hard_key, n) for n in canonical_nonces(iterations * args.threads, 1, 10)]
    all_rate = threaded_rate(scorer, jobs, args.threads)
    print(f"  valid root, L=1, {args.threads} threads (one shared pool):   {all_rate:6.3f} it/s total, "
          f"{all_rate / args.threads:.3f} per thread ({all_rate / hard_rate:.2f}x one thread)")
    mixed_all = threaded_rate(scorer, mixed, args.threads)
    print(f"  golden sample rows, {args.threads} threads:                 {mixed_all:6.3f} it/s total")
    print()
    print(f"anchors (qubic/core C++ on a 2-core Zen 4): AVX-512 {ANCHOR_AVX512} it/s per thread "
          f"({ANCHOR_AVX512_2T} on 2 threads), AVX2 path {ANCHOR_AVX2} it/s")
    print(f"  this run vs AVX-512: sample rows {mixed_rate / ANCHOR_AVX512:.2f}x, "
          f"valid root {hard_rate / ANCHOR_AVX512:.2f}x; vs AVX2: {mixed_rate / ANCHOR_AVX2:.1f}x / "
          f"{hard_rate / ANCHOR_AVX2:.1f}x")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (one pool of {pool.nbytes / 2**20:.0f} MiB shared by all threads)")


if __name__ == "__main__":
    main()
