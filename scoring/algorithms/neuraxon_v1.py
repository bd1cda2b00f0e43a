"""Neuraxon v1 training walks (algo 0, model ``v1``): the registry entry over :mod:`scoring.neuraxon`.

Task model: :class:`~scoring.neuraxon_task.TaskSpec` (inline JSON object, or its canonical JSON
document); prepared form: :class:`~scoring.neuraxon.Walks` (the task's worlds and kernel vectors,
the parent checked against its claimed score, each identity's root and its fitness computed once).
Higher scores are better; any 32-byte nonce is canonical; the walk's best network is exported (the
work server trains the task with it).

Known answers: rows of ``tests/data/neuraxon-task/golden.csv`` (scores recorded with the numba
scorer and, for the small task, recomputed by the plain-Python twin) and a walk from a parent.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

from scoring import neuraxon as NX
from scoring.algorithms.cuda_backends import NEURAXON_CUDA
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec, TaskSpecBase, TaskSpecError
from scoring.registry import CPU, Algorithm, Backend, BenchCase, KnownAnswer, Parent, TaskDescription, TaskError, Walk

__all__ = ["ENTRY", "NEURAXON_CASES", "PARENT_CASE", "SMALL_TASK", "NeuraxonV1"]

#: tests/data/neuraxon-task/small.json (a small Neuraxon task).
SMALL_TASK: dict[str, Any] = {
    "name": "foraging-small",
    "seed": "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00",
    "environment": {"width": 8, "height": 8, "food_sources": 5, "rock_permille": 250},
    "network": {"hidden": 6, "max_synapses": 120, "connection_probability": 0.3},
    "lifetime_ticks": 40,
    "worlds": 3,
    "walk": {"steps": 12, "mutations": 2},
    "threshold": 400,
}

#: (task, identity, nonce, score) rows of golden.csv: ``None`` is the default task.
NEURAXON_CASES: tuple[tuple[dict[str, Any] | None, str, str, int], ...] = (
    (SMALL_TASK, "YSLYSDJVYSHFWGJNREMKQKMTQSIGYALKBPEHEWRGUETPYPQTIUWFOBPEKFQJ",
     "3f0e9c75e1e71da67c2f3dd18243d7b4dd204cc1d1e310fbe6b721d625609895", 145),
    (SMALL_TASK, "dd09e143426e2bd91f12fb42b899cf7eabfc8a6eb469d8c30e9e5373c87ecbef",
     "26f6867ac619eaf7203a5fa5e76d92462dc7cffb55d3e8d2942f9e8142d7a1cf", 138),
    (SMALL_TASK, "GWTYBTKNHFKLCGLYZSKPOAFLGXZGRUDEGOTJLKBZRAYTNCDYAZPEHERFVUWI",
     "8c8a7c9dcf58548f66c71aa95606041a113209856b376a1ff7dbddeb6fde6bb4", 170),
    (None, "YQGBOXZMWNVOGEUJDGDQASDMZRHEORCLIEKPEQDWFBAJUKNQLDACMHIDQJLL",
     "65d3dbae34de71fb2ee9a3fcbb4ed6d2573dc9543b84621546a0b63d2ab83027", 315),
)
#: A walk from a parent on the small task: (identity, parent nonce, parent score, nonce, score); the
#: parent is the best network of (small task, identity, parent nonce).
PARENT_CASE = ("dd09e143426e2bd91f12fb42b899cf7eabfc8a6eb469d8c30e9e5373c87ecbef", "11" * 32, 147, "05" * 32, 164)


class NeuraxonV1(Algorithm):
    """Algo 0, model v1: the seeded mutation walk of a Neuraxon v1 network in the foraging world."""

    name = "neuraxon"
    algo = 0
    version = "v1"
    exports_network = True
    backends: ClassVar[Mapping[str, Backend]] = {"cpu": CPU, "cuda": NEURAXON_CUDA}
    #: The task-spec class of this entry's model (its ``from_dict`` refuses another model's tasks).
    spec_class: ClassVar[type[TaskSpecBase]] = TaskSpec

    def load_task(self, description: TaskDescription) -> Any:
        try:
            obj = json.loads(description) if isinstance(description, bytes) else description
            return self.spec_class.from_dict(obj)
        except (TaskSpecError, ValueError) as exc:  # ValueError: not JSON or not UTF-8
            raise TaskError(str(exc)) from None

    def default_task(self) -> TaskSpecBase:
        return DEFAULT_TASK

    def describe_task(self, task: TaskSpec) -> dict[str, Any]:
        return task.to_dict()

    def task_id(self, task: TaskSpec) -> str:
        return task.task_id.hex()

    def threshold(self, task: TaskSpec) -> int:
        return task.threshold

    def task_key(self, task: TaskSpec) -> Hashable:
        return task.canonical_json()

    def build(self, task: TaskSpec, seed: bytes | None, parent: Parent | None, *, shared: bool) -> Any:
        return NX.Walks(NX.prepare(task), parent)

    def walk(self, prepared: NX.Walks, public_key: bytes, nonce: bytes, *, threads: int = 1) -> Walk:
        result = prepared.run(public_key, nonce, threads)
        return Walk(result.score, result)

    def export_network(self, prepared: NX.Walks, walk: Walk) -> dict[str, Any] | None:
        return NX.export_network(prepared.prep, walk.result.genome)

    def summary(self, prepared: NX.Walks, walk: Walk) -> str:
        result: NX.WalkResult = walk.result
        return f"start {result.start_score}, {result.accepted}/{prepared.prep.spec.walk.steps} steps kept"

    def known_answers(self) -> list[KnownAnswer]:
        small = TaskSpec.from_dict(SMALL_TASK)
        out = [KnownAnswer(f"neuraxon {'default' if task is None else 'small'} {nonce[:8]}",
                           DEFAULT_TASK if task is None else small, NX.public_key(identity), bytes.fromhex(nonce),
                           score)
               for task, identity, nonce, score in NEURAXON_CASES]
        identity, parent_nonce, parent_score, nonce, score = PARENT_CASE
        out.append(KnownAnswer("neuraxon walk from a parent", small, bytes.fromhex(identity), bytes.fromhex(nonce),
                               score, parent_walk=(bytes.fromhex(parent_nonce), parent_score)))
        return out

    def bench_case(self) -> BenchCase:
        return BenchCase(DEFAULT_TASK, bytes(range(32)))


ENTRY = NeuraxonV1()
