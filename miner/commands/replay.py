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
        help="replay a Neuraxon reference trajectory (v1 or v2) and check every step",
        description="Load INIT (a reference network JSON), apply each step's inputs and external "
                    "currents from TRAJ, and compare what the trajectory records after every step "
                    "(v1: states, synapse counts, potentials, neuromodulators; v2: every recorded "
                    "field, bit for bit by default). Exits 0 only if every step matches, 1 at the "
                    "first mismatch (step and field named), 2 on bad input.",
    )
    p.add_argument("--init", required=True, type=Path, help="initial network JSON (reference layout)")
    p.add_argument("--traj", required=True, type=Path, help="trajectory JSON (list of step records)")
    p.add_argument("--model", choices=("v1", "v2"), default="v1",
                   help="Neuraxon version of the reference: v1 (neuraxon.py, default) or v2 (neuraxon2.py)")
    p.add_argument("--potential-tol", type=float, default=None,
                   help="max |Δ| of per-neuron (v2: and per-synapse) floats (default v1 1e-9, v2 0 = bit for bit)")
    p.add_argument("--neuromod-tol", type=float, default=None,
                   help="max |Δlevel| (v2: and receptor activations, energy) (default v1 1e-12, v2 0 = bit for bit)")
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


def _steps(traj: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(traj, list):
        raise _BadInputError(f"trajectory file {path} must hold a list of step records")
    for t, rec in enumerate(traj):
        if not isinstance(rec, dict):
            raise _BadInputError(f"{path}: step record {t} is not an object")
    return traj


def run(args: argparse.Namespace) -> int:
    try:
        init = _load(args.init, "init")
        traj = _steps(_load(args.traj, "trajectory"), args.traj)
    except _BadInputError as exc:
        return _fail(str(exc))
    for name in ("potential_tol", "neuromod_tol"):
        tol = getattr(args, name)
        if tol is not None and not tol >= 0.0:
            return _fail(f"--{name.replace('_', '-')} must be >= 0, got {tol}")
    if args.model == "v2":
        return _replay_v2(args, init, traj)
    return _replay_v1(args, init, traj)


def _replay_v1(args: argparse.Namespace, init: Any, traj: list[dict[str, Any]]) -> int:
    from engine.neuraxon import Network, NetworkFormatError

    ptol = 1e-9 if args.potential_tol is None else args.potential_tol
    ntol = 1e-12 if args.neuromod_tol is None else args.neuromod_tol
    try:
        net = Network.from_reference_json(init, rng=args.seed)
    except NetworkFormatError as exc:
        return _fail(f"{args.init}: {exc}")
    return _replay(net, traj, args.traj, lambda rec: _first_mismatch(net, rec, ptol, ntol))


def _replay_v2(args: argparse.Namespace, init: Any, traj: list[dict[str, Any]]) -> int:
    from engine.neuraxon_v2 import NetworkFormatError, NetworkV2, first_mismatch

    ptol = args.potential_tol or 0.0
    ntol = args.neuromod_tol or 0.0
    try:
        net = NetworkV2.from_reference_json(init, rng=args.seed)
    except NetworkFormatError as exc:
        hint = ""
        if isinstance(init, dict) and "version" not in init:
            hint = " (the file has no \"version\": 2.x; a v1 network? use --model v1)"
        return _fail(f"{args.init}: {exc}{hint}")
    return _replay(net, traj, args.traj, lambda rec: first_mismatch(net, rec, float_tol=ptol, neuromod_tol=ntol))


def _replay(net: Any, traj: list[dict[str, Any]], path: Path, mismatch: Any) -> int:
    for t, rec in enumerate(traj):
        try:
            if rec.get("inputs") is not None:
                net.set_input_states(rec["inputs"])
            ext = rec.get("ext") or None
            if ext is not None and not isinstance(ext, dict):
                raise ValueError("ext must be an object of neuron id to current")
            net.step(ext)
        except ValueError as exc:
            return _fail(f"{path}: step {rec.get('t', t)}: {exc}")
        problem = mismatch(rec)
        if problem is not None:
            print(f"step {rec.get('t', t)}: mismatch in {problem}")
            print(f"{t}/{len(traj)} steps match")
            return EXIT_MISMATCH
    print(f"{len(traj)}/{len(traj)} steps match")
    return 0
