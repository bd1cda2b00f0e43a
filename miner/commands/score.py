"""``neuraxon-miner score`` and ``neuraxon-miner verify``: compute or check one score offline.

Both go through the scoring registry exactly as the miner and the work server do: the task file is
the description a job would carry (a Neuraxon task spec, a bpp9000 task file), its version picks
the registry entry, and the entry prepares and scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", choices=("neuraxon", "bpp9000"), default="neuraxon",
                   help="algorithm family (default neuraxon); the version is the one the task names")
    p.add_argument("--task", type=Path, help="task file: a Neuraxon task spec (JSON; default: the built-in "
                                             "default task) or a bpp9000 task file (binary; required)")
    p.add_argument("--seed", help="the job's RandomSeed, 64 hex digits (bpp9000: the mining seed; required)")
    p.add_argument("--identity", required=True, help="Qubic identity (60 letters) or public key (64 hex)")
    p.add_argument("--nonce", required=True, help="nonce, 64 hex digits")
    p.add_argument("--threads", type=int, default=1, help="threads for one score (result is the same)")
    p.add_argument("--parent", type=Path, help="parent network JSON (reference layout) the walk starts from")
    p.add_argument("--parent-score", type=int, help="the score claimed for --parent")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("score", help="compute the integer score of (task, identity, nonce)",
                       description="Run the seeded training walk and print its integer score.")
    _common(p)
    p.add_argument("--export", type=Path, help="write the walk's best network (reference JSON) here")
    p.set_defaults(func=run_score)
    v = sub.add_parser("verify", help="check a claimed score; exit 0 only if it is exact",
                       description="Recompute the score and compare it with --claimed.")
    _common(v)
    v.add_argument("--claimed", type=int, required=True, help="the claimed score")
    v.set_defaults(func=run_verify)


class _InputError(Exception):
    pass


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise _InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _InputError(f"{what} {path} is not valid JSON: {exc}") from None


def _task(args: argparse.Namespace) -> tuple[Any, Any]:
    """(registry entry, task model) of ``--algo`` and ``--task``."""
    from protocol.fields import Algo
    from scoring import registry

    algo = Algo[args.algo.upper()]
    if args.task is None:
        entry = registry.default_entry(algo)
        task = entry.default_task()
        if task is None:
            raise _InputError(f"--task is required for {args.algo}")
        return entry, task
    try:
        description = args.task.read_bytes()
    except OSError as exc:
        raise _InputError(f"cannot read task {args.task}: {exc.strerror}") from None
    try:
        entry = registry.resolve(algo, description)
        return entry, entry.load_task(description)
    except (registry.UnknownAlgorithmError, registry.TaskError) as exc:
        raise _InputError(f"invalid task {args.task}: {exc}") from None


def _inputs(args: argparse.Namespace) -> tuple[Any, Any, bytes | None, bytes, bytes, Any]:
    from scoring import registry
    from scoring.ids import nonce_bytes, public_key

    if args.threads < 1:
        raise _InputError("--threads must be >= 1")
    entry, task = _task(args)
    seed = None
    if args.seed is not None:
        try:
            seed = nonce_bytes(args.seed)
        except ValueError as exc:
            raise _InputError(f"--seed: {str(exc).removeprefix('nonce: ')}") from None
    elif entry.needs_seed:
        raise _InputError(f"--seed is required for {entry.name} (the job's RandomSeed)")
    try:
        pk = public_key(args.identity)
    except ValueError as exc:
        raise _InputError(f"--identity: {exc}") from None
    try:
        nonce = nonce_bytes(args.nonce)
    except ValueError as exc:
        raise _InputError(f"--{exc}") from None
    parent = None
    if args.parent is not None:
        if args.parent_score is None:
            raise _InputError("--parent needs --parent-score (the score its job claims)")
        parent = registry.Parent(_json_file(args.parent, "parent network"), args.parent_score)
    elif args.parent_score is not None:
        raise _InputError("--parent-score needs --parent")
    return entry, task, seed, pk, nonce, parent


def run_score(args: argparse.Namespace) -> int:
    from scoring import registry

    try:
        entry, task, seed, pk, nonce, parent = _inputs(args)
        if args.export is not None and not entry.exports_network:
            raise _InputError(f"--export: {entry.name} walks export no network")
        started = time.perf_counter()
        prepared = entry.prepare(task, seed=seed, parent=parent)
        walk = entry.walk(prepared, pk, nonce, threads=args.threads)
    except _InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (registry.ParentError, registry.TaskError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    elapsed = time.perf_counter() - started
    print(walk.score)
    solution = entry.is_solution(task, walk.score, parent)
    summary = entry.summary(prepared, walk)
    print(f"{summary + ', ' if summary else ''}{'a solution' if solution else 'not a solution'} "
          f"(threshold {entry.threshold(task)}), {elapsed:.2f} s", file=sys.stderr)
    if args.export is not None:
        network = entry.export_network(prepared, walk)
        args.export.write_text(json.dumps(network, indent=1))
        print(f"best network written to {args.export} (id {registry.Parent(network, walk.score).id[:16]}...)",
              file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from scoring import registry

    try:
        entry, task, seed, pk, nonce, parent = _inputs(args)
        prepared = entry.prepare(task, seed=seed, parent=parent)
    except _InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except registry.TaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except registry.ParentError as exc:
        print(f"rejected: forged or foreign parent: {exc}")
        return EXIT_MISMATCH
    why = entry.check_nonce(nonce)
    if why is not None:
        print(f"rejected: the nonce is not canonical: {why}")
        return EXIT_MISMATCH
    value = entry.walk(prepared, pk, nonce, threads=args.threads).score
    if value != args.claimed:
        print(f"rejected: claimed {args.claimed}, recomputed {value}")
        return EXIT_MISMATCH
    print(f"ok: {value}")
    return 0
