"""Helpers to load the Neuraxon v1 reference trajectories in tests/data/neuraxon-v1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "neuraxon-v1"


def load(path: Path) -> Any:
    with path.open() as fh:
        return json.load(fh)


def cases() -> list[str]:
    return sorted(p.name.removesuffix("_init.json") for p in DATA.glob("*_init.json")
                  if (DATA / p.name.replace("_init.json", "_traj.json")).exists())


def is_deterministic(init: dict[str, Any]) -> bool:
    p = init["parameters"]
    return (p.get("spontaneous_firing_rate", 0.01) == 0 and p.get("synapse_formation_prob", 0.05) == 0
            and p.get("neuron_death_threshold", 0.1) < 0
            and not any(s["is_silent"] for s in init["synapses"]))


def externals(traj: list[dict[str, Any]]) -> list[dict[int, float]]:
    return [{int(k): v for k, v in rec.get("ext", {}).items()} for rec in traj]
