"""``neuraxon-miner bench``: offline it/s per thread and for all threads, per algorithm version (no server)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator


class _AlgoChoices:
    """``--algo`` choices: ``all`` and every scoring-registry entry name, read from the registry on first
    use (its entry modules load numba, which the CLI's other commands should not wait for)."""

    @staticmethod
    def _names() -> list[str]:
        from scoring import registry

        return ["all", *(e.name for e in registry.entries())]

    def __contains__(self, value: object) -> bool:
        return value in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="measure it/s offline, per thread and for all threads, per algorithm version",
                       description="Run the miner's worker threads on each scoring-registry entry's (algorithm "
                                   "version's) default work for a fixed time, first with one thread, then with "
                                   "all, and print iterations per second. Needs no server.")
    p.add_argument("--algo", choices=_AlgoChoices(), default="all", metavar="ALGO",
                   help="registry entry to measure: all (default) or one of %(choices)s")
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
    from scoring import registry
    from scoring.registry import BackendUnavailableError

    try:
        threads = resolve_threads(args.threads)
    except ThreadSpecError as exc:
        print(f"error: --threads: {exc}", file=sys.stderr)
        return 2
    if args.seconds <= 0 or args.warmup < 0:
        print("error: --seconds must be > 0 and --warmup >= 0", file=sys.stderr)
        return 2
    entries = registry.entries() if args.algo == "all" else [registry.entry(args.algo)]
    scorers = available_scorers(backend=args.backend, check=check_backend)
    missing = [e.name for e in entries if Algo(e.algo) not in scorers]
    if missing:
        print(f"error: {', '.join(missing)} is not installed", file=sys.stderr)
        return 2
    scorers = {algo: s for algo, s in scorers.items() if any(e.algo == algo for e in entries)}
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
        if any(e.name == name for e in entries):
            print(f"backend {name}: {choice.backend.name} ({choice.reason})")
    print(f"{'algo':<14} {'threads':>7} {'it/s':>10} {'it/s/thread':>12} {'scaling':>8}")
    for entry in entries:
        scorer = scorers[Algo(entry.algo)]
        if sys.stdout.isatty():
            print(f"{entry.name:<14} preparing the default work...", end="\r", flush=True)
        work = scorer.bench_work(entry)
        single = measure(scorer, work, 1, args.seconds, warmup=args.warmup)
        print(f"{entry.name:<14} {1:>7} {single.rate:>10.2f} {single.rate_per_thread:>12.2f} {'1.00x':>8}")
        if threads > 1:
            full = measure(scorer, work, threads, args.seconds, warmup=args.warmup)
            scaling = full.rate / single.rate if single.rate else 0.0
            print(f"{entry.name:<14} {threads:>7} {full.rate:>10.2f} {full.rate_per_thread:>12.2f} "
                  f"{scaling:>7.2f}x")
    return 0
