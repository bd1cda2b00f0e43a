"""Neuraxon v2 training walks (algo 0, model ``v2``): the registry entry over :mod:`scoring.neuraxon_v2`.

Task model: :class:`~scoring.neuraxon_task.TaskSpecV2` (a Neuraxon task whose description says
``"model": "v2"``); prepared form: :class:`~scoring.neuraxon_v2.WalksV2`. Higher scores are better;
any 32-byte nonce is canonical. A v2 walk always starts from the identity's root network: the entry
exports no network, so the work server does not train v2 tasks from parents (yet).

Known answers: the rows of :data:`NEURAXON_V2_CASES`, recorded with the numba scorer and recomputed
by the plain-Python twin (``tests/naive/neuraxon_v2_task.py``; ``tests/scoring/test_neuraxon_v2_task.py``
checks the small-task rows against it on every run, the default-task row in the ``slow`` run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from scoring import neuraxon as NX
from scoring import neuraxon_v2 as NX2
from scoring.algorithms.neuraxon_v1 import SMALL_TASK, NeuraxonV1
from scoring.neuraxon_task import DEFAULT_TASK_V2, TaskSpecV2
from scoring.registry import CPU, Backend, BenchCase, KnownAnswer, Parent, ParentError, Walk

__all__ = ["ENTRY", "NEURAXON_V2_CASES", "SMALL_TASK_V2", "NeuraxonV2"]

#: The small Neuraxon task's world with a small v2 brain.
SMALL_TASK_V2: dict[str, Any] = {
    **SMALL_TASK,
    "name": "foraging-small-v2",
    "model": "v2",
    "network": {"hidden": 6, "max_synapses": 120, "ws_k": 4},
    "lifetime_ticks": 30,
    "walk": {"steps": 6, "mutations": 2},
}

#: (task, identity, nonce, score): ``None`` is the default v2 task.
NEURAXON_V2_CASES: tuple[tuple[dict[str, Any] | None, str, str, int], ...] = (
    (SMALL_TASK_V2, "YSLYSDJVYSHFWGJNREMKQKMTQSIGYALKBPEHEWRGUETPYPQTIUWFOBPEKFQJ",
     "3f0e9c75e1e71da67c2f3dd18243d7b4dd204cc1d1e310fbe6b721d625609895", 440),
    (SMALL_TASK_V2, "dd09e143426e2bd91f12fb42b899cf7eabfc8a6eb469d8c30e9e5373c87ecbef",
     "26f6867ac619eaf7203a5fa5e76d92462dc7cffb55d3e8d2942f9e8142d7a1cf", 405),
    (SMALL_TASK_V2, "GWTYBTKNHFKLCGLYZSKPOAFLGXZGRUDEGOTJLKBZRAYTNCDYAZPEHERFVUWI",
     "8c8a7c9dcf58548f66c71aa95606041a113209856b376a1ff7dbddeb6fde6bb4", 116),
    (SMALL_TASK_V2, "dd09e143426e2bd91f12fb42b899cf7eabfc8a6eb469d8c30e9e5373c87ecbef", "11" * 32, 427),
    (SMALL_TASK_V2, "ab" * 32, "5a" * 32, 130),
    (None, "YQGBOXZMWNVOGEUJDGDQASDMZRHEORCLIEKPEQDWFBAJUKNQLDACMHIDQJLL",
     "65d3dbae34de71fb2ee9a3fcbb4ed6d2573dc9543b84621546a0b63d2ab83027", 233),  # twin: 335 s
)


class NeuraxonV2(NeuraxonV1):
    """Algo 0, model v2: the seeded mutation walk of a Neuraxon v2 network in the foraging world."""

    name = "neuraxon-v2"
    version = "v2"
    exports_network = False
    spec_class = TaskSpecV2
    backends: ClassVar[Mapping[str, Backend]] = {"cpu": CPU}  # the v1 cuda kernel runs v1 walks only

    def default_task(self) -> TaskSpecV2:
        return DEFAULT_TASK_V2

    def build(self, task: Any, seed: bytes | None, parent: Parent | None, *, shared: bool) -> NX2.WalksV2:
        if parent is not None:
            raise ParentError("parent network: v2 tasks start every walk from the identity's root network")
        return NX2.WalksV2(NX2.prepare(task))

    def walk(self, prepared: Any, public_key: bytes, nonce: bytes, *, threads: int = 1) -> Walk:
        result = prepared.run(public_key, nonce)
        return Walk(result.score, result)

    def export_network(self, prepared: Any, walk: Walk) -> dict[str, Any] | None:
        return None

    def summary(self, prepared: Any, walk: Walk) -> str:
        result: NX2.WalkResultV2 = walk.result
        return f"start {result.start_score}, {result.accepted}/{prepared.prep.spec.walk.steps} steps kept"

    def known_answers(self) -> list[KnownAnswer]:
        small = TaskSpecV2.from_dict(SMALL_TASK_V2)
        return [KnownAnswer(f"neuraxon v2 {'default' if task is None else 'small'} {nonce[:8]}",
                            DEFAULT_TASK_V2 if task is None else small, NX.public_key(identity), bytes.fromhex(nonce),
                            score)
                for task, identity, nonce, score in NEURAXON_V2_CASES]

    def bench_case(self) -> BenchCase:
        return BenchCase(DEFAULT_TASK_V2, bytes(range(32)))


ENTRY = NeuraxonV2()
