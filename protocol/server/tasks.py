"""The work server's tasks: what a job names in ``TaskId``, what ``GET /api/v1/tasks/{id}`` serves.

A :class:`TaskEntry` is algorithm-neutral: an id, the solution threshold, the bytes served for
download (and their K12 hash, the job's ``TaskHash``), the inline ``Task`` object when the algorithm
sends one, and ``payload`` — the task model of the scoring-registry entry the task's description
resolves to (a :class:`~scoring.neuraxon_task.TaskSpec` for Neuraxon), which the verifier scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.fields import Algo
from scoring import registry
from scoring.ids import k12_hex
from scoring.neuraxon_task import DEFAULT_TASK, DEFAULT_TASK_V2, TaskSpecBase

__all__ = [
    "DEMO_THRESHOLD",
    "DEMO_THRESHOLD_V2",
    "TaskEntry",
    "TaskLoadError",
    "default_tasks",
    "demo_task_v2",
    "demo_tasks",
    "k12_hex",
    "load_task_file",
    "neuraxon_task",
]

#: Solution threshold of the embedded demo on the default Neuraxon task. Measured on 300 walks
#: (2026-11, default task): 90th percentile 1355, 92.5th 1444, 95th 1516 — so about 1 walk in 12
#: reaches 1400 (1,200 walks from two seeded generators, 2026-12: 126, 1 in 9.5), and a 2-core machine
#: (~20 walks/s) finds a solution within seconds.
DEMO_THRESHOLD = 1400
#: The same for the default v2 task (demo v2). Measured on 80 walks of 80 random identities (2026-12):
#: median 490, 75th percentile 612, 90th 1098 — about 1 walk in 8 reaches 900 (a v2 walk takes ~0.5 s
#: on one core). A v2 score depends more on the identity's root network than a v1 score: for a weak
#: root (e.g. 40 walks of one identity: median 158, max 539) the bar is out of reach.
DEMO_THRESHOLD_V2 = 900


class TaskLoadError(ValueError):
    """A task file that cannot be read or is not a valid task."""


@dataclass(frozen=True)
class TaskEntry:
    """One task the server hands out.

    * ``task_id`` — the wire ``TaskId`` (for Neuraxon the hex K12 task id of the spec);
    * ``threshold`` — the solution bound in the algorithm's direction;
    * ``document`` / ``content_type`` — what ``GET /api/v1/tasks/{task_id}`` returns;
      ``task_hash`` is K12 of ``document`` (the job's ``TaskHash`` when the task is not inline);
    * ``inline`` — the job's ``Task`` object, or ``None`` to send ``TaskUrl`` + ``TaskHash``;
    * ``training`` — cumulative training: the best accepted network becomes the parent of new jobs;
    * ``payload`` — the verifier's input: the task model of :meth:`scoring_entry` (a ``TaskSpec`` for
      Neuraxon, a ``Bpp9000Spec`` for bpp9000);
    * ``seed`` — the jobs' ``RandomSeed`` (hex) when the algorithm's score depends on it (bpp9000's
      mining seed); ``None`` derives a seed from the work, as Neuraxon's score does not use it.
    """

    task_id: str
    algo: Algo
    name: str
    threshold: int
    document: bytes
    content_type: str
    inline: dict[str, Any] | None
    training: bool
    payload: Any = field(compare=False, repr=False)
    seed: str | None = None
    task_hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_hash", k12_hex(self.document))

    @property
    def url(self) -> str:
        """Server path of the task document."""
        return f"/api/v1/tasks/{self.task_id}"

    def scoring_entry(self) -> registry.Algorithm:
        """The scoring-registry entry of this task, resolved from the description a job carries (the
        inline ``Task`` or the document), exactly as a miner resolves it."""
        return registry.resolve(self.algo, self.inline if self.inline is not None else self.document)


def neuraxon_task(spec: TaskSpecBase, *, threshold: int | None = None, training: bool = True,
                  inline: bool = True) -> TaskEntry:
    """A Neuraxon task entry; ``threshold`` (default: the spec's) is written into the spec as well,
    so a miner that reads ``Task.threshold`` sees the same bound as the job's ``Threshold`` (the
    threshold is not part of the task id)."""
    if threshold is not None and threshold != spec.threshold:
        spec = spec.replace(threshold=threshold)
    obj = spec.to_dict()
    return TaskEntry(
        task_id=spec.task_id.hex(),
        algo=Algo.NEURAXON,
        name=spec.name,
        threshold=spec.threshold,
        document=spec.canonical_json(),
        content_type="application/json",
        inline=obj if inline else None,
        training=training,
        payload=spec,
    )


def default_tasks(*, training: bool = True) -> list[TaskEntry]:
    """The default Neuraxon task at its own threshold (the standalone server's default)."""
    return [neuraxon_task(DEFAULT_TASK, training=training)]


def demo_tasks(*, threshold: int = DEMO_THRESHOLD, training: bool = True, v2: bool = False,
               threshold_v2: int = DEMO_THRESHOLD_V2) -> list[TaskEntry]:
    """The embedded demo's task set: the default Neuraxon task at :data:`DEMO_THRESHOLD`; with ``v2``
    also the default v2 task at ``threshold_v2`` (sessions are dealt the tasks in turn; v2
    tasks do not train from parents)."""
    tasks = [neuraxon_task(DEFAULT_TASK, threshold=threshold, training=training)]
    if v2:
        tasks.append(demo_task_v2(threshold_v2))
    return tasks


def demo_task_v2(threshold: int = DEMO_THRESHOLD_V2) -> TaskEntry:
    """The default v2 task as the demos serve it: at ``threshold``, without cumulative training."""
    return neuraxon_task(DEFAULT_TASK_V2, threshold=threshold, training=False)


def load_task_file(path: Path, *, threshold: int | None = None, training: bool = True) -> TaskEntry:
    """A task from a file: a Neuraxon task spec (JSON; its ``model`` picks the registry entry that reads
    it). Raises :class:`TaskLoadError`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskLoadError(f"cannot read task {path}: {exc.strerror}") from None
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TaskLoadError(f"task {path}: not a JSON Neuraxon task spec (binary bpp9000 tasks are not "
                            "served by this version)") from None
    try:
        spec = registry.resolve(Algo.NEURAXON, obj).load_task(obj)
    except (registry.TaskError, registry.UnknownAlgorithmError) as exc:
        raise TaskLoadError(f"task {path}: {exc}") from None
    return neuraxon_task(spec, threshold=threshold, training=training)
