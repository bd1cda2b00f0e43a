"""Scoring of the Neuraxon task: determinism, golden scores, verify, parents, task validation."""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scoring import neuraxon as NX
from scoring import registry
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec, TaskSpecError

DATA = Path(__file__).resolve().parent.parent / "data" / "neuraxon-task"
SMALL = TaskSpec.from_dict(json.loads((DATA / "small.json").read_text()))
TASKS = {"default": DEFAULT_TASK, "small": SMALL}
ROWS = list(csv.DictReader((DATA / "golden.csv").open()))
PK = bytes(range(32))


def test_golden_file_has_enough_rows() -> None:
    assert len(ROWS) >= 50


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['task']}-{r['nonce'][:8]}")
def test_golden_scores(row: dict[str, str]) -> None:
    assert NX.score(TASKS[row["task"]], row["identity"], row["nonce"]) == int(row["score"])


def test_same_score_with_any_thread_count_and_repeats() -> None:
    nonce = bytes([7]) * 32
    values = {NX.score(DEFAULT_TASK, PK, nonce, threads=t) for t in (1, 2, 3, 1)}
    assert len(values) == 1


def test_same_score_in_a_fresh_process() -> None:
    nonce = "11" * 32
    code = ("from scoring import neuraxon as NX; from scoring.neuraxon_task import DEFAULT_TASK;"
            f"print(NX.score(DEFAULT_TASK, bytes(range(32)), {nonce!r}, threads=2))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == NX.score(DEFAULT_TASK, PK, nonce)


def test_identity_forms_are_equivalent() -> None:
    from protocol.identity import identity_from_public_key

    nonce = bytes(32)
    assert NX.score(SMALL, PK, nonce) == NX.score(SMALL, PK.hex(), nonce) == \
        NX.score(SMALL, identity_from_public_key(PK), nonce)


def test_nonce_and_identity_change_the_walk() -> None:
    scores = {NX.score(SMALL, PK, bytes([i]) * 32) for i in range(8)}
    scores |= {NX.score(SMALL, bytes([i]) * 32, bytes(32)) for i in range(8)}
    assert len(scores) > 3


def test_walk_never_scores_below_its_start() -> None:
    for i in range(5):
        result = NX.run_walk(SMALL, PK, bytes([i]) * 32)
        assert result.score >= result.start_score
        assert result.score == NX.evaluate(NX.prepare(SMALL), result.genome)


def test_verify_accepts_only_the_exact_score() -> None:
    nonce = bytes([3]) * 32
    value = NX.score(SMALL, PK, nonce)
    assert NX.verify(SMALL, PK, nonce, value)
    for forged in (value - 1, value + 1, value * 2 + 5, 0):
        if forged != value:
            assert not NX.verify(SMALL, PK, nonce, forged)


def _parent(task: TaskSpec, seed: int) -> NX.Parent:
    result = NX.run_walk(task, PK, bytes([seed]) * 32)
    network = NX.export_network(NX.prepare(task), result.genome)
    return NX.Parent(json.loads(json.dumps(network)), result.score)


def test_exported_network_round_trips_to_the_same_genome_and_score() -> None:
    prep = NX.prepare(SMALL)
    result = NX.run_walk(SMALL, PK, bytes([9]) * 32)
    network = json.loads(json.dumps(NX.export_network(prep, result.genome)))
    genome = NX.genome_from_network(prep, network)
    assert genome.same_as(result.genome)
    assert NX.evaluate(prep, genome) == result.score
    from engine.neuraxon import Network

    assert Network.from_reference_json(network).n_synapses == result.genome.n_syn


def test_walk_from_a_parent_starts_at_its_score_and_verifies() -> None:
    parent = _parent(SMALL, 1)
    nonce = bytes([2]) * 32
    result = NX.run_walk(SMALL, PK, nonce, parent=parent)
    assert result.start_score == parent.score and result.score >= parent.score
    assert NX.verify(SMALL, PK, nonce, result.score, parent=parent)
    assert registry.entry("neuraxon").is_solution(SMALL, result.score, parent) == (
        result.score >= SMALL.threshold and result.score > parent.score)


def test_forged_parent_is_rejected() -> None:
    parent = _parent(SMALL, 1)
    nonce = bytes([2]) * 32
    value = NX.score(SMALL, PK, nonce, parent=parent)
    inflated = NX.Parent(parent.network, parent.score + 1)
    assert not NX.verify(SMALL, PK, nonce, value, parent=inflated)
    with pytest.raises(NX.ParentError, match="claimed"):
        NX.score(SMALL, PK, nonce, parent=inflated)
    tampered = copy.deepcopy(parent.network)
    tampered["synapses"][0]["w_fast"] = 0.123456 if tampered["synapses"][0]["w_fast"] != 0.123456 else -0.5
    if NX.evaluate(NX.prepare(SMALL), NX.genome_from_network(NX.prepare(SMALL), tampered)) != parent.score:
        assert not NX.verify(SMALL, PK, nonce, value, parent=NX.Parent(tampered, parent.score))
    foreign = copy.deepcopy(parent.network)
    foreign["parameters"]["tau_meta"] = 999.0
    with pytest.raises(NX.ParentError, match="tau_meta"):
        NX.score(SMALL, PK, nonce, parent=NX.Parent(foreign, parent.score))
    assert not NX.verify(SMALL, PK, nonce, value, parent=NX.Parent(foreign, parent.score))
    other_task = _parent(DEFAULT_TASK, 1)
    with pytest.raises(NX.ParentError):
        NX.score(SMALL, PK, nonce, parent=other_task)


@pytest.mark.parametrize(("obj", "field"), [
    ({"environment": {"kind": "maze"}}, "task.environment.kind"),
    ({"environment": {"width": -3}}, "task.environment.width"),
    ({"environment": {"width": 100000}}, "task.environment.width"),
    ({"network": {"hidden": 1.5}}, "task.network.hidden"),
    ({"network": {"tau_m": [5, 2]}}, "task.network.tau_m"),
    ({"network": {"threshold_exc": [0.1, float("nan")]}}, "task.network.threshold_exc"),
    ({"walk": {"steps": -1}}, "task.walk.steps"),
    ({"worlds": 0}, "task.worlds"),
    ({"lifetime_ticks": 10**6, "walk": {"steps": 10**5}}, "network updates"),
    ({"seed": "xyz"}, "task.seed"),
    ({"bogus": 1}, "task.bogus"),
    ({"environment": {"energy_start": 500}}, "energy_start"),
    ({"version": 2}, "task.version"),
    ([], "task"),
])
def test_invalid_task_is_refused_before_any_computation(obj: object, field: str) -> None:
    with pytest.raises(TaskSpecError, match=field.replace(".", r"\.")):
        TaskSpec.from_dict(obj)


def test_task_id_is_stable_and_content_bound() -> None:
    again = TaskSpec.from_dict(json.loads(DEFAULT_TASK.canonical_json()))
    assert again.task_id == DEFAULT_TASK.task_id
    assert DEFAULT_TASK.replace(threshold=DEFAULT_TASK.threshold + 1).task_id == DEFAULT_TASK.task_id
    assert DEFAULT_TASK.replace(name="renamed").task_id == DEFAULT_TASK.task_id
    assert DEFAULT_TASK.replace(lifetime_ticks=DEFAULT_TASK.lifetime_ticks + 1).task_id != DEFAULT_TASK.task_id


def test_bad_identity_or_nonce_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="nonce"):
        NX.score(SMALL, PK, "zz" * 32)
    with pytest.raises(ValueError, match="nonce"):
        NX.score(SMALL, PK, "00" * 31)
    with pytest.raises(ValueError):
        NX.score(SMALL, "NOTANIDENTITY", bytes(32))
