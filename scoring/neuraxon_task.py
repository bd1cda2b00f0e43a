"""The Neuraxon training task (algo 0): a pure-data task spec, validated before any computation.

A task is JSON (docs/neuraxon-task.md §2). Its ``model`` names the brain: absent (or ``"v1"``) a
Neuraxon v1.0 network, :class:`TaskSpec`; ``"v2"`` a Neuraxon v2.0 network, :class:`TaskSpecV2`
(docs §10). The two share the world, the walk, the fitness and the criticality sections and differ
in ``network`` and ``plasticity``. ``from_dict`` checks every field — type, range, consistency and
a total work budget — and raises :class:`TaskSpecError` naming the field; ``to_dict`` gives the
canonical object whose K12 hash is the task id (a v1 task's has no ``model`` key, so every v1 task
keeps the id it always had). Which class reads a description is the scoring registry's choice
(:func:`scoring.registry.resolve`).
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar, Self, TypeVar

from engine.neuraxon_genome import GENE_BOUNDS, GENE_BOUNDS_V2
from scoring.ids import k12

__all__ = ["DEFAULT_TASK", "DEFAULT_TASK_V2", "Criticality", "Fitness", "Foraging", "NetworkSpec", "NetworkSpecV2",
           "Plasticity", "PlasticityV2", "TaskSpec", "TaskSpecBase", "TaskSpecError", "TaskSpecV2", "Walk"]

#: Seed of the default task's worlds: K12("neuraxon foraging default task").
DEFAULT_SEED = k12(b"neuraxon foraging default task").hex()

#: Refuse tasks whose worst-case work (network-synapse updates per score) exceeds this.
MAX_WORK = 5e10


# Field limits: name -> (kind, low, high). Ranges use "range" (float pair) or "irange" (int pair).
_Limits = dict[str, tuple[Any, ...]]


class TaskSpecError(ValueError):
    """An invalid task spec; the message names the field."""


def _check(where: str, value: Any, kind: type, lo: float | None = None, hi: float | None = None) -> Any:
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TaskSpecError(f"{where}: must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TaskSpecError(f"{where}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise TaskSpecError(f"{where}: must be finite, got {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise TaskSpecError(f"{where}: must be a string, got {value!r}")
        return value
    if lo is not None and value < lo:
        raise TaskSpecError(f"{where}: must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise TaskSpecError(f"{where}: must be <= {hi}, got {value}")
    return value


def _range(where: str, value: Any, lo: float, hi: float, kind: type = float) -> tuple[Any, Any]:
    """A ``[low, high]`` pair of ``kind`` (float or int) within ``[lo, hi]``, ``low <= high``."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TaskSpecError(f"{where}: must be a [low, high] pair, got {value!r}")
    a = _check(f"{where}[0]", value[0], kind, lo, hi)
    b = _check(f"{where}[1]", value[1], kind, lo, hi)
    if a > b:
        raise TaskSpecError(f"{where}: low {a} exceeds high {b}")
    return (a, b)


class _Section:
    """A task-spec section: ``LIMITS`` per field, and cross-field checks in ``_validate``."""

    LIMITS: ClassVar[_Limits] = {}
    #: Fields of another model's section that this one refuses, with the reason.
    REFUSED: ClassVar[dict[str, str]] = {}

    def _validate(self, where: str) -> None:
        """Raise :class:`TaskSpecError` if fields contradict each other (none by default)."""


@dataclass(frozen=True)
class Foraging(_Section):
    """The ``foraging`` world (docs §3): integer grid, rocks, food that depletes and respawns."""

    kind: str = "foraging"
    width: int = 12
    height: int = 12
    rock_permille: int = 300
    smoothing_passes: int = 1
    food_sources: int = 10
    food_units: int = 3
    respawn_ticks: int = 40
    energy_start: int = 60
    energy_max: int = 80
    energy_per_food: int = 15
    metabolism: int = 1
    collision_cost: int = 1
    sense_radius: int = 5
    blocked_window: int = 5
    blocked_hits: int = 3
    clear_streak: int = 5

    LIMITS: ClassVar[_Limits] = {
        "kind": (str,), "width": (int, 2, 512), "height": (int, 2, 512), "rock_permille": (int, 0, 1000),
        "smoothing_passes": (int, 0, 8), "food_sources": (int, 0, 1024), "food_units": (int, 1, 10**6),
        "respawn_ticks": (int, 1, 10**6), "energy_start": (int, 1, 10**9), "energy_max": (int, 1, 10**9),
        "energy_per_food": (int, 0, 10**9), "metabolism": (int, 0, 10**6), "collision_cost": (int, 0, 10**6),
        "sense_radius": (int, 0, 1024), "blocked_window": (int, 0, 64), "blocked_hits": (int, 1, 64),
        "clear_streak": (int, 1, 10**6),
    }

    def _validate(self, where: str) -> None:
        if self.kind != "foraging":
            raise TaskSpecError(f"{where}.kind: unknown world {self.kind!r} (known: 'foraging')")
        if self.energy_start > self.energy_max:
            raise TaskSpecError(f"{where}.energy_start: {self.energy_start} exceeds energy_max {self.energy_max}")
        if self.blocked_hits > max(self.blocked_window, 1):
            raise TaskSpecError(f"{where}.blocked_hits: {self.blocked_hits} exceeds blocked_window "
                                f"{self.blocked_window}")


@dataclass(frozen=True)
class NetworkSpec(_Section):
    """Network shape, the genes' initial ranges and the fixed v1 dynamics (docs §4)."""

    hidden: int = 16
    connection_probability: float = 0.25
    max_synapses: int = 400
    threshold_exc: tuple[float, float] = (0.2, 0.6)
    threshold_inh: tuple[float, float] = (-0.6, -0.2)
    tau_m: tuple[float, float] = (2.0, 6.0)
    tau_fast: tuple[float, float] = (3.0, 8.0)
    tau_slow: tuple[float, float] = (20.0, 80.0)
    learning_rate: tuple[float, float] = (0.01, 0.1)
    w_fast_init: tuple[float, float] = (-1.0, 1.0)
    w_slow_init: tuple[float, float] = (-0.5, 0.5)
    w_meta_init: tuple[float, float] = (-0.3, 0.3)
    spontaneous_firing_rate: float = 0.005
    synapse_formation_prob: float = 0.0
    synapse_death_prob: float = 0.01
    synapse_integrity_threshold: float = 0.1
    neuron_health_decay: float = 0.001
    neuron_death_threshold: float = 0.1
    tau_meta: float = 1000.0
    stdp_window: float = 20.0
    dopamine_baseline: float = 0.2
    serotonin_baseline: float = 0.3
    acetylcholine_baseline: float = 0.5
    norepinephrine_baseline: float = 0.1
    neuromod_decay_rate: float = 2.0

    LIMITS: ClassVar[_Limits] = {
        "hidden": (int, 0, 4096), "connection_probability": (float, 0.0, 1.0), "max_synapses": (int, 0, 10**6),
        "threshold_exc": ("range", *GENE_BOUNDS[0]), "threshold_inh": ("range", *GENE_BOUNDS[1]),
        "tau_m": ("range", *GENE_BOUNDS[2]), "tau_fast": ("range", *GENE_BOUNDS[3]),
        "tau_slow": ("range", *GENE_BOUNDS[4]), "learning_rate": ("range", *GENE_BOUNDS[5]),
        "w_fast_init": ("range", -1.0, 1.0), "w_slow_init": ("range", -1.0, 1.0),
        "w_meta_init": ("range", -0.5, 0.5),
        "spontaneous_firing_rate": (float, 0.0, 1.0), "synapse_formation_prob": (float, 0.0, 1.0),
        "synapse_death_prob": (float, 0.0, 1.0), "synapse_integrity_threshold": (float, 0.0, 1.0),
        "neuron_health_decay": (float, 0.0, 1.0), "neuron_death_threshold": (float, -1.0, 1.0),
        "tau_meta": (float, 1.0, 1e6), "stdp_window": (float, 1.0, 1e6),
        "dopamine_baseline": (float, 0.0, 1.0), "serotonin_baseline": (float, 0.0, 1.0),
        "acetylcholine_baseline": (float, 0.0, 1.0), "norepinephrine_baseline": (float, 0.0, 1.0),
        "neuromod_decay_rate": (float, 0.0, 100.0),
    }


@dataclass(frozen=True)
class NetworkSpecV2(_Section):
    """A Neuraxon v2 brain (docs §10): shape, Watts–Strogatz topology, the genes' initial ranges, a
    few of v2's dynamics; every other v2 parameter is upstream's default."""

    hidden: int = 16
    max_synapses: int = 400
    dendritic_branches: int = 3
    ws_k: int = 6
    ws_beta: float = 0.3
    threshold_exc: tuple[float, float] = (0.2, 0.6)
    threshold_inh: tuple[float, float] = (-0.6, -0.2)
    dsn_bias: tuple[float, float] = (-1.0, 1.0)
    tau_fast: tuple[float, float] = (3.0, 8.0)
    tau_slow: tuple[float, float] = (20.0, 80.0)
    learning_rate: tuple[float, float] = (0.01, 0.1)
    w_fast_init: tuple[float, float] = (-0.8, 0.8)
    w_slow_init: tuple[float, float] = (-0.4, 0.4)
    w_meta_init: tuple[float, float] = (-0.3, 0.3)
    spontaneous_firing_rate: float = 0.02
    synapse_formation_prob: float = 0.0
    synapse_death_prob: float = 0.01
    synapse_integrity_threshold: float = 0.1
    neuron_health_decay: float = 0.001
    neuron_death_threshold: float = 0.1
    dopamine_baseline: float = 0.15
    serotonin_baseline: float = 0.15
    acetylcholine_baseline: float = 0.15
    norepinephrine_baseline: float = 0.15
    dsn_enabled: bool = True
    ctsn_enabled: bool = True
    chrono_enabled: bool = True
    agmp_enabled: bool = True

    LIMITS: ClassVar[_Limits] = {
        "hidden": (int, 0, 4096), "max_synapses": (int, 0, 10**6), "dendritic_branches": (int, 1, 16),
        "ws_k": (int, 2, 64), "ws_beta": (float, 0.0, 1.0),
        "threshold_exc": ("range", *GENE_BOUNDS_V2[0]), "threshold_inh": ("range", *GENE_BOUNDS_V2[1]),
        "dsn_bias": ("range", *GENE_BOUNDS_V2[2]), "tau_fast": ("range", *GENE_BOUNDS_V2[3]),
        "tau_slow": ("range", *GENE_BOUNDS_V2[4]), "learning_rate": ("range", *GENE_BOUNDS_V2[5]),
        "w_fast_init": ("range", -1.0, 1.0), "w_slow_init": ("range", -1.0, 1.0),
        "w_meta_init": ("range", -0.5, 0.5),
        # -1 switches the spontaneous kick off (0 still leaves v2's alpha2 term)
        "spontaneous_firing_rate": (float, -1.0, 1.0), "synapse_formation_prob": (float, 0.0, 1.0),
        "synapse_death_prob": (float, 0.0, 1.0), "synapse_integrity_threshold": (float, 0.0, 1.0),
        "neuron_health_decay": (float, 0.0, 1.0), "neuron_death_threshold": (float, -1.0, 1.0),
        "dopamine_baseline": (float, 0.0, 1.0), "serotonin_baseline": (float, 0.0, 1.0),
        "acetylcholine_baseline": (float, 0.0, 1.0), "norepinephrine_baseline": (float, 0.0, 1.0),
        "dsn_enabled": (bool,), "ctsn_enabled": (bool,), "chrono_enabled": (bool,), "agmp_enabled": (bool,),
    }
    REFUSED: ClassVar[dict[str, str]] = {
        name: "a v1 parameter; v2 networks have no such field (docs §10)"
        for name in ("connection_probability", "tau_m", "tau_meta", "stdp_window", "neuromod_decay_rate")}


@dataclass(frozen=True)
class Plasticity(_Section):
    """The named mining extensions (docs §5): meta signal and consolidation."""

    meta_gain: float = 2.0
    arousal_per_collision: float = 1.0
    meta_decay: float = 0.8
    consolidation: float = 0.9
    reward_dopamine: float = 0.5
    traces: bool = False

    LIMITS: ClassVar[_Limits] = {
        "meta_gain": (float, 0.0, 100.0), "arousal_per_collision": (float, 0.0, 100.0),
        "meta_decay": (float, 0.0, 1.0), "consolidation": (float, 0.0, 1.0),
        "reward_dopamine": (float, 0.0, 1.0), "traces": (bool,),
    }


@dataclass(frozen=True)
class PlasticityV2(_Section):
    """The meta signal and reward of a v2 task (docs §10): μ scales v2's learning rate; eating is a
    phasic dopamine burst."""

    meta_gain: float = 2.0
    arousal_per_collision: float = 1.0
    meta_decay: float = 0.8
    reward_dopamine: float = 0.5

    LIMITS: ClassVar[_Limits] = {
        "meta_gain": (float, 0.0, 100.0), "arousal_per_collision": (float, 0.0, 100.0),
        "meta_decay": (float, 0.0, 1.0), "reward_dopamine": (float, 0.0, 1.0),
    }
    REFUSED: ClassVar[dict[str, str]] = {
        "consolidation": "v1 only: v2's w_slow keeps its own leak (tau_slow is a gene)",
        "traces": "v1 only: v2 always updates its STDP traces",
    }


@dataclass(frozen=True)
class Walk(_Section):
    """The training walk (docs §6): ``steps`` steps of ``mutations`` mutations each."""

    steps: int = 80
    mutations: int = 2
    weight_sigma: float = 0.4
    gene_sigma: float = 0.1

    LIMITS: ClassVar[_Limits] = {
        "steps": (int, 0, 100_000), "mutations": (int, 1, 1000),
        "weight_sigma": (float, 0.0, 2.0), "gene_sigma": (float, 0.0, 1.0),
    }


@dataclass(frozen=True)
class Fitness(_Section):
    """Integer fitness weights of one world's lifetime (docs §7)."""

    food: int = 100
    explore: int = 10
    survive: int = 1
    collision: int = 3

    LIMITS: ClassVar[_Limits] = {"food": (int, 0, 10**6), "explore": (int, 0, 10**6), "survive": (int, 0, 10**6),
              "collision": (int, 0, 10**6)}


@dataclass(frozen=True)
class Criticality(_Section):
    """Optional integer band score on branching ratio and activity (docs §7), fixed point 1e6."""

    branching_weight: int = 40
    branching_band: tuple[int, int] = (800_000, 1_200_000)
    branching_width: int = 800_000
    activity_weight: int = 40
    activity_band: tuple[int, int] = (50_000, 400_000)
    activity_width: int = 200_000

    LIMITS: ClassVar[_Limits] = {
        "branching_weight": (int, 0, 10**6), "branching_band": ("irange", 0, 10**9),
        "branching_width": (int, 1, 10**9), "activity_weight": (int, 0, 10**6),
        "activity_band": ("irange", 0, 10**6), "activity_width": (int, 1, 10**6),
    }


_S = TypeVar("_S", bound=_Section)


def _section(cls: type[_S], obj: Any, where: str) -> _S:
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise TaskSpecError(f"{where}: must be an object, got {type(obj).__name__}")
    limits = cls.LIMITS
    unknown = sorted(set(obj) - set(limits))
    if unknown:
        why = cls.REFUSED.get(unknown[0], "unknown field")
        raise TaskSpecError(f"{where}.{unknown[0]}: {why}")
    values: dict[str, Any] = {}
    for name, spec in limits.items():
        if name not in obj:
            continue
        v = obj[name]
        w = f"{where}.{name}"
        if spec[0] == "range":
            values[name] = _range(w, v, spec[1], spec[2])
        elif spec[0] == "irange":
            values[name] = _range(w, v, spec[1], spec[2], int)
        elif spec[0] is bool:
            if not isinstance(v, bool):
                raise TaskSpecError(f"{w}: must be true or false, got {v!r}")
            values[name] = v
        else:
            values[name] = _check(w, v, *spec)
    section = cls(**values)
    section._validate(where)
    return section


def _plain(obj: Any) -> Any:
    if isinstance(obj, tuple | list):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


@dataclass(frozen=True)
class TaskSpecBase:
    """What every Neuraxon task has, whatever its brain: the worlds, the lifetime, the walk, the
    fitness and the criticality terms. ``seed`` (64 hex) generates the worlds; see docs/neuraxon-task.md.

    Subclasses add ``network`` and ``plasticity`` sections and name their ``MODEL``.
    """

    name: str = "foraging-default"
    seed: str = DEFAULT_SEED
    environment: Foraging = field(default_factory=Foraging)
    lifetime_ticks: int = 150
    steps_per_tick: int = 2
    worlds: int = 5
    walk: Walk = field(default_factory=Walk)
    fitness: Fitness = field(default_factory=Fitness)
    criticality: Criticality = field(default_factory=Criticality)
    threshold: int = 1500
    version: int = 1

    #: The ``model`` value this class reads.
    MODEL: ClassVar[str] = ""
    NETWORK: ClassVar[type[_Section]] = _Section
    PLASTICITY: ClassVar[type[_Section]] = _Section
    #: Work units per network update (synapse or neuron) in the budget: what one costs relative to v1.
    UPDATE_COST: ClassVar[int] = 1

    @classmethod
    def from_dict(cls, obj: Any) -> Self:
        """Validate a task object (missing fields take the defaults); raises :class:`TaskSpecError`."""
        if not isinstance(obj, dict):
            raise TaskSpecError(f"task: must be an object, got {type(obj).__name__}")
        known = {f.name for f in fields(cls)} | {"model"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise TaskSpecError(f"task.{unknown[0]}: unknown field")
        model = _check("task.model", obj.get("model", "v1"), str)
        if model != cls.MODEL:
            raise TaskSpecError(f"task.model: {model!r} is not a {cls.MODEL} task (the scoring registry picks "
                                "the reader of each model)")
        version = _check("task.version", obj.get("version", 1), int)
        if version != 1:
            raise TaskSpecError(f"task.version: unsupported version {version} (this miner knows 1)")
        seed = _check("task.seed", obj.get("seed", cls.seed), str)
        if len(seed) != 64 or any(c not in "0123456789abcdef" for c in seed):
            raise TaskSpecError("task.seed: must be 64 lower-case hex digits (32 bytes)")
        d = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        values: dict[str, Any] = {
            "name": _check("task.name", obj.get("name", d["name"]), str),
            "seed": seed,
            "environment": _section(Foraging, obj.get("environment"), "task.environment"),
            "network": _section(cls.NETWORK, obj.get("network"), "task.network"),
            "plasticity": _section(cls.PLASTICITY, obj.get("plasticity"), "task.plasticity"),
            "lifetime_ticks": _check("task.lifetime_ticks", obj.get("lifetime_ticks", d["lifetime_ticks"]), int, 1,
                                     10**6),
            "steps_per_tick": _check("task.steps_per_tick", obj.get("steps_per_tick", d["steps_per_tick"]), int, 1,
                                     100),
            "worlds": _check("task.worlds", obj.get("worlds", d["worlds"]), int, 1, 101),
            "walk": _section(Walk, obj.get("walk"), "task.walk"),
            "fitness": _section(Fitness, obj.get("fitness"), "task.fitness"),
            "criticality": _section(Criticality, obj.get("criticality"), "task.criticality"),
            "threshold": _check("task.threshold", obj.get("threshold", d["threshold"]), int, 0, 2**62),
            "version": version,
        }
        if "model" in d:
            values["model"] = model
        spec = cls(**values)
        spec._check_budget()
        return spec

    def _shape(self) -> tuple[int, int, float]:
        """(hidden neurons, max_synapses, synapse_formation_prob) of the network section."""
        raise NotImplementedError

    def _check_budget(self) -> None:
        hidden, max_synapses, formation = self._shape()
        n = 6 + hidden + 2
        syn = max_synapses + (self.lifetime_ticks * self.steps_per_tick if formation > 0 else 0)
        per_step = (syn + n) * self.UPDATE_COST
        work = (self.walk.steps + 1) * self.worlds * self.lifetime_ticks * self.steps_per_tick * per_step
        if work > MAX_WORK:
            raise TaskSpecError(
                f"task: one score would need ~{work:.2g} network updates (limit {MAX_WORK:.0g}); "
                "reduce walk.steps, worlds, lifetime_ticks, steps_per_tick or network size")
        cells = self.environment.width * self.environment.height
        if self.environment.food_sources > cells:
            raise TaskSpecError(f"task.environment.food_sources: {self.environment.food_sources} exceeds the "
                                f"{cells} cells of the grid")

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON object (every field, defaults included)."""
        return _plain(asdict(self))

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, shortest round-trip floats (the whole spec)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    @property
    def task_id(self) -> bytes:
        """32 bytes: K12 of the canonical JSON without ``name`` and ``threshold``.

        The id names the problem, so the work of a walk does not depend on what the task is called
        or on the solution threshold a pool currently asks for.
        """
        obj = self.to_dict()
        del obj["name"], obj["threshold"]
        data = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        return k12(data)

    @property
    def seed_bytes(self) -> bytes:
        return bytes.fromhex(self.seed)

    def replace(self, **changes: Any) -> Self:
        """A modified copy, re-validated (nested sections may be given as dicts)."""
        obj = self.to_dict()
        for key, value in changes.items():
            obj[key] = value.to_dict() if isinstance(value, TaskSpecBase) else _plain(
                asdict(value) if hasattr(value, "__dataclass_fields__") else value)
        return type(self).from_dict(obj)


@dataclass(frozen=True)
class TaskSpec(TaskSpecBase):
    """A Neuraxon v1 task (``model`` absent or ``"v1"``; the canonical form has no ``model`` key)."""

    network: NetworkSpec = field(default_factory=NetworkSpec)
    plasticity: Plasticity = field(default_factory=Plasticity)

    MODEL: ClassVar[str] = "v1"
    NETWORK: ClassVar[type[_Section]] = NetworkSpec
    PLASTICITY: ClassVar[type[_Section]] = Plasticity

    def _shape(self) -> tuple[int, int, float]:
        n = self.network
        return n.hidden, n.max_synapses, n.synapse_formation_prob


@dataclass(frozen=True)
class TaskSpecV2(TaskSpecBase):
    """A Neuraxon v2 task (``"model": "v2"``, docs §10)."""

    name: str = "foraging-default-v2"
    model: str = "v2"
    network: NetworkSpecV2 = field(default_factory=NetworkSpecV2)
    plasticity: PlasticityV2 = field(default_factory=PlasticityV2)

    MODEL: ClassVar[str] = "v2"
    NETWORK: ClassVar[type[_Section]] = NetworkSpecV2
    PLASTICITY: ClassVar[type[_Section]] = PlasticityV2
    #: A v2 update costs about five times a v1 one (docs/neuraxon-v2.md, Throughput).
    UPDATE_COST: ClassVar[int] = 5

    def _shape(self) -> tuple[int, int, float]:
        n = self.network
        return n.hidden, n.max_synapses, n.synapse_formation_prob


#: The task the demo, the embedded work server and the benchmarks use.
DEFAULT_TASK = TaskSpec.from_dict({})
#: The same world, walk and fitness with a Neuraxon v2 brain.
DEFAULT_TASK_V2 = TaskSpecV2.from_dict({"model": "v2"})
