"""``neuraxon-miner bench``: offline it/s per thread and for all threads, per algorithm (no server)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="measure it/s offline, per thread and for all threads, per algorithm",
                       description="Run the miner's worker threads on each algorithm's default work for a "
                                   "fixed time, first with one thread, then with all, and print iterations "
                                   "per second. Needs no server.")
    p.add_argument("--algo", choices=("all", "neuraxon", "bpp9000"), default="all",
                   help="algorithm to measure (default: every installed one)")
    p.add_argument("-t", "--threads", default="auto",
                   help="threads for the all-threads run: auto, a count, or a percentage (default auto)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run (default 2)")
    p.add_argument("--backend", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where scores run: cpu, cuda (exit 2 when unavailable), or auto (cuda only when a GPU is "
                        "present and its self-test passes; default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from miner.bench import measure
    from miner.cpu import ThreadSpecError, available_cpus, resolve_threads
    from miner.scorers import available_scorers, choose_backends
    from miner.selftest import SelfTestError, check_backend
    from protocol.fields import Algo
    from scoring.registry import BackendUnavailableError

    try:
        threads = resolve_threads(args.threads)
    except ThreadSpecError as exc:
        print(f"error: --threads: {exc}", file=sys.stderr)
        return 2
    if args.seconds <= 0 or args.warmup < 0:
        print("error: --seconds must be > 0 and --warmup >= 0", file=sys.stderr)
        return 2
    scorers = available_scorers(backend=args.backend, check=check_backend)
    if args.algo != "all":
        wanted = Algo[args.algo.upper()]
        if wanted not in scorers:
            print(f"error: {args.algo} is not installed", file=sys.stderr)
            return 2
        scorers = {wanted: scorers[wanted]}
    try:
        backends = choose_backends(scorers)
    except BackendUnavailableError as exc:
        print(f"error: --backend {args.backend}: {exc}", file=sys.stderr)
        return 2
    except SelfTestError as exc:
        print(f"error: --backend {args.backend}: self-test failed: {exc}", file=sys.stderr)
        return 3
    print(f"bench: {args.seconds:g} s per run, {threads} threads of {available_cpus()} available CPUs")
    for name, choice in backends:
        print(f"backend {name}: {choice.backend.name} ({choice.reason})")
    print(f"{'algo':<10} {'threads':>7} {'it/s':>10} {'it/s/thread':>12} {'scaling':>8}")
    for scorer in scorers.values():
        if sys.stdout.isatty():
            print(f"{scorer.name:<10} preparing the default work...", end="\r", flush=True)
        work = scorer.bench_work()
        single = measure(scorer, work, 1, args.seconds, warmup=args.warmup)
        print(f"{scorer.name:<10} {1:>7} {single.rate:>10.2f} {single.rate_per_thread:>12.2f} {'1.00x':>8}")
        if threads > 1:
            full = measure(scorer, work, threads, args.seconds, warmup=args.warmup)
            scaling = full.rate / single.rate if single.rate else 0.0
            print(f"{scorer.name:<10} {threads:>7} {full.rate:>10.2f} {full.rate_per_thread:>12.2f} "
                  f"{scaling:>7.2f}x")
    return 0
