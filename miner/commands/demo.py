"""``neuraxon-miner demo``: a short, self-contained run of the Neuraxon engine."""

from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run a Neuraxon network for a few hundred steps and report activity",
                       description="Build a random v1 network, drive its inputs with a rotating "
                                   "pattern and print synapse count and activity as it runs.")
    p.add_argument("--hidden", type=int, default=200, help="hidden neurons (default 200)")
    p.add_argument("--steps", type=int, default=300, help="steps to run (default 300)")
    p.add_argument("--seed", type=int, default=1, help="RNG seed (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.activity import activity_measures
    from engine.neuraxon import Network, NetworkParameters

    if args.hidden < 0 or args.steps < 1:
        print("error: --hidden must be >= 0 and --steps >= 1")
        return 2
    params = NetworkParameters(num_hidden_neurons=args.hidden, connection_probability=0.05,
                               firing_threshold_excitatory=0.5, firing_threshold_inhibitory=-0.5,
                               acetylcholine_baseline=0.5, dopamine_baseline=0.5)
    print(f"compiling the engine (first run only) and building {params.n_neurons} neurons ...", flush=True)
    net = Network.random(params, seed=args.seed)
    print(f"network: {params.n_neurons} neurons, {net.n_synapses} synapses", flush=True)
    n_in = params.num_input_neurons
    chunk = 50
    counts = []
    started = time.perf_counter()
    updates = 0
    for t0 in range(0, args.steps, chunk):
        T = min(chunk, args.steps - t0)
        inputs = np.array([[((i + (t0 + t) // 25) % 3) - 1 for i in range(n_in)] for t in range(T)])
        rec = net.run(T, inputs=inputs, record=("counts", "n_syn"))
        counts.append(rec.counts)
        updates += int(rec.n_syn.sum())
        m = activity_measures(rec.counts)
        print(f"step {t0 + T:5d}  synapses {net.n_synapses:6d}  firing {m.active_fraction:6.1%}  "
              f"+1/0/-1 {m.fraction_pos:.2f}/{m.fraction_zero:.2f}/{m.fraction_neg:.2f}", flush=True)
    elapsed = time.perf_counter() - started
    m = activity_measures(np.concatenate(counts))
    print(f"done: {args.steps} steps in {elapsed:.2f} s ({updates / max(elapsed, 1e-9) / 1e6:.1f} M synapse "
          f"updates/s); branching ratio {m.branching_ratio:.3f}")
    print("v1 weights relax to ~0, so initial synapses are pruned by about step 300 (see docs).")
    return 0
