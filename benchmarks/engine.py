"""Engine throughput: numba kernels vs the plain-Python twin, memory roofline, multi-core scaling.

Run: ``.venv/bin/python benchmarks/engine.py [--quick] [--models v1,v2]``. Everything is measured in
this run on this machine; figures are synapse updates per second (one synapse processed in one
step: its share of the gather and its plasticity update).

Neuraxon v2 rows: upstream's default parameters (Watts–Strogatz, k = 6, so about 6 synapses per
neuron; stochastic mode), numba engine vs the twin in tests/naive/neuraxon_v2.py, both timed in
CPU seconds of this process (robust to other load on a shared machine); then many networks on 1
and 2 threads (wall clock, best of 3).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch import run_many
from engine.neuraxon import Extensions, Network, NetworkParameters
from engine.neuraxon_v2 import NetworkParametersV2, NetworkV2
from tests.naive.neuraxon_v1 import NaiveNetwork
from tests.naive.neuraxon_v2 import NaiveV2

#: Bytes one synapse update moves in this layout (engine/neuraxon_kernels.py ``step_once``), counting
#: every array the two passes stream through (neuron arrays are random-access and mostly cached):
#: gather pass reads pre, post (int32), integrity, w_fast, w_slow, w_meta (float64), silent and
#: modulatory (bool) = 42 B; plasticity pass reads pre, post, silent (9 B) and reads and writes
#: integrity, w_fast, w_slow, w_meta and the two traces (6 x 16 B) = 105 B.
BYTES_EXACT = 42 + 9 + 6 * 16
#: mining mode (traces off): the traces' 32 B are not touched.
BYTES_MINING = BYTES_EXACT - 2 * 16

SIZES = [(1_000, 100), (10_000, 100), (100_000, 100), (1_000_000, 10)]


@numba.njit(nogil=True, cache=True)
def _stream(a, b, c):  # type: ignore[no-untyped-def]
    for i in range(a.shape[0]):
        c[i] = a[i] + 0.5 * b[i]


def copy_bandwidth() -> float:
    """Sustained bytes/s of a streaming kernel (2 reads + 1 write of float64), best of 5."""
    n = 40_000_000
    a, b, c = np.ones(n), np.ones(n), np.empty(n)
    _stream(a, b, c)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        _stream(a, b, c)
        best = max(best, 3 * 8 * n / (time.perf_counter() - t))
    return best


def params_for(n: int, degree: int) -> NetworkParameters:
    n_io = 10
    return NetworkParameters(num_input_neurons=n_io, num_hidden_neurons=n - 2 * n_io, num_output_neurons=n_io,
                             connection_probability=degree / n)


def inputs_for(T: int) -> np.ndarray:
    return np.array([[((i + t // 25) % 3) - 1 for i in range(10)] for t in range(T)], dtype=np.int8)


def numba_rate(net: Network, budget: float) -> float:
    net.run(2, inputs=inputs_for(2))  # compile / warm caches
    T = max(3, int(budget // max(net.n_synapses, 1)))
    t = time.perf_counter()
    rec = net.run(T, inputs=inputs_for(T), record=("n_syn",))
    return float(rec.n_syn.sum()) / (time.perf_counter() - t)


def twin_rate(net: Network, steps: int) -> float:
    twin = NaiveNetwork(net.to_reference_json("dump"), net.rng.tolist())
    total = 0
    t = time.perf_counter()
    for step in range(steps):
        twin.set_input_states(list(inputs_for(step + 1)[-1]))
        twin.step()
        total += len(twin.synapses)
    return total / (time.perf_counter() - t)


def scaling(label: str, make: Callable[[int], Any], count: int) -> None:
    """``count`` networks ``make(seed)`` run 300 steps on 1 and on 2 threads (wall clock, best of 3)."""
    rates: dict[int, float] = {}
    for threads in (1, 2) * 3:
        nets = [make(s) for s in range(count)]
        run_many(nets[:2], 2, threads=threads)
        t = time.perf_counter()
        recs = run_many(nets, 300, inputs=inputs_for(300), record=("n_syn",), threads=threads)
        rate = sum(float(r.n_syn.sum()) for r in recs) / (time.perf_counter() - t)
        rates[threads] = max(rates.get(threads, 0.0), rate)
    print(f"  {label}: 1 thread {rates[1] / 1e6:6.1f} M/s, 2 threads {rates[2] / 1e6:6.1f} M/s, "
          f"scaling {rates[2] / rates[1]:.2f}x", flush=True)


def v1_rows(quick: bool) -> None:
    sizes = SIZES[:2] if quick else SIZES
    bw = copy_bandwidth()
    print(f"machine: {os.cpu_count()} CPUs, numba {numba.__version__}; streaming bandwidth {bw / 1e9:.1f} GB/s")
    print(f"bytes per synapse update: exact layout {BYTES_EXACT} B, mining layout {BYTES_MINING} B")
    print()
    header = (f"{'network':>22} {'synapses':>10} {'twin':>9} {'exact':>9} {'ratio':>6} {'roofline':>8} "
              f"{'mining':>9} {'ratio':>6} {'roofline':>8}")
    print(header)
    print("-" * len(header))
    for n, degree in sizes:
        params = params_for(n, degree)
        net = Network.random(params, seed=1)
        S = net.n_synapses
        twin = twin_rate(net.copy(), steps=3 if S < 2_000_000 else 1)
        exact = numba_rate(net.copy(), budget=3e8)
        mining_net = net.copy()
        mining_net.extensions = Extensions(traces=False)
        mining = numba_rate(mining_net, budget=3e8)
        print(f"{f'{n:,} x ~{degree}':>22} {S:>10,} {twin / 1e6:>7.2f}M {exact / 1e6:>7.1f}M "
              f"{exact / twin:>5.0f}x {exact * BYTES_EXACT / bw:>7.0%} {mining / 1e6:>7.1f}M "
              f"{mining / twin:>5.0f}x {mining * BYTES_MINING / bw:>7.0%}", flush=True)
    print()
    print("many networks on all cores (best of 3 runs each):")
    for n, degree, count in ((500, 50, 32), (2_000, 100, 16)):
        params = params_for(n, degree)
        scaling(f"{count} x {n:,} neurons x ~{degree}", lambda s, p=params: Network.random(p, seed=s), count)


V2_SIZES = [1_000, 10_000, 100_000]


def params_v2(n: int) -> NetworkParametersV2:
    return NetworkParametersV2(num_input_neurons=10, num_hidden_neurons=n - 20, num_output_neurons=10)


def v2_numba_rate(net: NetworkV2, steps: int = 100, repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``steps`` steps from the same start (CPU seconds).

    Runs stay short because at upstream's defaults weights decay and synapses are pruned after a
    few hundred steps; each run starts from a copy of the fresh network.
    """
    net.copy().run(2, inputs=inputs_for(2))  # compile / warm caches
    best = 0.0
    for _ in range(repeats):
        run = net.copy()
        t = time.process_time()
        rec = run.run(steps, inputs=inputs_for(steps), record=("n_syn",))
        best = max(best, float(rec.n_syn.sum()) / (time.process_time() - t))
    return best


def v2_twin_rate(net: NetworkV2, steps: int) -> float:
    twin = NaiveV2.from_json(net.to_reference_json("dump"), net.python_random())
    total = 0
    t = time.process_time()
    for step in range(steps):
        twin.set_input_states(inputs_for(step + 1)[-1].tolist())
        twin.step()
        total += len(twin.synapses)
    return total / (time.process_time() - t)


def v2_rows(quick: bool) -> None:
    print("Neuraxon v2 (neuraxon2.py dynamics, default parameters, CPU time of this process):")
    header = f"{'neurons':>10} {'synapses':>10} {'twin':>9} {'numba':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for n in V2_SIZES[:2] if quick else V2_SIZES:
        net = NetworkV2.build(params_v2(n), rng=1)
        twin = v2_twin_rate(net, steps=3 if n <= 10_000 else 1)
        fast = v2_numba_rate(net)
        print(f"{n:>10,} {net.n_synapses:>10,} {twin / 1e6:>7.3f}M {fast / 1e6:>7.1f}M {fast / twin:>5.0f}x",
              flush=True)
    print()
    print("v2, many networks on 1 and 2 threads (wall clock, best of 3 runs each):")
    for n, count in ((500, 32), (2_000, 16)):
        p2 = params_v2(n)
        scaling(f"{count} x {n:,} neurons", lambda s, p=p2: NetworkV2.build(p, rng=s), count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the 1k and 10k networks")
    ap.add_argument("--models", default="v1,v2", help="comma-separated: v1, v2 (default both)")
    args = ap.parse_args()
    models = {m.strip() for m in args.models.split(",")}
    if not models <= {"v1", "v2"}:
        ap.error(f"--models: unknown model(s) {sorted(models - {'v1', 'v2'})}")
    if "v1" in models:
        v1_rows(args.quick)
    if "v2" in models:
        if "v1" in models:
            print()
        v2_rows(args.quick)


if __name__ == "__main__":
    main()
