"""``neuraxon-miner score`` and ``neuraxon-miner verify``: compute or check one score offline."""

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
    p.add_argument("--algo", choices=("neuraxon",), default="neuraxon", help="algorithm (default neuraxon)")
    p.add_argument("--task", type=Path, help="task spec JSON (default: the built-in default task)")
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


def _inputs(args: argparse.Namespace) -> tuple[Any, bytes, bytes, Any]:
    from scoring import neuraxon as NX
    from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec, TaskSpecError

    if args.threads < 1:
        raise _InputError("--threads must be >= 1")
    try:
        task = TaskSpec.from_dict(_json_file(args.task, "task")) if args.task else DEFAULT_TASK
    except TaskSpecError as exc:
        raise _InputError(f"invalid task {args.task}: {exc}") from None
    try:
        pk = NX.public_key(args.identity)
    except ValueError as exc:
        raise _InputError(f"--identity: {exc}") from None
    try:
        nonce = NX.nonce_bytes(args.nonce)
    except ValueError as exc:
        raise _InputError(f"--{exc}") from None
    parent = None
    if args.parent is not None:
        if args.parent_score is None:
            raise _InputError("--parent needs --parent-score (the score its job claims)")
        parent = NX.Parent(_json_file(args.parent, "parent network"), args.parent_score)
    elif args.parent_score is not None:
        raise _InputError("--parent-score needs --parent")
    return task, pk, nonce, parent


def run_score(args: argparse.Namespace) -> int:
    from scoring import neuraxon as NX

    try:
        task, pk, nonce, parent = _inputs(args)
        started = time.perf_counter()
        result = NX.run_walk(task, pk, nonce, parent=parent, threads=args.threads)
    except _InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NX.ParentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    elapsed = time.perf_counter() - started
    print(result.score)
    solution = NX.is_solution(task, result.score, parent)
    print(f"start {result.start_score}, {result.accepted}/{task.walk.steps} steps kept, "
          f"{'a solution' if solution else 'not a solution'} (threshold {task.threshold}), {elapsed:.2f} s",
          file=sys.stderr)
    if args.export is not None:
        network = NX.export_network(NX.prepare(task), result.genome)
        args.export.write_text(json.dumps(network, indent=1))
        print(f"best network written to {args.export} (id {NX.network_id(network)[:16]}...)", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from scoring import neuraxon as NX

    try:
        task, pk, nonce, parent = _inputs(args)
        value = NX.score(task, pk, nonce, parent=parent, threads=args.threads)
    except _InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NX.ParentError as exc:
        print(f"rejected: forged or foreign parent: {exc}")
        return EXIT_MISMATCH
    if value != args.claimed:
        print(f"rejected: claimed {args.claimed}, recomputed {value}")
        return EXIT_MISMATCH
    print(f"ok: {value}")
    return 0
