"""Plain-Python twin of the v2 Neuraxon-task scorer (scoring/neuraxon_v2.py, engine/neuraxon_v2_walk.py),
written from docs/neuraxon-task.md §10.

The world and the walk are the v1 twin's (:mod:`tests.naive.neuraxon_task`); the brain is the plain
v2 network twin (:class:`tests.naive.neuraxon_v2.NaiveV2`) built from the genome at birth. Shared with
production: K12, the task-spec dataclass and the parameter mapping
(:func:`scoring.neuraxon_v2.task_parameters`, plain data). Slow: for small tasks in tests.
"""

from __future__ import annotations

import random
from typing import Any

from engine.neuraxon_genome import GENE_BOUNDS_V2
from scoring.neuraxon_task import TaskSpecV2
from scoring.neuraxon_v2 import task_parameters
from tests.naive.neuraxon_task import k12, live, make_world, mutate, rng_from, world_fitness
from tests.naive.neuraxon_v2 import SYN_FLOATS, NaiveV2, Syn, label

BANDS = ("infraslow", "slow", "theta", "alpha", "gamma")


def params(spec: TaskSpecV2, genes: list[float]) -> dict[str, Any]:
    return task_parameters(spec, genes).to_dict()  # type: ignore[arg-type]


class V2Brain:
    """The genome's v2 network at birth, drawing from the world's lifetime generator."""

    def __init__(self, spec: TaskSpecV2, world: dict[str, Any], genome: dict[str, Any]) -> None:
        self.net = NaiveV2.build(params(spec, genome["genes"]), random.Random(0))  # neurons, receptors, levels
        self.net.rng = random.Random(world["life"])
        self.net.synapses = []
        for p, q, wf, ws, wm, silent, modul, branch in genome["synapses"]:
            f = dict.fromkeys(SYN_FLOATS, 0.0)
            f.update(w_fast=wf, w_slow=ws, w_meta=wm, integrity=1.0, chrono_omega=0.5)
            s = Syn(p, q, branch, 0, silent, modul, "", f)
            s.synapse_type = label(s)
            self.net.synapses.append(s)
        self.net._rank()
        for name, phase in zip(BANDS, genome["phases"], strict=True):
            self.net.bands[name]["phase"] = phase
        self.lr = genome["genes"][5]
        self.meta_gain = spec.plasticity.meta_gain
        self.reward_da = spec.plasticity.reward_dopamine

    def think(self, sensors: list[int], mu: float, steps: int) -> list[tuple[int, int, int]]:
        m = 1.0 + self.meta_gain * mu
        self.net.p.learning_rate = self.lr * m if m != 1.0 else self.lr
        out = []
        for _ in range(steps):
            self.net.set_input_states(sensors)
            inner = [n for n in self.net.neurons if n.is_active and n.type != "input"]
            self.net.step()
            out.append((sum(1 for n in inner if n.trinary_state == 1), sum(1 for n in inner if n.trinary_state == -1),
                        len(inner)))
        return out

    def motors(self) -> tuple[int, int]:
        return self.net.neurons[-2].trinary_state, self.net.neurons[-1].trinary_state

    def reward(self) -> None:
        da = self.net.levels["DA"]
        da["phasic"] = min(2.0, da["phasic"] + self.reward_da)


def make_world_v2(spec: TaskSpecV2, index: int) -> dict[str, Any]:
    return make_world(spec, index)  # type: ignore[arg-type]  # "life": K12 digest, seeds random.Random


def fitness(spec: TaskSpecV2, worlds: list[dict[str, Any]], genome: dict[str, Any]) -> int:
    values = sorted(world_fitness(spec, live(spec, w, genome, brain=V2Brain(spec, w, genome)))  # type: ignore[arg-type]
                    for w in worlds)
    return max(0, values[(len(values) - 1) // 2])


def root(spec: TaskSpecV2, pk: bytes) -> dict[str, Any]:
    rng = random.Random(k12(pk, spec.task_id))
    n = spec.network
    ranges = (n.threshold_exc, n.threshold_inh, n.dsn_bias, n.tau_fast, n.tau_slow, n.learning_rate)
    genes = [rng.uniform(*r) for r in ranges]
    net = NaiveV2.build(params(spec, genes), rng)
    syn = [[s.pre_id, s.post_id, s.f["w_fast"], s.f["w_slow"], s.f["w_meta"], s.is_silent, s.is_modulatory,
            s.branch_id] for s in net.synapses][:n.max_synapses]
    return {"synapses": syn, "genes": genes, "phases": [net.bands[b]["phase"] for b in BANDS]}


def score(spec: TaskSpecV2, pk: bytes, nonce: bytes) -> tuple[int, dict[str, Any]]:
    """The walk's score and final genome."""
    worlds = [make_world_v2(spec, i) for i in range(spec.worlds)]
    genome = root(spec, pk)
    current = fitness(spec, worlds, genome)
    rng = rng_from(k12(pk, spec.task_id, nonce))
    for _ in range(spec.walk.steps):
        trial = {"synapses": [list(s) for s in genome["synapses"]], "genes": list(genome["genes"]),
                 "phases": genome["phases"]}
        for _ in range(spec.walk.mutations):
            mutate(spec, trial, rng, GENE_BOUNDS_V2, spec.network.dendritic_branches)
        f = fitness(spec, worlds, trial)
        if f >= current:
            genome, current = trial, f
    return current, genome
