"""Per-algorithm scorers: prepare a job's work once, then score one nonce at a time from any thread.

A :class:`Scorer` turns a job (plus what the event loop downloaded for it: the task document, the
parent network) into a :class:`PreparedWork`. ``PreparedWork.score(nonce)`` is what a worker thread
calls in its loop: thread-safe, no I/O, the heavy part in nogil numba kernels, and bit-for-bit the
integer the work server recomputes. Whether a score is worth submitting is the job's rule
(:meth:`Scorer.is_solution`, :meth:`Scorer.is_share`: threshold, share threshold, parent, and the
algorithm's direction).

Algorithms: ``neuraxon`` (algo 0, :mod:`scoring.neuraxon`) always; ``bpp9000`` (algo 1,
:mod:`scoring.bpp9000`) when that module is installed — its 512 MiB random2 pool is built once
per mining seed and shared by every thread.
"""

from __future__ import annotations

import importlib.util
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from protocol.fields import Algo
from protocol.messages import StratumJob

__all__ = [
    "Bpp9000Scorer",
    "JobInputs",
    "JobPreparationError",
    "NeuraxonScorer",
    "PreparedWork",
    "Scorer",
    "available_scorers",
]


class JobPreparationError(Exception):
    """A job this miner cannot work on (unknown algorithm, invalid task, forged parent, ...)."""


@dataclass(frozen=True)
class JobInputs:
    """A job and the resources the event loop fetched for it (hashes already checked).

    ``task_document``: the bytes behind ``TaskUrl`` (``None`` when the task is inline);
    ``parent_network``: the parent network object, inline or downloaded (``None`` without a parent).
    """

    job: StratumJob
    task_document: bytes | None = None
    parent_network: dict[str, Any] | None = None


class PreparedWork(ABC):
    """One job's work, prepared once and shared read-only by all worker threads."""

    #: Fixed leading nonce bytes of this algorithm (``NoncePrefix`` follows them).
    nonce_head: bytes = b""

    @abstractmethod
    def score(self, nonce: bytes) -> int:
        """The integer score of ``nonce`` (32 bytes) for this work. Thread-safe; may take seconds."""


class Scorer(ABC):
    """An algorithm as the miner sees it."""

    algo: Algo

    @property
    def name(self) -> str:
        """Lower-case algorithm name (``neuraxon``, ``bpp9000``)."""
        return self.algo.label

    @abstractmethod
    def prepare(self, inputs: JobInputs) -> PreparedWork:
        """Everything derived from the job alone, computed once (may take seconds; runs off the loop).

        Raises :class:`JobPreparationError` for a job that cannot be mined.
        """

    @abstractmethod
    def bench_work(self) -> PreparedWork:
        """A representative offline work (the default task) for ``neuraxon-miner bench``."""

    def is_solution(self, job: StratumJob, score: int) -> bool:
        """Whether ``score`` is a full solution of ``job`` (threshold and parent, in the right direction)."""
        return job.is_solution(score)

    def is_share(self, job: StratumJob, score: int) -> bool:
        """Whether ``score`` is worth submitting for ``job`` (a solution, or it meets ``ShareThreshold``)."""
        return job.is_share(score)


# ------------------------------------------------------------------------------------------ neuraxon
class NeuraxonWork(PreparedWork):
    """The Neuraxon walk of one (task, identity, parent): start genome and its score computed once."""

    def __init__(self, spec: Any, public_key: bytes, parent: Any | None) -> None:
        from engine.rng import state_from_bytes  # noqa: PLC0415 - numba modules load on first use
        from scoring import neuraxon as NX  # noqa: PLC0415

        self._nx = NX
        self._state_from_bytes = state_from_bytes
        self.prep = NX.prepare(spec)
        self.public_key = public_key
        if parent is None:
            self.start = NX.root_genome(self.prep, public_key)
        else:
            try:
                self.start = NX.genome_from_network(self.prep, parent.network)
            except NX.ParentError as exc:
                raise JobPreparationError(str(exc)) from None
        # The walk kernel evaluates its start genome when given no score; doing it once here gives
        # the same integer (the self-test checks it) and saves one lifetime per iteration.
        self.start_score = NX.evaluate(self.prep, self.start)
        if parent is not None and self.start_score != parent.score:
            raise JobPreparationError(f"parent network scores {self.start_score}, not the claimed {parent.score}")
        self._seed_prefix = public_key + self.prep.task_id

    def score(self, nonce: bytes) -> int:
        rng = self._state_from_bytes(self._nx.k12(self._seed_prefix, nonce))
        return int(self._nx.walk(self.prep, self.start, rng, 1, self.start_score).score)


class NeuraxonScorer(Scorer):
    """Algo 0: the Neuraxon training walk (:mod:`scoring.neuraxon`); higher is better."""

    algo = Algo.NEURAXON

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        from scoring import neuraxon as NX  # noqa: PLC0415
        from scoring.neuraxon_task import TaskSpec, TaskSpecError  # noqa: PLC0415

        job = inputs.job
        try:
            if job.task is not None:
                spec = TaskSpec.from_dict(job.task)
            elif inputs.task_document is not None:
                spec = TaskSpec.from_dict(json.loads(inputs.task_document))
            else:
                raise JobPreparationError("the job has no task")
        except (TaskSpecError, ValueError) as exc:
            raise JobPreparationError(f"invalid Neuraxon task: {exc}") from None
        if spec.task_id.hex() != job.task_id:
            raise JobPreparationError(f"TaskId {job.task_id[:16]}... is not the id of the task sent "
                                      f"({spec.task_id.hex()[:16]}...)")
        parent = None
        if job.parent is not None:
            if inputs.parent_network is None:
                raise JobPreparationError("the job names a parent but its network is missing")
            parent = NX.Parent(inputs.parent_network, job.parent.score)
        return NeuraxonWork(spec, job.public_key, parent)

    def bench_work(self) -> PreparedWork:
        from scoring.neuraxon_task import DEFAULT_TASK  # noqa: PLC0415

        return NeuraxonWork(DEFAULT_TASK, bytes(range(32)), None)


# ------------------------------------------------------------------------------------------ bpp9000
class Bpp9000Work(PreparedWork):
    """bpp9000 on one (mining seed, task): the shared pool and the prepared scorer."""

    def __init__(self, scorer: Any, public_key: bytes, changes: int) -> None:
        self.scorer = scorer
        self.public_key = public_key
        self.nonce_head = bytes([1, changes, 0])

    def score(self, nonce: bytes) -> int:
        return int(self.scorer.score(self.public_key, nonce))


class Bpp9000Scorer(Scorer):
    """Algo 1: Qubic's bpp9000 (:mod:`scoring.bpp9000`); lower is better. ``changes`` is L (nonce[1])."""

    algo = Algo.BPP9000

    def __init__(self, changes: int = 10) -> None:
        if not 1 <= changes <= 10:
            raise ValueError("bpp9000 changes per step must be 1..10")
        self.changes = changes

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        import dataclasses  # noqa: PLC0415

        from scoring import bpp9000 as B  # noqa: PLC0415

        job = inputs.job
        if inputs.task_document is None:
            raise JobPreparationError("a bpp9000 job needs its task file (TaskUrl)")
        try:
            task = B.parse_task(inputs.task_document, source=f"task {job.task_id}")
            config = dataclasses.replace(B.PRODUCTION_CONFIG, threshold=job.threshold)
            scorer = B.Bpp9000Scorer.for_seed(bytes.fromhex(job.random_seed), task, config)
        except ValueError as exc:  # TaskFileError is a ValueError
            raise JobPreparationError(f"invalid bpp9000 task: {exc}") from None
        return Bpp9000Work(scorer, job.public_key, self.changes)

    def bench_work(self) -> PreparedWork:
        from scoring import bpp9000 as B  # noqa: PLC0415

        seed = bytes(range(32))
        pool = B.get_pool(seed)
        task = B.synthetic_task(pool, B.PRODUCTION_CONFIG)
        return Bpp9000Work(B.Bpp9000Scorer(pool, task, B.PRODUCTION_CONFIG), bytes(range(1, 33)), self.changes)


def bpp9000_installed() -> bool:
    """Whether :mod:`scoring.bpp9000` is part of this installation."""
    return importlib.util.find_spec("scoring.bpp9000") is not None


def available_scorers(*, bpp9000_changes: int = 10) -> dict[Algo, Scorer]:
    """The scorers this installation has, by algorithm."""
    table: dict[Algo, Scorer] = {Algo.NEURAXON: NeuraxonScorer()}
    if bpp9000_installed():
        table[Algo.BPP9000] = Bpp9000Scorer(bpp9000_changes)
    return table
