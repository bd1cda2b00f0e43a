"""GPU scoring speed: it/s of each algorithm's cuda backend over a batch-size sweep, and the speed-up
over the cpu backend on all CPU cores of the same machine, both measured in this run.

Run on a machine with an NVIDIA GPU and ``pip install -e '.[cuda]'``::

    .venv/bin/python benchmarks/gpu.py [--seconds 20] [--batches 0.25,0.5,1,2,4] [--algo neuraxon]

``--batches`` are factors of the backend's own batch size (the nonces per launch the miner uses; for
Neuraxon 4 walks per streaming multiprocessor, one CUDA block per walk). Before measuring, each
algorithm's cuda scores are compared with the cpu's on a few nonces (a mismatch is a bug: exit 1).
One iteration = one nonce's full score, as in ``neuraxon-miner bench``.

Exit codes: 0 measured, or no GPU here (one line ``no GPU: <reason>``, nothing measured); 1 a cuda
score differs from the cpu's; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from miner.bench import measure
from miner.cpu import available_cpus
from miner.scorers import Scorer
from protocol.fields import Algo
from scoring import registry
from scoring.algorithms.cuda_backends import cuda_unavailable

CHECKED_NONCES = 4


def nonce(i: int) -> bytes:
    return (0x6770 << 48 | i).to_bytes(32, "little")


def cuda_rate(scorer: registry.BatchScorer, public_key: bytes, batch: int, seconds: float) -> float:
    """Nonces per second of back-to-back ``score_batch`` calls of ``batch`` fresh nonces (one host thread)."""
    scorer.score_batch(public_key, [nonce(i) for i in range(batch)])  # warm-up launch
    done, i = 0, batch
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        scorer.score_batch(public_key, [nonce(i + k) for k in range(batch)])
        done += batch
        i += batch
    return done / (time.perf_counter() - start)


def bench(entry: registry.Algorithm, cuda: registry.Backend, batches: list[float], seconds: float) -> int:
    case = entry.bench_case()
    prepared = entry.prepare(case.task, seed=case.seed)
    bound = cuda.bind(entry, prepared)
    nonces = [nonce(i) for i in range(CHECKED_NONCES)]
    got, want = bound.score_batch(case.public_key, nonces), entry.score_batch(prepared, case.public_key, nonces)
    if got != want:
        print(f"{entry.name}: cuda scores {got} differ from the cpu's {want}", file=sys.stderr)
        return 1
    cpus = available_cpus()
    cpu_scorer = Scorer(Algo(entry.algo), backend="cpu")
    cpu = measure(cpu_scorer, cpu_scorer.bench_work(), cpus, seconds, warmup=2.0)
    print(f"{entry.name}: cpu backend, {cpus} threads: {cpu.rate:.2f} it/s")
    print(f"{'algo':<14} {'batch':>6} {'it/s':>10} {'vs cpu':>8}")
    for factor in batches:
        size = max(1, round(factor * bound.batch_size))
        rate = cuda_rate(bound, case.public_key, size, seconds)
        print(f"{entry.name:<14} {size:>6} {rate:>10.2f} {rate / cpu.rate if cpu.rate else 0.0:>7.2f}x")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per configuration (default 20)")
    ap.add_argument("--batches", default="0.25,0.5,1,2,4",
                    help="nonces per launch, as factors of the backend's batch size (default 0.25,0.5,1,2,4)")
    ap.add_argument("--algo", default="all", help="registry name of one algorithm (default: all with a cuda kernel)")
    args = ap.parse_args(argv)
    try:
        batches = [float(b) for b in args.batches.split(",")]
        if not batches or min(batches) <= 0 or args.seconds <= 0:
            raise ValueError
    except ValueError:
        print("error: --batches takes positive numbers separated by commas, --seconds a positive number",
              file=sys.stderr)
        return 2
    why = cuda_unavailable()
    if why is not None:
        print(f"no GPU: {why}; nothing measured")
        return 0
    chosen = registry.entries() if args.algo == "all" else [registry.entry(args.algo)]
    code = 0
    for entry in chosen:
        cuda = entry.backends.get("cuda")
        if cuda is None:
            print(f"{entry.name}: no cuda kernel (cpu only), skipped")
            continue
        code = max(code, bench(entry, cuda, batches, args.seconds))
    return code


if __name__ == "__main__":
    sys.exit(main())
