"""Does the walk really train? Best network of each walk vs its root, on held-out worlds.

For each configuration (the default task, and the same task with the meta signal and/or
consolidation switched off) run ``--walks`` walks (identities x nonces), then evaluate the walk's
best network and the identity's root network in ``--heldout`` worlds the walk never saw
(world indices >= 2**31) and count how often the best beats the root. Every configuration starts
from the same root networks (the default task's) with the same walk RNG streams, so the
configurations differ only in their plasticity.
Run: ``.venv/bin/python benchmarks/neuraxon_training.py [--walks 100]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch import default_threads
from scoring import neuraxon as NX
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec

CONFIGS = {
    "default (meta on, consolidation on)": {},
    "meta signal off": {"meta_gain": 0.0},
    "consolidation off": {"consolidation": 0.0},
    "both off (plain v1 plasticity)": {"meta_gain": 0.0, "consolidation": 0.0},
}


def held_out_fitness(prep: NX.PreparedTask, worlds: tuple, genome: NX.Genome) -> tuple[int, float]:
    stats = NX.lifetime_stats(prep, genome, worlds=worlds)
    values = [NX.world_fitness(prep, row) for row in stats]
    food = statistics.mean(int(row[0]) for row in stats)
    return NX.aggregate(values), food


def run(task: TaskSpec, walks: int, heldout: int, threads: int) -> dict[str, float]:
    prep = NX.prepare(task)
    base = NX.prepare(DEFAULT_TASK)
    worlds = NX.build_worlds(task, [NX.HELDOUT_BASE + i for i in range(heldout)])
    identities = [NX.k12(b"training identity", bytes([i])) for i in range(5)]
    jobs = [(identities[k % len(identities)], NX.k12(b"training nonce", k.to_bytes(4, "little")))
            for k in range(walks)]

    def one(job: tuple[bytes, bytes]) -> tuple[int, int, int, int, float, float]:
        pk, nonce = job
        root_genome = NX.root_genome(base, pk)
        rng = NX.state_from_bytes(NX.k12(pk, base.task_id, nonce))
        result = NX.walk(prep, root_genome, rng)
        best, best_food = held_out_fitness(prep, worlds, result.genome)
        root, root_food = held_out_fitness(prep, worlds, root_genome)
        return result.start_score, result.score, best, root, best_food, root_food

    with ThreadPoolExecutor(threads) as pool:
        rows = list(pool.map(one, jobs))
    return {
        "wins": sum(1 for r in rows if r[2] > r[3]),
        "ties": sum(1 for r in rows if r[2] == r[3]),
        "train_gain": statistics.mean(r[1] - r[0] for r in rows),
        "heldout_root": statistics.mean(r[3] for r in rows),
        "heldout_best": statistics.mean(r[2] for r in rows),
        "heldout_gain_median": statistics.median(r[2] - r[3] for r in rows),
        "heldout_gain_mean": statistics.mean(r[2] - r[3] for r in rows),
        "food_root": statistics.mean(r[5] for r in rows),
        "food_best": statistics.mean(r[4] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--walks", type=int, default=100)
    ap.add_argument("--heldout", type=int, default=9)
    ap.add_argument("--threads", type=int, default=default_threads())
    args = ap.parse_args()
    print(f"{args.walks} walks per configuration (5 identities), {args.heldout} held-out worlds, "
          f"{args.threads} threads")
    print(f"{'configuration':38} {'best>root':>10} {'ties':>5} {'train +':>8} {'held-out root':>14} "
          f"{'-> best':>8} {'gain mean/median':>17} {'food/life':>14}")
    for name, plasticity in CONFIGS.items():
        task = DEFAULT_TASK.replace(plasticity={**DEFAULT_TASK.to_dict()["plasticity"], **plasticity})
        t = time.perf_counter()
        r = run(task, args.walks, args.heldout, args.threads)
        print(f"{name:38} {r['wins']:>4}/{args.walks:<5} {r['ties']:>5} {r['train_gain']:>8.0f} "
              f"{r['heldout_root']:>14.0f} {r['heldout_best']:>8.0f} "
              f"{r['heldout_gain_mean']:>8.0f}/{r['heldout_gain_median']:<8.0f} "
              f"{r['food_root']:>6.2f} -> {r['food_best']:<5.2f} ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
