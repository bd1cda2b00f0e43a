"""``neuraxon-miner replay``: replay a reference trajectory and compare every step."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="replay a Neuraxon v1 reference trajectory and check every step",
        description="Load INIT (a reference network JSON), apply each step's inputs and external "
                    "currents from TRAJ, and compare states, synapse counts, potentials and "
                    "neuromodulators after every step. Exits 0 only if every step matches.",
    )
    p.add_argument("--init", required=True, type=Path, help="initial network JSON (reference layout)")
    p.add_argument("--traj", required=True, type=Path, help="trajectory JSON (list of step records)")
    p.add_argument("--potential-tol", type=float, default=1e-9, help="max |ΔV| per neuron (default 1e-9)")
    p.add_argument("--neuromod-tol", type=float, default=1e-12, help="max |Δlevel| (default 1e-12)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed for stochastic parts (default 0)")
    p.set_defaults(func=run)


class _BadInputError(Exception):
    pass


def _load(path: Path, what: str) -> Any:
    try:
        with path.open() as fh:
            return json.load(fh)
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc.strerror})"
        raise _BadInputError(f"{what} file {reason}: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _BadInputError(f"{what} file {path} is not valid JSON: {exc}") from None


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _first_mismatch(net: Any, rec: dict[str, Any], ptol: float, ntol: float) -> str | None:
    import numpy as np

    if "states" in rec:
        got = net.states.tolist()
        if got != rec["states"]:
            i = next((i for i, (a, b) in enumerate(zip(got, rec["states"], strict=False)) if a != b),
                     min(len(got), len(rec["states"])))
            return f"states[{i}]: expected {rec['states'][i] if i < len(rec['states']) else '-'}, " \
                   f"got {got[i] if i < len(got) else '-'}"
    if "n_syn" in rec and net.n_synapses != rec["n_syn"]:
        return f"n_syn: expected {rec['n_syn']}, got {net.n_synapses}"
    if "potential" in rec:
        want = np.asarray(rec["potential"], dtype=float)
        if want.shape != net.potentials.shape:
            return f"potential: expected {want.shape[0]} values, got {net.potentials.shape[0]}"
        diff = np.abs(net.potentials - want)
        if not (diff <= ptol).all():
            i = int(np.argmax(diff))
            return f"potential[{i}]: expected {want[i]!r}, got {net.potentials[i]!r} (|Δ| {diff[i]:.3g} > {ptol})"
    for name, level in rec.get("neuromod", {}).items():
        got_level = net.neuromodulators.get(name)
        if got_level is None or abs(got_level - level) > ntol:
            return f"neuromod.{name}: expected {level!r}, got {got_level!r}"
    return None


def run(args: argparse.Namespace) -> int:
    from engine.neuraxon import Network, NetworkFormatError

    try:
        init = _load(args.init, "init")
        traj = _load(args.traj, "trajectory")
    except _BadInputError as exc:
        return _fail(str(exc))
    if not isinstance(traj, list):
        return _fail(f"trajectory file {args.traj} must hold a list of step records")
    try:
        net = Network.from_reference_json(init, rng=args.seed)
    except NetworkFormatError as exc:
        return _fail(f"{args.init}: {exc}")
    for t, rec in enumerate(traj):
        if not isinstance(rec, dict):
            return _fail(f"{args.traj}: step record {t} is not an object")
        try:
            if rec.get("inputs") is not None:
                net.set_input_states(rec["inputs"])
            net.step(rec.get("ext") or None)
        except ValueError as exc:
            return _fail(f"{args.traj}: step {rec.get('t', t)}: {exc}")
        problem = _first_mismatch(net, rec, args.potential_tol, args.neuromod_tol)
        if problem is not None:
            print(f"step {rec.get('t', t)}: mismatch in {problem}")
            print(f"{t}/{len(traj)} steps match")
            return EXIT_MISMATCH
    print(f"{len(traj)}/{len(traj)} steps match")
    return 0
