"""The v2 Neuraxon task: scorer vs plain-Python twin, known answers, and how a description names its model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import neuraxon_v2 as NX2
from scoring import registry
from scoring.algorithms.neuraxon_v2 import ENTRY, NEURAXON_V2_CASES
from scoring.ids import public_key
from scoring.neuraxon_task import DEFAULT_TASK, DEFAULT_TASK_V2, TaskSpec, TaskSpecError, TaskSpecV2
from tests.naive import neuraxon_v2_task as naive


@st.composite
def small_v2_tasks(draw: st.DrawFn) -> TaskSpecV2:
    w = draw(st.integers(2, 7))
    h = draw(st.integers(2, 7))
    obj: dict[str, Any] = {
        "model": "v2",
        "seed": draw(st.binary(min_size=32, max_size=32)).hex(),
        "environment": {
            "width": w, "height": h, "rock_permille": draw(st.integers(0, 600)),
            "food_sources": draw(st.integers(0, min(4, w * h))), "food_units": draw(st.integers(1, 3)),
            "respawn_ticks": draw(st.integers(1, 6)), "energy_start": 12, "energy_max": 20,
            "energy_per_food": draw(st.integers(0, 8)), "collision_cost": draw(st.integers(0, 3)),
            "blocked_window": draw(st.integers(0, 4)), "blocked_hits": 1,
        },
        "network": {
            "hidden": draw(st.integers(0, 5)), "max_synapses": draw(st.integers(0, 50)),
            "dendritic_branches": draw(st.integers(1, 3)), "ws_k": draw(st.integers(2, 6)),
            "ws_beta": draw(st.sampled_from([0.0, 0.3, 1.0])),
            "spontaneous_firing_rate": draw(st.sampled_from([-1.0, 0.0, 0.1])),
            "synapse_formation_prob": draw(st.sampled_from([0.0, 0.3])),
            "synapse_death_prob": draw(st.sampled_from([0.0, 0.2])),
            "neuron_death_threshold": draw(st.sampled_from([-1.0, 1.0])), "neuron_health_decay": 0.05,
            "threshold_exc": [0.05, 0.4], "threshold_inh": [-0.4, -0.05],
            "dsn_enabled": draw(st.booleans()), "ctsn_enabled": draw(st.booleans()),
            "chrono_enabled": draw(st.booleans()), "agmp_enabled": draw(st.booleans()),
        },
        "plasticity": {"meta_gain": draw(st.sampled_from([0.0, 3.0])),
                       "reward_dopamine": draw(st.sampled_from([0.0, 0.9]))},
        "lifetime_ticks": draw(st.integers(1, 15)),
        "steps_per_tick": draw(st.integers(1, 2)),
        "worlds": draw(st.integers(1, 3)),
        "walk": {"steps": draw(st.integers(0, 4)), "mutations": draw(st.integers(1, 3)),
                 "weight_sigma": 0.5, "gene_sigma": 0.3},
        "criticality": {"branching_weight": draw(st.sampled_from([0, 50])), "activity_weight": 30},
    }
    return TaskSpecV2.from_dict(obj)


def _genome_rows(genome: NX2.GenomeV2) -> list[list[Any]]:
    n = genome.n_syn
    return [[int(genome.pre[k]), int(genome.post[k]), float(genome.wf[k]), float(genome.ws[k]), float(genome.wm[k]),
             bool(genome.silent[k]), bool(genome.modul[k]), int(genome.branch[k])] for k in range(n)]


@settings(max_examples=30, deadline=None)
@given(small_v2_tasks(), st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_v2_scorer_equals_twin(task: TaskSpecV2, pk: bytes, nonce: bytes) -> None:
    result = NX2.WalksV2(NX2.prepare(task)).run(pk, nonce)
    twin_score, twin_genome = naive.score(task, pk, nonce)
    assert result.score == twin_score
    assert _genome_rows(result.genome) == twin_genome["synapses"]
    assert result.genome.genes.tolist() == twin_genome["genes"]


@settings(max_examples=10, deadline=None)
@given(small_v2_tasks(), st.binary(min_size=32, max_size=32))
def test_v2_root_network_equals_twin(task: TaskSpecV2, pk: bytes) -> None:
    prep = NX2.prepare(task)
    genome = NX2.root_genome(prep, pk)
    twin = naive.root(task, pk)
    assert _genome_rows(genome) == twin["synapses"]
    assert genome.genes.tolist() == twin["genes"] and genome.phases.tolist() == twin["phases"]
    worlds = [naive.make_world_v2(task, i) for i in range(task.worlds)]
    assert NX2.evaluate(prep, genome) == naive.fitness(task, worlds, twin)


@pytest.mark.parametrize(("task", "identity", "nonce", "expected"), [
    pytest.param(t, i, n, s, marks=[pytest.mark.slow] if t is None else []) for t, i, n, s in NEURAXON_V2_CASES])
def test_known_answers_are_the_twins_and_the_entrys(task: dict[str, Any] | None, identity: str, nonce: str,
                                                    expected: int) -> None:
    spec = DEFAULT_TASK_V2 if task is None else TaskSpecV2.from_dict(task)
    pk, raw = public_key(identity), bytes.fromhex(nonce)
    assert naive.score(spec, pk, raw)[0] == expected
    assert ENTRY.score(ENTRY.prepare(spec), pk, raw) == expected


def test_the_entry_registers_the_known_answers_for_the_self_test() -> None:
    cases = ENTRY.known_answers()
    assert len(cases) == len(NEURAXON_V2_CASES) >= 3
    assert {c.score for c in cases} == {s for *_, s in NEURAXON_V2_CASES}


def test_a_description_names_its_model_and_the_registry_follows_it() -> None:
    assert registry.resolve(0, DEFAULT_TASK.to_dict()).version == "v1"
    assert registry.resolve(0, {**DEFAULT_TASK.to_dict(), "model": "v1"}).version == "v1"
    v2 = registry.resolve(0, DEFAULT_TASK_V2.canonical_json())
    assert v2 is ENTRY and v2.load_task(DEFAULT_TASK_V2.canonical_json()) == DEFAULT_TASK_V2
    with pytest.raises(registry.UnknownAlgorithmError, match="v3"):
        registry.resolve(0, {"model": "v3"})


def test_v1_tasks_keep_their_ids_and_v2_tasks_differ() -> None:
    assert "model" not in DEFAULT_TASK.to_dict()
    assert TaskSpec.from_dict({"model": "v1"}).task_id == DEFAULT_TASK.task_id
    assert DEFAULT_TASK_V2.to_dict()["model"] == "v2"
    assert DEFAULT_TASK_V2.task_id != DEFAULT_TASK.task_id
    assert TaskSpecV2.from_dict(DEFAULT_TASK_V2.to_dict()) == DEFAULT_TASK_V2


@pytest.mark.parametrize(("obj", "message"), [
    ({"model": "v2", "network": {"tau_m": [1.0, 2.0]}}, "task.network.tau_m: a v1 parameter"),
    ({"model": "v2", "plasticity": {"consolidation": 0.5}}, "task.plasticity.consolidation: v1 only"),
    ({"model": "v2", "network": {"dsn_bias": [-9.0, 0.0]}}, "task.network.dsn_bias"),
    ({"model": 2}, "task.model"),
])
def test_bad_v2_tasks_are_refused_naming_the_field(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskSpecError, match=message.replace(".", r"\.")):
        TaskSpecV2.from_dict(obj)
    with pytest.raises(registry.TaskError, match=message.replace(".", r"\.")):
        ENTRY.load_task(obj)


def test_v1_reader_refuses_a_v2_task() -> None:
    with pytest.raises(TaskSpecError, match=r"task\.model"):
        TaskSpec.from_dict({"model": "v2"})
