"""The scoring registry: every algorithm version the project scores, each as ONE object.

The miner's workers, the work server's verifier, the ``score``/``verify``/``bench`` commands and
the self-test all score through an :class:`Algorithm` found here, so a score the miner computes is
by construction the integer the server recomputes.

Keys. A job names its algorithm family by ``Algo`` (the wire id, qubic/core's ``AlgoType``) and its
version inside the task description (e.g. a Neuraxon task's ``model``); :func:`resolve` maps
``(algo id, description)`` to the entry registered under ``(algo id, version)``. A :class:`Family`
holds what the wire needs per algo id whatever the version (score direction, fixed nonce head
length) and how to read the version from a description (absent: the family's default version).

An entry declares its task model (:meth:`~Algorithm.load_task`: description → task object), how a
task is prepared once (:meth:`~Algorithm.prepare`: task, seed, parent → prepared object, shared
read-only by threads and cached per content), the one scoring function
(:meth:`~Algorithm.walk`; :meth:`~Algorithm.score` and :meth:`~Algorithm.score_batch` are its
integer views), its canonical-nonce rules, whether it exports a trained network, its known answers
(the self-test) and its backends (``cpu``; a ``cuda`` slot for batch kernels, see :class:`Backend`).

How to add an algorithm version (e.g. ``bpp9000`` v1.305 beside v1.301, or Neuraxon ``v2``):

1. Write a module under :mod:`scoring.algorithms` with a subclass of :class:`Algorithm` (or of an
   existing entry of the same family) and an instance named ``ENTRY``: ``name`` (unique, e.g.
   ``"bpp9000"`` for the current version and ``"bpp9000-v1301"`` for the old one), ``algo``,
   ``version``, and the methods above. Its known answers must come from an independent source
   (reference vectors), never from the code under test.
2. Import the module in :func:`_load_entries`.
3. If the family's descriptions did not name their version so far, teach the family's
   ``version_of`` (in :data:`FAMILIES`) to read it; a description that names none keeps meaning
   ``default_version``. Point ``default_version`` at the new entry when it becomes the default.

An entry that defines ``__init__`` must call ``super().__init__()`` (the prepare cache). Override
:meth:`~Algorithm.walk`, never :meth:`~Algorithm.score`: the walk is the one computation.

A new algorithm *family* (a new wire ``Algo`` id) also needs a :data:`FAMILIES` row and the
``Algo`` member in :mod:`protocol.fields`.

How to add a backend (e.g. CUDA kernels for an entry): subclass :class:`Backend` (``name = "cuda"``,
:meth:`~Backend.unavailable` says why it cannot run here, :meth:`~Backend.bind` uploads a prepared
work once and returns a :class:`BatchScorer` whose ``batch_size`` nonces per call keep the device
busy) and list it in the entry's ``backends`` (``{"cpu": CPU, "cuda": ...}``). Its integers must be
the cpu backend's bit for bit: the miner runs the entry's known answers through it before ``auto``
picks it (:func:`choose_backend`), and the workers hand it ``batch_size`` nonces at a time.

This module is light: entry modules (which load numba) are imported on the first lookup of an
entry, not with the registry, so the protocol can read a family's rules without compiling kernels.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from scoring.ids import json_id

__all__ = [
    "BACKEND_CHOICES",
    "CPU",
    "FAMILIES",
    "Algorithm",
    "Backend",
    "BackendChoice",
    "BackendUnavailableError",
    "BatchScorer",
    "BenchCase",
    "CpuBackend",
    "Family",
    "KnownAnswer",
    "Parent",
    "ParentError",
    "TaskDescription",
    "TaskError",
    "UnknownAlgorithmError",
    "Walk",
    "choose_backend",
    "default_entry",
    "entries",
    "entry",
    "family",
    "lookup",
    "resolve",
]

#: What a job carries as its task: the inline ``Task`` object, or the bytes behind ``TaskUrl``.
TaskDescription = dict[str, Any] | bytes


class TaskError(ValueError):
    """A task description that is not a valid task of its algorithm (the message names the field)."""


class ParentError(ValueError):
    """A parent network that does not belong to the task, or whose claimed score is wrong."""


class UnknownAlgorithmError(LookupError):
    """No registry entry for an algorithm id, version or name (the message lists the known ones)."""


@dataclass(frozen=True)
class Parent:
    """A job's parent: the network its walks start from (JSON object) and the score its job claims."""

    network: dict[str, Any]
    score: int

    @property
    def id(self) -> str:
        """Hex K12 of the network's canonical JSON (the work server's ``ParentId``)."""
        return json_id(self.network)


@dataclass(frozen=True)
class Walk:
    """One scored nonce: the integer ``score`` and ``result``, the algorithm's own record of the walk
    (e.g. its best network, for :meth:`Algorithm.export_network`; ``None`` when there is nothing more)."""

    score: int
    result: Any = None


@dataclass(frozen=True)
class KnownAnswer:
    """A score recorded from an independent source (reference vectors), for the self-test.

    ``task`` is the entry's task model; ``seed`` the job's ``RandomSeed`` when the score depends on
    it. With ``parent_walk = (nonce, score)`` the walk starts from a parent: the best network of
    (``task``, ``public_key``, that nonce), which must itself score ``score`` (a known answer too).
    """

    label: str
    task: Any
    public_key: bytes
    nonce: bytes
    score: int
    seed: bytes | None = None
    parent_walk: tuple[bytes, int] | None = None


@dataclass(frozen=True)
class BenchCase:
    """A representative offline work for ``neuraxon-miner bench``: task model, seed, identity."""

    task: Any
    public_key: bytes
    seed: bytes | None = None


# ------------------------------------------------------------------------------------------ backends
class BatchScorer(ABC):
    """One prepared work bound to a backend: scores batches of nonces for one identity."""

    #: Nonces per :meth:`score_batch` call that keep the backend busy (the cpu backend: 1).
    batch_size: int = 1

    @abstractmethod
    def score_batch(self, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        """The integer scores of ``nonces`` (32 bytes each), in order; thread-safe."""


class Backend(ABC):
    """Where an entry's scores are computed. Every backend must give the cpu backend's integers,
    bit for bit (the self-test runs the known answers through the chosen backend)."""

    #: ``"cpu"`` or ``"cuda"``.
    name: ClassVar[str]

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine (no GPU, no driver, ...), or ``None``."""
        return None

    @abstractmethod
    def bind(self, entry: Algorithm, prepared: Any) -> BatchScorer:
        """``prepared`` (from ``entry.prepare``) on this backend; device uploads happen here, once per work."""


class _CpuBatch(BatchScorer):
    def __init__(self, entry: Algorithm, prepared: Any) -> None:
        self.entry = entry
        self.prepared = prepared

    def score_batch(self, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        return self.entry.score_batch(self.prepared, public_key, nonces)


class CpuBackend(Backend):
    """The entry's own numba kernels, one nonce at a time per thread."""

    name = "cpu"

    def bind(self, entry: Algorithm, prepared: Any) -> BatchScorer:
        return _CpuBatch(entry, prepared)


CPU: Final = CpuBackend()
#: What ``--backend`` accepts.
BACKEND_CHOICES = ("auto", "cpu", "cuda")


class BackendUnavailableError(Exception):
    """A backend that was asked for by name cannot run here (the message says why)."""


@dataclass(frozen=True)
class BackendChoice:
    """The backend an entry runs on, and why (for the log)."""

    backend: Backend
    reason: str


def choose_backend(entry: Algorithm, requested: str,
                   self_test: Callable[[Algorithm, Backend], None] | None = None) -> BackendChoice:
    """The backend ``entry`` runs on for ``--backend requested`` (``auto``, ``cpu`` or ``cuda``), and why.

    An entry without a cuda backend runs on the cpu whatever was asked (reason "<name> has no cuda kernel").
    One with a cuda backend: ``auto`` picks it only when it can run here and passes ``self_test``
    (which raises on a wrong known answer), else the cpu; ``cuda`` raises
    :class:`BackendUnavailableError` when it cannot run, and lets a failing ``self_test`` propagate.
    """
    if requested not in BACKEND_CHOICES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_CHOICES)}, got {requested!r}")
    cpu = entry.backends["cpu"]
    if requested == "cpu":
        return BackendChoice(cpu, "requested")
    cuda = entry.backends.get("cuda")
    why = f"{entry.name} has no cuda kernel" if cuda is None else cuda.unavailable()
    if cuda is not None and why is None and self_test is not None:
        try:
            self_test(entry, cuda)
        except Exception as exc:  # any failure of the GPU path means: mine on the cpu (unless cuda was demanded)
            if requested == "cuda":
                raise
            why = f"cuda self-test failed: {exc}"
    if cuda is None or why is not None:
        if cuda is not None and requested == "cuda":
            raise BackendUnavailableError(f"cuda backend unavailable for {entry.name}: {why}")
        return BackendChoice(cpu, why or f"{entry.name} has no cuda kernel")
    if requested == "cuda":
        return BackendChoice(cuda, "requested")
    return BackendChoice(cuda, "GPU present" + (" and its self-test passed" if self_test is not None else ""))


# ------------------------------------------------------------------------------------------ entries
class Algorithm(ABC):
    """One algorithm version: everything that decides a score, in one place.

    Class attributes declare it: ``name`` (unique registry name), ``algo`` (wire id), ``version``
    (with ``algo`` the registry key), ``exports_network`` (walks yield a trained network the work
    server keeps as the next parent), ``needs_seed`` (the score depends on the job's ``RandomSeed``),
    ``backends`` (``cpu`` always; a ``cuda`` entry when a GPU kernel exists).
    Instances are stateless apart from the prepare cache, and shared by all threads.
    """

    name: ClassVar[str]
    algo: ClassVar[int]
    version: ClassVar[str]
    exports_network: ClassVar[bool] = False
    needs_seed: ClassVar[bool] = False
    backends: ClassVar[Mapping[str, Backend]] = {"cpu": CPU}
    #: Prepared works kept per entry (each may hold large arrays, e.g. a 512 MiB pool).
    prepare_cache_size: ClassVar[int] = 4

    def __init__(self) -> None:
        self._prepared: OrderedDict[Hashable, Any] = OrderedDict()
        self._prepared_lock = threading.Lock()

    # -- the task model ----------------------------------------------------------------------------
    @abstractmethod
    def load_task(self, description: TaskDescription) -> Any:
        """The task model of a description (inline object or document bytes); :class:`TaskError` if invalid."""

    @abstractmethod
    def describe_task(self, task: Any) -> TaskDescription | None:
        """The description a job carries for ``task`` (``None`` if a job cannot carry everything the
        score depends on, e.g. a non-production config)."""

    def default_task(self) -> Any | None:
        """The task scored when none is given (``neuraxon-miner score`` without ``--task``), or ``None``."""
        return None

    def task_id(self, task: Any) -> str | None:
        """The wire ``TaskId`` the task itself determines (checked against the job), or ``None``."""
        return None

    @abstractmethod
    def threshold(self, task: Any) -> int:
        """The task's own solution threshold (a job's ``Threshold`` may override it)."""

    @abstractmethod
    def task_key(self, task: Any) -> Hashable:
        """A content key of ``task`` for the prepare cache (equal keys: equal scores)."""

    # -- preparation -------------------------------------------------------------------------------
    def prepare(self, task: Any, *, seed: bytes | None = None, parent: Parent | None = None,
                shared: bool = True) -> Any:
        """``task`` prepared once for any number of scores (read-only, thread-safe).

        ``seed``: the job's ``RandomSeed`` (required when :attr:`needs_seed`); ``parent``: the job's
        parent, checked here (:class:`ParentError` when it does not belong to the task or its claimed
        score is wrong). ``shared=False`` builds a private copy outside every process-wide cache
        (self-tests: their resources must not evict or outlive a real job's).
        """
        if self.needs_seed and seed is None:
            raise TaskError(f"{self.name}: the score depends on the job's RandomSeed; none was given")
        if not shared:
            return self.build(task, seed, parent, shared=False)
        key = (self.task_key(task), seed if self.needs_seed else None,
               None if parent is None else (parent.id, parent.score))
        with self._prepared_lock:
            found = self._prepared.get(key)
            if found is not None:
                self._prepared.move_to_end(key)
                return found
        made = self.build(task, seed, parent, shared=True)
        with self._prepared_lock:
            self._prepared[key] = made
            while len(self._prepared) > self.prepare_cache_size:
                self._prepared.popitem(last=False)
        return made

    @abstractmethod
    def build(self, task: Any, seed: bytes | None, parent: Parent | None, *, shared: bool) -> Any:
        """Build the prepared form (see :meth:`prepare`, which caches it)."""

    # -- scoring -----------------------------------------------------------------------------------
    @abstractmethod
    def walk(self, prepared: Any, public_key: bytes, nonce: bytes, *, threads: int = 1) -> Walk:
        """THE score computation of (prepared task, public key, nonce). ``threads`` may split one
        score over threads (same result)."""

    def score(self, prepared: Any, public_key: bytes, nonce: bytes) -> int:
        """The integer score (the reference every backend must reproduce)."""
        return self.walk(prepared, public_key, nonce).score

    def score_batch(self, prepared: Any, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        """The scores of several nonces for one identity, in order (the cpu backend: one by one)."""
        return [self.walk(prepared, public_key, nonce).score for nonce in nonces]

    def export_network(self, prepared: Any, walk: Walk) -> dict[str, Any] | None:
        """The walk's best network as a JSON object (a parent for later jobs) when the algorithm
        trains networks (:attr:`exports_network`), else ``None``."""
        return None

    def is_solution(self, task: Any, score: int, parent: Parent | None = None) -> bool:
        """Whether ``score`` reaches the task's own threshold and beats the parent (the job's rule with
        the task's threshold; jobs apply theirs through ``StratumJob.is_solution``)."""
        fam = family(self.algo)
        return fam.meets(score, self.threshold(task)) and (parent is None or fam.beats(score, parent.score))

    def summary(self, prepared: Any, walk: Walk) -> str:
        """One human line about a walk beyond its score (``neuraxon-miner score``), may be empty."""
        return ""

    # -- nonces ------------------------------------------------------------------------------------
    def check_nonce(self, nonce: bytes) -> str | None:
        """``None`` if ``nonce`` has the canonical layout a solution must have, else why not."""
        return None if len(nonce) == 32 else "a nonce has 32 bytes"

    def sample_nonce(self, raw: bytes) -> bytes:
        """A canonical nonce made from 32 random bytes (calibration walks)."""
        return bytes(raw[:32])

    def nonce_head(self, choices: Mapping[str, int]) -> bytes:
        """The fixed leading nonce bytes a miner searches under (``NoncePrefix`` follows), from the
        miner's ``choices`` (e.g. bpp9000's ``changes``); as long as the family's ``nonce_head_bytes``."""
        return b""

    # -- self-test and bench -----------------------------------------------------------------------
    @abstractmethod
    def known_answers(self) -> list[KnownAnswer]:
        """The entry's known answers (independent reference scores), for the self-test."""

    @abstractmethod
    def bench_case(self) -> BenchCase:
        """A representative offline work for ``neuraxon-miner bench``."""


# ------------------------------------------------------------------------------------------ families
def _neuraxon_version(description: TaskDescription) -> str | None:
    obj: Any = description
    if isinstance(description, bytes):
        try:
            obj = json.loads(description)
        except ValueError:
            return None  # not JSON: the default entry's load_task says what is wrong
    model = obj.get("model") if isinstance(obj, dict) else None
    return model if isinstance(model, str) else None


def _bpp9000_version(description: TaskDescription) -> str | None:
    # A versioned task document (JSON bytes) names its "model"; a bare core task file is what v1.301
    # pools serve, so it keeps meaning v1.301 (the default, v1.305, always comes as a document).
    if not isinstance(description, bytes):
        return None
    if not description.startswith(b"{"):
        return "v1301"
    try:
        model = json.loads(description).get("model")
    except (ValueError, AttributeError):
        return None  # the default entry's load_task says what is wrong
    return model if isinstance(model, str) else None


@dataclass(frozen=True)
class Family:
    """What is common to every version of one wire algorithm id.

    ``higher_is_better`` and ``nonce_head_bytes`` are wire rules (how a job's ``Threshold`` reads, where
    ``NoncePrefix`` starts), so every version keeps them; ``version_of`` reads the version a task
    description names (``None``: ``default_version``).
    """

    algo: int
    name: str
    higher_is_better: bool
    nonce_head_bytes: int
    default_version: str
    version_of: Callable[[TaskDescription], str | None]

    def meets(self, score: int, bound: int) -> bool:
        """Whether ``score`` reaches ``bound`` in this family's direction (``>=`` or ``<=``)."""
        return score >= bound if self.higher_is_better else score <= bound

    def beats(self, score: int, other: int) -> bool:
        """Whether ``score`` is strictly better than ``other``."""
        return score > other if self.higher_is_better else score < other


#: The wire algorithm ids (qubic/core's ``AlgoType``: slot 0 is reserved for Neuraxon, 1 is bpp9000).
FAMILIES: Final[Mapping[int, Family]] = {
    0: Family(0, "neuraxon", higher_is_better=True, nonce_head_bytes=0, default_version="v1",
              version_of=_neuraxon_version),
    1: Family(1, "bpp9000", higher_is_better=False, nonce_head_bytes=3, default_version="v1305",
              version_of=_bpp9000_version),
}


def family(algo: int) -> Family:
    """The family of a wire algorithm id."""
    try:
        return FAMILIES[int(algo)]
    except KeyError:
        raise UnknownAlgorithmError(f"unknown algorithm id {int(algo)} (known: "
                                    f"{', '.join(f'{a} {f.name}' for a, f in FAMILIES.items())})") from None


_ENTRIES: list[Algorithm] | None = None
_ENTRIES_LOCK = threading.Lock()


def _load_entries() -> list[Algorithm]:
    from scoring.algorithms import (  # noqa: PLC0415 - numba loads on first use
        bpp9000_v1301,
        bpp9000_v1305,
        neuraxon_v1,
        neuraxon_v2,
    )

    return [neuraxon_v1.ENTRY, neuraxon_v2.ENTRY, bpp9000_v1305.ENTRY, bpp9000_v1301.ENTRY]


def _check(table: list[Algorithm]) -> list[Algorithm]:
    names, keys = set(), set()
    for e in table:
        fam = family(e.algo)
        if e.name in names or (e.algo, e.version) in keys:
            raise RuntimeError(f"scoring registry: {e.name} ({e.algo}, {e.version}) is registered twice")
        names.add(e.name)
        keys.add((e.algo, e.version))
        if "cpu" not in e.backends:
            raise RuntimeError(f"scoring registry: {e.name} has no cpu backend")
        if len(e.nonce_head({})) != fam.nonce_head_bytes:
            raise RuntimeError(f"scoring registry: {e.name}'s nonce head is not {fam.nonce_head_bytes} bytes")
    for fam in FAMILIES.values():
        if (fam.algo, fam.default_version) not in keys:
            raise RuntimeError(f"scoring registry: no entry for {fam.name}'s default version {fam.default_version}")
    return table


def entries() -> list[Algorithm]:
    """Every registered entry (loads the entry modules on the first call)."""
    global _ENTRIES  # noqa: PLW0603 - loaded once, on first use
    with _ENTRIES_LOCK:
        if _ENTRIES is None:
            _ENTRIES = _check(_load_entries())
        return list(_ENTRIES)


def entry(name: str) -> Algorithm:
    """The entry registered as ``name`` (``"neuraxon"``, ``"bpp9000-v1301"``, ...)."""
    for e in entries():
        if e.name == name:
            return e
    raise UnknownAlgorithmError(f"unknown scoring algorithm {name!r} (known: {', '.join(e.name for e in entries())})")


def lookup(algo: int, version: str) -> Algorithm:
    """The entry of ``(algo id, version)``."""
    fam = family(algo)
    found = [e for e in entries() if e.algo == fam.algo]
    for e in found:
        if e.version == version:
            return e
    raise UnknownAlgorithmError(f"{fam.name} version {version!r} is not supported here "
                                f"(known: {', '.join(e.version for e in found)})")


def default_entry(algo: int) -> Algorithm:
    """The entry of a family's default version (what a description that names no version means)."""
    return lookup(algo, family(algo).default_version)


def resolve(algo: int, description: TaskDescription) -> Algorithm:
    """The entry that scores a job of ``algo`` whose task is ``description`` (its version, or the default)."""
    fam = family(algo)
    return lookup(fam.algo, fam.version_of(description) or fam.default_version)
