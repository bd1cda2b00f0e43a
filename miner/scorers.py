"""The miner's glue to the scoring registry: a job in, work the worker threads score out.

A :class:`Scorer` stands for one algorithm family (``Algo``). It turns a job (plus what the event
loop downloaded for it: the task document, the parent network) into a :class:`PreparedWork`: it
resolves the registry entry the task names (:func:`scoring.registry.resolve`), loads and checks the
task, prepares it with the job's seed and parent, and binds it to the chosen backend. Everything
that decides a score is the registry entry's; this module only maps protocol fields to its inputs.
``PreparedWork.score_batch(nonces)`` is what a worker thread calls in its loop: thread-safe, no
I/O, bit-for-bit the integers the work server recomputes. Whether a score is worth submitting is
the job's rule (:meth:`Scorer.is_solution`, :meth:`Scorer.is_share`: threshold, share threshold,
parent, and the family's direction).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol.fields import Algo
from protocol.messages import StratumJob
from scoring import registry

__all__ = [
    "BoundWork",
    "JobInputs",
    "JobPreparationError",
    "PreparedWork",
    "Scorer",
    "available_scorers",
    "choose_backends",
]


class JobPreparationError(Exception):
    """A job this miner cannot work on (unknown algorithm or version, invalid task, forged parent, ...)."""


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
    #: Nonces a worker hands to :meth:`score_batch` at once (the backend's preference).
    batch_size: int = 1

    @abstractmethod
    def score(self, nonce: bytes) -> int:
        """The integer score of ``nonce`` (32 bytes) for this work. Thread-safe; may take seconds."""

    def score_batch(self, nonces: Sequence[bytes]) -> list[int]:
        """The scores of several nonces, in order (what worker threads call)."""
        return [self.score(nonce) for nonce in nonces]


class BoundWork(PreparedWork):
    """A registry entry's prepared work for one identity, on one backend."""

    def __init__(self, entry: registry.Algorithm, prepared: Any, public_key: bytes, scorer: registry.BatchScorer,
                 nonce_head: bytes = b"") -> None:
        self.entry = entry
        self.prepared = prepared
        self.public_key = public_key
        self.scorer = scorer
        self.nonce_head = nonce_head
        self.batch_size = max(1, scorer.batch_size)

    def score(self, nonce: bytes) -> int:
        return self.scorer.score_batch(self.public_key, [nonce])[0]

    def score_batch(self, nonces: Sequence[bytes]) -> list[int]:
        return self.scorer.score_batch(self.public_key, nonces)


#: Runs an entry's known answers on a backend; raises on a wrong one (see :mod:`miner.selftest`).
BackendCheck = Callable[[registry.Algorithm, registry.Backend], None]


class Scorer:
    """An algorithm family as the miner mines it.

    ``backend`` is ``--backend`` (``auto``, ``cpu`` or ``cuda``), resolved per registry entry on first
    use (:meth:`backend_for`; ``check`` is the self-test ``auto`` requires of a GPU backend);
    ``nonce_choices`` are the miner's choices inside the canonical nonce head (bpp9000: ``changes``).
    """

    def __init__(self, algo: Algo, *, backend: str = "cpu", nonce_choices: Mapping[str, int] | None = None,
                 check: BackendCheck | None = None) -> None:
        if backend not in registry.BACKEND_CHOICES:
            raise ValueError(f"backend must be one of {', '.join(registry.BACKEND_CHOICES)}, got {backend!r}")
        self.algo = algo
        self.backend = backend
        self.nonce_choices = dict(nonce_choices or {})
        self.check = check
        self._choices: dict[str, registry.BackendChoice] = {}

    @property
    def name(self) -> str:
        """Lower-case algorithm name (``neuraxon``, ``bpp9000``)."""
        return self.algo.label

    def backend_for(self, entry: registry.Algorithm) -> registry.BackendChoice:
        """The backend ``entry`` runs on here, and why (chosen once per entry).

        Raises :class:`~scoring.registry.BackendUnavailableError` when ``cuda`` was asked for and
        cannot run."""
        found = self._choices.get(entry.name)
        if found is None:
            found = self._choices[entry.name] = registry.choose_backend(entry, self.backend, self.check)
        return found

    def entry_for(self, inputs: JobInputs) -> registry.Algorithm:
        """The registry entry (version) that scores the job: from its task description (inline ``Task``
        or the downloaded document). Raises :class:`JobPreparationError`."""
        job = inputs.job
        description: registry.TaskDescription | None = job.task if job.task is not None else inputs.task_document
        if description is None:
            raise JobPreparationError(f"the {self.name} job has no task (Task or the document behind TaskUrl)")
        try:
            return registry.resolve(job.algo, description)
        except registry.UnknownAlgorithmError as exc:
            raise JobPreparationError(f"invalid {self.name} task: {exc}") from None

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        """Everything derived from the job alone, computed once (may take seconds; runs off the loop).

        Raises :class:`JobPreparationError` for a job that cannot be mined.
        """
        job = inputs.job
        entry = self.entry_for(inputs)
        description = job.task if job.task is not None else inputs.task_document
        assert description is not None  # entry_for checked it
        try:
            task = entry.load_task(description)
        except registry.TaskError as exc:
            raise JobPreparationError(f"invalid {self.name} task: {exc}") from None
        own_id = entry.task_id(task)
        if own_id is not None and own_id != job.task_id:
            raise JobPreparationError(f"TaskId {job.task_id[:16]}... is not the id of the task sent ({own_id[:16]}...)")
        parent = None
        if job.parent is not None:
            if inputs.parent_network is None:
                raise JobPreparationError("the job names a parent but its network is missing")
            parent = registry.Parent(inputs.parent_network, job.parent.score)
        try:
            prepared = entry.prepare(task, seed=bytes.fromhex(job.random_seed), parent=parent)
        except (registry.ParentError, registry.TaskError) as exc:
            raise JobPreparationError(str(exc)) from None
        return self.bind(entry, prepared, job.public_key)

    def bind(self, entry: registry.Algorithm, prepared: Any, public_key: bytes) -> PreparedWork:
        """``prepared`` (from ``entry.prepare``) for ``public_key`` on this scorer's backend."""
        choice = self.backend_for(entry)
        return BoundWork(entry, prepared, public_key, choice.backend.bind(entry, prepared),
                         entry.nonce_head(self.nonce_choices))

    def bench_work(self, entry: registry.Algorithm | None = None) -> PreparedWork:
        """A representative offline work for ``neuraxon-miner bench``: ``entry``'s bench case (an entry of
        this family; default: the family's default version)."""
        entry = entry or registry.default_entry(self.algo)
        case = entry.bench_case()
        return self.bind(entry, entry.prepare(case.task, seed=case.seed), case.public_key)

    def is_solution(self, job: StratumJob, score: int) -> bool:
        """Whether ``score`` is a full solution of ``job`` (threshold and parent, in the right direction)."""
        return job.is_solution(score)

    def is_share(self, job: StratumJob, score: int) -> bool:
        """Whether ``score`` is worth submitting for ``job`` (a solution, or it meets ``ShareThreshold``)."""
        return job.is_share(score)


def available_scorers(*, backend: str = "cpu", bpp9000_changes: int = 10,
                      check: BackendCheck | None = None) -> dict[Algo, Scorer]:
    """A scorer per algorithm family the registry knows."""
    choices: dict[Algo, dict[str, int]] = {Algo.BPP9000: {"changes": bpp9000_changes}}
    return {algo: Scorer(algo, backend=backend, nonce_choices=choices.get(algo), check=check) for algo in Algo}


def choose_backends(scorers: Mapping[Algo, Scorer]) -> list[tuple[str, registry.BackendChoice]]:
    """Every registry entry's backend, chosen now (a GPU self-test runs here): ``(entry name, choice)``.

    Raises :class:`~scoring.registry.BackendUnavailableError` when ``cuda`` was asked for and no
    algorithm can run on it (one that has no cuda backend runs on the cpu, and says so).
    """
    plan = [(entry.name, scorer.backend_for(entry))
            for scorer in scorers.values() for entry in registry.entries() if entry.algo == scorer.algo]
    if any(s.backend == "cuda" for s in scorers.values()) and not any(c.backend.name == "cuda" for _, c in plan):
        reasons = "; ".join(f"{name}: {choice.reason}" for name, choice in plan)
        raise registry.BackendUnavailableError(f"cuda backend requested but unavailable ({reasons})")
    return plan
