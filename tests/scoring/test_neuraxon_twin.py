"""The numba scorer of the Neuraxon task equals its plain-Python twin on small tasks."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import neuraxon as NX
from scoring.neuraxon_task import TaskSpec
from tests.naive import neuraxon_task as naive


@st.composite
def small_tasks(draw: st.DrawFn) -> TaskSpec:
    w = draw(st.integers(2, 8))
    h = draw(st.integers(2, 8))
    obj: dict[str, Any] = {
        "seed": draw(st.binary(min_size=32, max_size=32)).hex(),
        "environment": {
            "width": w, "height": h, "rock_permille": draw(st.integers(0, 600)),
            "smoothing_passes": draw(st.integers(0, 2)), "food_sources": draw(st.integers(0, min(5, w * h))),
            "food_units": draw(st.integers(1, 3)), "respawn_ticks": draw(st.integers(1, 6)),
            "energy_start": 12, "energy_max": 20, "energy_per_food": draw(st.integers(0, 8)),
            "metabolism": draw(st.integers(0, 2)), "collision_cost": draw(st.integers(0, 3)),
            "sense_radius": draw(st.integers(0, 6)), "blocked_window": draw(st.integers(0, 5)),
            "blocked_hits": 1, "clear_streak": draw(st.integers(1, 4)),
        },
        "network": {
            "hidden": draw(st.integers(0, 5)), "connection_probability": draw(st.floats(0.0, 0.9)),
            "max_synapses": draw(st.integers(0, 60)),
            "spontaneous_firing_rate": draw(st.sampled_from([0.0, 0.05])),
            "synapse_formation_prob": draw(st.sampled_from([0.0, 0.3])),
            "neuron_death_threshold": draw(st.sampled_from([-1.0, 1.0])),
            "neuron_health_decay": 0.05,
            "threshold_exc": [0.05, 0.4], "threshold_inh": [-0.4, -0.05], "tau_m": [1.0, 3.0],
        },
        "plasticity": {
            "meta_gain": draw(st.sampled_from([0.0, 3.0])), "consolidation": draw(st.sampled_from([0.0, 0.7, 1.0])),
            "traces": draw(st.booleans()), "reward_dopamine": draw(st.sampled_from([0.0, 0.6])),
        },
        "lifetime_ticks": draw(st.integers(1, 20)),
        "steps_per_tick": draw(st.integers(1, 2)),
        "worlds": draw(st.integers(1, 3)),
        "walk": {"steps": draw(st.integers(0, 4)), "mutations": draw(st.integers(1, 3)),
                 "weight_sigma": 0.5, "gene_sigma": 0.2},
        "criticality": {"branching_weight": draw(st.sampled_from([0, 50])), "activity_weight": 30},
    }
    return TaskSpec.from_dict(obj)


@settings(max_examples=40, deadline=None)
@given(small_tasks(), st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_scorer_equals_twin(task: TaskSpec, pk: bytes, nonce: bytes) -> None:
    result = NX.run_walk(task, pk, nonce)
    twin_score, twin_genome = naive.score(task, pk, nonce)
    assert result.score == twin_score
    pre, post, wf, ws, wm, silent, modul = result.genome.arrays()
    assert [[int(p), int(q), float(a), float(b), float(c), bool(si), bool(mo)]
            for p, q, a, b, c, si, mo in zip(pre, post, wf, ws, wm, silent, modul, strict=True)] == \
        twin_genome["synapses"]
    assert result.genome.genes.tolist() == twin_genome["genes"]


@settings(max_examples=15, deadline=None)
@given(small_tasks(), st.integers(0, 2**31 - 1))
def test_worlds_equal_twin(task: TaskSpec, index: int) -> None:
    terrains, foods, starts, _ = NX.build_worlds(task, [index])
    world = naive.make_world(task, index)
    assert terrains[0].tolist() == world["terrain"]
    assert [tuple(f) if f[0] >= 0 else None for f in foods[0].tolist()] == world["food"]
    assert tuple(starts[0].tolist()) == world["start"]
