"""Scoring of the Neuraxon task (algo 0): a seeded training walk with an integer score.

A walk starts from the root network K12(public key ‖ task id) or from the job's parent network,
runs the mutation walk seeded by K12(public key ‖ task id ‖ nonce), and its score is the best
integer fitness. It is a pure function of its inputs: the same integer on every machine and with
any thread count. docs/neuraxon-task.md specifies every step.

:class:`Walks` is the one place that computes a score: a task (and parent) prepared once, then
:meth:`Walks.run` per (identity, nonce). The registry entry (:mod:`scoring.algorithms.neuraxon_v1`),
and through it the miner, the work server and the self-test, call it; :func:`score`,
:func:`run_walk` and :func:`verify` are conveniences over it for scripts and tests.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from engine import foraging as F
from engine import neuraxon_genome as G
from engine import neuraxon_kernels as K
from engine import neuraxon_walk as WK
from engine.neuraxon_json import ParsedNetwork, emit_network, parse_network
from engine.neuraxon_params import NetworkFormatError, NetworkParameters
from engine.rng import state_from_bytes
from scoring.ids import k12, nonce_bytes, public_key
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec, TaskSpecBase
from scoring.registry import Parent, ParentError

__all__ = ["DEFAULT_TASK", "Genome", "Parent", "ParentError", "PreparedTask", "TaskSpec", "WalkResult", "Walks",
           "evaluate", "export_network", "genome_from_network", "prepare", "root_genome",
           "run_walk", "score", "verify", "walk"]

#: World indices at or above this are held-out worlds, never used by a walk.
HELDOUT_BASE = 1 << 31

T = TypeVar("T")
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass
class Genome:
    """A network at birth: synapses (arrays with capacity ``max_synapses``) and six genes."""

    pre: I32
    post: I32
    wf: F64
    ws: F64
    wm: F64
    silent: B
    modul: B
    n_syn: int
    genes: F64

    def copy(self) -> Genome:
        return Genome(self.pre.copy(), self.post.copy(), self.wf.copy(), self.ws.copy(), self.wm.copy(),
                      self.silent.copy(), self.modul.copy(), self.n_syn, self.genes.copy())

    def arrays(self) -> tuple[I32, I32, F64, F64, F64, B, B]:
        n = self.n_syn
        return (self.pre[:n], self.post[:n], self.wf[:n], self.ws[:n], self.wm[:n], self.silent[:n],
                self.modul[:n])

    def same_as(self, other: Genome) -> bool:
        pairs: list[tuple[Any, Any]] = [*zip(self.arrays(), other.arrays(), strict=True), (self.genes, other.genes)]
        return all(np.array_equal(a, b) for a, b in pairs)


def _with_capacity(cap: int, pre: I32, post: I32, wf: F64, ws: F64, wm: F64, silent: B, modul: B,
                   genes: F64) -> Genome:
    n = pre.shape[0]
    out = Genome(np.zeros(cap, np.int32), np.zeros(cap, np.int32), np.zeros(cap), np.zeros(cap), np.zeros(cap),
                 np.zeros(cap, np.bool_), np.zeros(cap, np.bool_), n, np.asarray(genes, dtype=np.float64).copy())
    for dst, src in ((out.pre, pre), (out.post, post), (out.wf, wf), (out.ws, ws), (out.wm, wm),
                     (out.silent, silent), (out.modul, modul)):
        dst[:n] = src
    return out


@dataclass(frozen=True)
class PreparedTask:
    """Everything derived from a task alone, computed once and shared read-only by all threads."""

    spec: TaskSpec
    task_id: bytes
    env: npt.NDArray[np.int64]
    agent: F64
    params: F64  # kernel parameter vector without the genes
    base: F64
    limits: F64
    gene_ranges: F64
    fw: npt.NDArray[np.int64]
    terrains: npt.NDArray[np.uint8]
    foods: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int32]
    life_rngs: npt.NDArray[np.uint64]

    @property
    def n_neurons(self) -> int:
        return F.N_SENSORS + self.spec.network.hidden + F.N_MOTORS

    def kernel_params(self, genes: F64) -> F64:
        P: F64 = WK.genes_to_params(self.params, genes)
        return P

    def network_parameters(self, genes: F64) -> NetworkParameters:
        n = self.spec.network
        return NetworkParameters(
            network_name=f"{self.spec.name} {self.task_id.hex()[:16]}",
            num_input_neurons=F.N_SENSORS, num_hidden_neurons=n.hidden, num_output_neurons=F.N_MOTORS,
            connection_probability=n.connection_probability, membrane_time_constant=float(genes[G.G_TAU_M]),
            firing_threshold_excitatory=float(genes[G.G_TH_EXC]),
            firing_threshold_inhibitory=float(genes[G.G_TH_INH]),
            spontaneous_firing_rate=n.spontaneous_firing_rate, neuron_health_decay=n.neuron_health_decay,
            tau_fast=float(genes[G.G_TAU_FAST]), w_fast_init_min=n.w_fast_init[0], w_fast_init_max=n.w_fast_init[1],
            tau_slow=float(genes[G.G_TAU_SLOW]), w_slow_init_min=n.w_slow_init[0], w_slow_init_max=n.w_slow_init[1],
            tau_meta=n.tau_meta, w_meta_init_min=n.w_meta_init[0], w_meta_init_max=n.w_meta_init[1],
            learning_rate=float(genes[G.G_LR]), stdp_window=n.stdp_window,
            synapse_integrity_threshold=n.synapse_integrity_threshold,
            synapse_formation_prob=n.synapse_formation_prob, synapse_death_prob=n.synapse_death_prob,
            neuron_death_threshold=n.neuron_death_threshold, dopamine_baseline=n.dopamine_baseline,
            serotonin_baseline=n.serotonin_baseline, acetylcholine_baseline=n.acetylcholine_baseline,
            norepinephrine_baseline=n.norepinephrine_baseline, neuromod_decay_rate=n.neuromod_decay_rate,
            dt=1.0, simulation_steps=self.spec.lifetime_ticks * self.spec.steps_per_tick,
        )


def world_seeds(spec: TaskSpecBase, index: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """(world-generation RNG, lifetime RNG) of world ``index``: K12(seed ‖ "world"|"life" ‖ u32le)."""
    i = index.to_bytes(4, "little")
    return (state_from_bytes(k12(spec.seed_bytes, b"world", i)),
            state_from_bytes(k12(spec.seed_bytes, b"life", i)))


def build_worlds(spec: TaskSpecBase, indices: list[int]) -> tuple[Any, Any, Any, Any]:
    env = spec.environment
    terrains, foods, starts, lifes = [], [], [], []
    for idx in indices:
        wrng, lrng = world_seeds(spec, idx)
        terrain, food, start = F.generate_world(wrng, env.width, env.height, env.rock_permille,
                                                env.smoothing_passes, env.food_sources)
        terrains.append(terrain)
        foods.append(food)
        starts.append(start)
        lifes.append(lrng)
    return (np.stack(terrains), np.stack(foods).reshape(len(indices), env.food_sources, 2),
            np.stack(starts), np.stack(lifes))


@dataclass(frozen=True)
class TaskVectors:
    """The kernel vectors a task's sections give whatever its model: ``env`` int64[N_ENV], ``agent``
    float64[N_AGENT], ``limits`` float64[N_LIMITS] (gene bounds, init ranges, sigmas), ``fw``
    int64[N_FW] (fitness and criticality weights)."""

    env: npt.NDArray[np.int64]
    agent: F64
    limits: F64
    fw: npt.NDArray[np.int64]


def task_vectors(spec: TaskSpecBase, gene_bounds: tuple[tuple[float, float], ...]) -> TaskVectors:
    """The :class:`TaskVectors` of ``spec`` with ``gene_bounds`` (the model's, per gene)."""
    env, net, pl = spec.environment, spec.network, spec.plasticity  # type: ignore[attr-defined]
    env_vec = np.zeros(F.N_ENV, dtype=np.int64)
    env_vec[F.E_FOOD_UNITS] = env.food_units
    env_vec[F.E_RESPAWN] = env.respawn_ticks
    env_vec[F.E_ENERGY_START] = env.energy_start
    env_vec[F.E_ENERGY_MAX] = env.energy_max
    env_vec[F.E_ENERGY_FOOD] = env.energy_per_food
    env_vec[F.E_METABOLISM] = env.metabolism
    env_vec[F.E_COLLISION_COST] = env.collision_cost
    env_vec[F.E_SENSE_RADIUS] = env.sense_radius
    env_vec[F.E_BLOCKED_WINDOW] = env.blocked_window
    env_vec[F.E_BLOCKED_HITS] = env.blocked_hits
    env_vec[F.E_CLEAR_STREAK] = env.clear_streak
    agent = np.array([pl.arousal_per_collision, pl.meta_decay, pl.reward_dopamine, pl.meta_gain])
    limits = np.zeros(G.N_LIMITS)
    for j, (lo, hi) in enumerate(gene_bounds):
        limits[G.L_GENE_LO + j] = lo
        limits[G.L_GENE_HI + j] = hi
    limits[G.L_WF_MIN:G.L_WF_MIN + 6] = [*net.w_fast_init, *net.w_slow_init, *net.w_meta_init]
    limits[G.L_SIGMA_W] = spec.walk.weight_sigma
    limits[G.L_SIGMA_P] = spec.walk.gene_sigma
    fit, crit = spec.fitness, spec.criticality
    fw = np.zeros(WK.N_FW, dtype=np.int64)
    fw[WK.FW_FOOD], fw[WK.FW_EXPLORE], fw[WK.FW_SURVIVE], fw[WK.FW_COLLISION] = (
        fit.food, fit.explore, fit.survive, fit.collision)
    fw[WK.FW_BR_WEIGHT], (fw[WK.FW_BR_LO], fw[WK.FW_BR_HI]), fw[WK.FW_BR_WIDTH] = (
        crit.branching_weight, crit.branching_band, crit.branching_width)
    fw[WK.FW_ACT_WEIGHT], (fw[WK.FW_ACT_LO], fw[WK.FW_ACT_HI]), fw[WK.FW_ACT_WIDTH] = (
        crit.activity_weight, crit.activity_band, crit.activity_width)
    return TaskVectors(env_vec, agent, limits, fw)


@lru_cache(maxsize=16)
def _prepare(canonical: bytes) -> PreparedTask:
    spec = TaskSpec.from_dict(json.loads(canonical))
    net, pl = spec.network, spec.plasticity
    vec = task_vectors(spec, G.GENE_BOUNDS)
    gene_ranges = np.array([net.threshold_exc, net.threshold_inh, net.tau_m, net.tau_fast, net.tau_slow,
                            net.learning_rate])
    terrains, foods, starts, lifes = build_worlds(spec, list(range(spec.worlds)))
    prep = PreparedTask(spec, spec.task_id, vec.env, vec.agent, np.zeros(K.N_PARAMS), np.zeros(4), vec.limits,
                        gene_ranges, vec.fw, terrains, foods, starts, lifes)
    params = prep.network_parameters(gene_ranges[:, 0])
    P = params.vector()
    P[K.P_META_GAIN] = pl.meta_gain
    P[K.P_CONSOLIDATION] = pl.consolidation
    P[K.P_TRACES] = 1.0 if pl.traces else 0.0
    prep.params[:] = P
    prep.base[:] = params.baselines()
    for arr in (prep.params, prep.base, prep.limits, prep.gene_ranges, prep.fw, prep.terrains, prep.foods, prep.starts,
                prep.life_rngs, prep.env, prep.agent):
        arr.setflags(write=False)
    return prep


def prepare(task: TaskSpec | dict[str, Any] | None = None) -> PreparedTask:
    """The prepared form of ``task`` (default task if None), cached per distinct task."""
    spec = DEFAULT_TASK if task is None else task if isinstance(task, TaskSpec) else TaskSpec.from_dict(task)
    return _prepare(spec.canonical_json())


def root_genome(prep: PreparedTask, pk: bytes) -> Genome:
    """The identity's root network for this task, from K12(public key ‖ task id)."""
    rng = state_from_bytes(k12(pk, prep.task_id))
    net = prep.spec.network
    parts = G.draw_root(F.N_SENSORS, net.hidden, F.N_MOTORS, net.connection_probability, net.max_synapses,
                        prep.gene_ranges, prep.limits, rng)
    return _with_capacity(net.max_synapses, *parts)


# ------------------------------------------------------------------------------------------ fitness
def world_fitness(prep: PreparedTask, stats: npt.NDArray[np.int64]) -> int:
    """Integer fitness of one lifetime from its statistics (docs §7)."""
    return int(WK.world_fitness(stats, prep.fw))


def aggregate(values: list[int]) -> int:
    """Median of the worlds' fitness (lower median for an even count), floored at 0."""
    ordered = sorted(values)
    return max(0, ordered[(len(ordered) - 1) // 2])


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="score")
        return _pools[threads]


def lifetime_stats(prep: PreparedTask, genome: Genome, worlds: tuple[Any, Any, Any, Any] | None = None,
                   threads: int = 1) -> npt.NDArray[np.int64]:
    """Lifetime statistics int64[W, N_STATS] of ``genome`` in each world (the task's by default)."""
    terrains, foods, starts, lifes = worlds if worlds is not None else (
        prep.terrains, prep.foods, prep.starts, prep.life_rngs)
    W = terrains.shape[0]
    stats = np.zeros((W, F.N_STATS), dtype=np.int64)
    P = prep.kernel_params(genome.genes)
    spec = prep.spec
    args = (*genome.arrays(), spec.network.hidden, P, prep.base, spec.lifetime_ticks, spec.steps_per_tick)
    if threads <= 1 or W == 1:
        F.live_many(terrains, foods, starts, lifes, prep.env, prep.agent, *args, np.arange(W), stats)
        return stats
    chunks = [np.arange(W)[i::threads] for i in range(min(threads, W))]
    outs = [np.zeros((len(c), F.N_STATS), dtype=np.int64) for c in chunks]
    pool = _pool(threads)
    futures = [pool.submit(_live_chunk, terrains, foods, starts, lifes, prep, args, c, o)
               for c, o in zip(chunks, outs, strict=True)]
    for fut in futures:
        fut.result()
    for c, o in zip(chunks, outs, strict=True):
        stats[c] = o
    return stats


def _live_chunk(terrains: Any, foods: Any, starts: Any, lifes: Any, prep: PreparedTask, args: tuple[Any, ...],
                worlds: npt.NDArray[np.int64], out: npt.NDArray[np.int64]) -> None:
    F.live_many(terrains, foods, starts, lifes, prep.env, prep.agent, *args, worlds, out)


def evaluate(prep: PreparedTask, genome: Genome, threads: int = 1) -> int:
    """The genome's task fitness: median over the task's worlds of each lifetime's fitness."""
    if threads <= 1:
        spec = prep.spec
        stats = np.zeros((spec.worlds, F.N_STATS), dtype=np.int64)
        return int(WK.fitness(prep.terrains, prep.foods, prep.starts, prep.life_rngs, prep.env, prep.agent,
                              genome.pre, genome.post, genome.wf, genome.ws, genome.wm, genome.silent,
                              genome.modul, genome.n_syn, genome.genes, spec.network.hidden, prep.params,
                              prep.base, spec.lifetime_ticks, spec.steps_per_tick, prep.fw, stats))
    stats = lifetime_stats(prep, genome, threads=threads)
    return aggregate([world_fitness(prep, row) for row in stats])


# ------------------------------------------------------------------------------------------ walk
@dataclass
class WalkResult:
    score: int
    genome: Genome
    start_score: int
    accepted: int


def walk(prep: PreparedTask, start: Genome, rng: npt.NDArray[np.uint64], threads: int = 1,
         start_score: int | None = None) -> WalkResult:
    """S steps of L mutations from ``start``; a step is kept unless fitness drops (docs §6).

    With one thread the whole walk runs in one nogil kernel; with more, each step's worlds are
    split over threads. Both give the same result.
    """
    spec = prep.spec
    genome = start.copy()
    if threads <= 1:
        score_, genome.n_syn, accepted_, first_ = WK.walk(
            prep.terrains, prep.foods, prep.starts, prep.life_rngs, prep.env, prep.agent, genome.pre, genome.post,
            genome.wf, genome.ws, genome.wm, genome.silent, genome.modul, genome.n_syn, genome.genes,
            spec.network.hidden, prep.params, prep.base, spec.lifetime_ticks, spec.steps_per_tick, prep.fw,
            prep.limits, spec.network.max_synapses, spec.walk.steps, spec.walk.mutations, rng,
            -1 if start_score is None else start_score)
        return WalkResult(int(score_), genome, int(first_), int(accepted_))
    current = evaluate(prep, genome, threads) if start_score is None else start_score
    first = current
    accepted = 0
    trial = genome.copy()
    N = prep.n_neurons
    branch = np.zeros(spec.network.max_synapses, dtype=np.int32)  # v1 has no dendritic branches
    for _ in range(spec.walk.steps):
        _copy_into(trial, genome)
        for _ in range(spec.walk.mutations):
            trial.n_syn = G.mutate(trial.pre, trial.post, branch, trial.wf, trial.ws, trial.wm, trial.silent,
                                   trial.modul, trial.n_syn, trial.genes, N, F.N_SENSORS, F.N_MOTORS, 1,
                                   spec.network.max_synapses, prep.limits, rng)
        fit = evaluate(prep, trial, threads)
        if fit >= current:
            genome, trial = trial, genome
            current = fit
            accepted += 1
    return WalkResult(current, genome, first, accepted)


def _copy_into(dst: Genome, src: Genome) -> None:
    n = src.n_syn
    for d, s in ((dst.pre, src.pre), (dst.post, src.post), (dst.wf, src.wf), (dst.ws, src.ws), (dst.wm, src.wm),
                 (dst.silent, src.silent), (dst.modul, src.modul)):
        d[:n] = s[:n]
    dst.n_syn = n
    dst.genes[:] = src.genes


# ------------------------------------------------------------------------------------------ networks
def export_network(prep: PreparedTask, genome: Genome) -> dict[str, Any]:
    """The genome as a reference ``save_network`` JSON object (the network at birth)."""
    params = prep.network_parameters(genome.genes)
    pre, post, wf, ws, wm, silent, modul = genome.arrays()
    S = genome.n_syn
    N = prep.n_neurons
    stype = np.array([K.synapse_label(silent[k], modul[k], wf[k], ws[k]) for k in range(S)], dtype=np.int8)
    ntype = np.array([K.INPUT] * F.N_SENSORS + [K.HIDDEN] * prep.spec.network.hidden + [K.OUTPUT] * F.N_MOTORS,
                     dtype=np.int8)
    parsed = ParsedNetwork(params, np.zeros(N), np.zeros(N, np.int8), np.zeros(N), np.zeros(N), np.ones(N),
                           np.ones(N, np.bool_), ntype, pre, post, wf, ws, wm, silent, modul, np.ones(S),
                           np.zeros(S), np.zeros(S), stype, params.baselines(), 0.0, 0)
    return emit_network(parsed, "save_network")


_GENE_PARAMS = ("firing_threshold_excitatory", "firing_threshold_inhibitory", "membrane_time_constant",
                "tau_fast", "tau_slow", "learning_rate")


def genome_from_network(prep: PreparedTask, network: dict[str, Any]) -> Genome:
    """A parent network (reference JSON) as a genome of this task; :class:`ParentError` if it does
    not belong to the task (shape, fixed dynamics, gene bounds, synapse cap). State is ignored:
    a network is always evaluated from birth."""
    try:
        parsed = parse_network(network)
    except NetworkFormatError as exc:
        raise ParentError(f"parent network: {exc}") from None
    expected = prep.network_parameters(np.array([float(getattr(parsed.params, p)) for p in _GENE_PARAMS]))
    for name, want in expected.to_dict().items():
        if name in _GENE_PARAMS or name in ("network_name", "simulation_steps"):
            continue
        if getattr(parsed.params, name) != want:
            raise ParentError(f"parent network: parameters.{name} is {getattr(parsed.params, name)!r}, "
                              f"the task needs {want!r}")
    genes = np.array([float(getattr(parsed.params, p)) for p in _GENE_PARAMS])
    for j, (lo, hi) in enumerate(G.GENE_BOUNDS):
        if not lo <= genes[j] <= hi:
            raise ParentError(f"parent network: parameters.{_GENE_PARAMS[j]} {genes[j]} outside [{lo}, {hi}]")
    if parsed.pre.shape[0] > prep.spec.network.max_synapses:
        raise ParentError(f"parent network: {parsed.pre.shape[0]} synapses exceed the task's max_synapses "
                          f"{prep.spec.network.max_synapses}")
    for k in range(parsed.pre.shape[0]):
        for what, w, bound in (("w_fast", parsed.wf[k], 1.0), ("w_slow", parsed.ws[k], 1.0),
                               ("w_meta", parsed.wm[k], 0.5)):
            if abs(w) > bound:
                raise ParentError(f"parent network: synapses[{k}].{what} {w} outside [-{bound}, {bound}]")
    return _with_capacity(prep.spec.network.max_synapses, parsed.pre, parsed.post, parsed.wf, parsed.ws,
                          parsed.wm, parsed.silent, parsed.modul, genes)


class RootCache(Generic[T]):
    """Each identity's start (its root network and that network's fitness), made once; the last
    ``kept`` identities are kept. Thread-safe (two threads may both make a missing root; either
    result is the same)."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._roots: OrderedDict[bytes, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pk: bytes, make: Callable[[bytes], T]) -> T:
        with self._lock:
            found = self._roots.get(pk)
            if found is not None:
                self._roots.move_to_end(pk)
                return found
        made = make(pk)
        with self._lock:
            self._roots[pk] = made
            while len(self._roots) > self.kept:
                self._roots.popitem(last=False)
        return made


class Walks:
    """The walks of one (task, parent): the task prepared once, and where each walk starts.

    With a parent, every walk starts from the parent network, whose claimed score is checked once
    here (:class:`ParentError` when it is not the network's real fitness, or the network does not
    belong to the task). Without one, a walk starts from the identity's root network; its fitness
    is computed once per identity (the last :data:`ROOTS_KEPT` are kept) and handed to the walk
    kernel, which would otherwise evaluate the start itself — the same integer either way.
    Thread-safe; start genomes are shared read-only (a walk copies its start).
    """

    ROOTS_KEPT = 64

    def __init__(self, prep: PreparedTask, parent: Parent | None = None) -> None:
        self.prep = prep
        self.parent = parent
        self._parent_start: tuple[Genome, int] | None = None
        if parent is not None:
            genome = genome_from_network(prep, parent.network)
            actual = evaluate(prep, genome)
            if actual != parent.score:
                raise ParentError(f"parent network scores {actual}, not the claimed {parent.score}")
            self._parent_start = (genome, actual)
        self._roots: RootCache[tuple[Genome, int]] = RootCache(self.ROOTS_KEPT)

    def start(self, pk: bytes) -> tuple[Genome, int]:
        """The start genome of ``pk``'s walks and its fitness."""
        if self._parent_start is not None:
            return self._parent_start
        return self._roots.get(pk, self._root)

    def _root(self, pk: bytes) -> tuple[Genome, int]:
        genome = root_genome(self.prep, pk)
        return genome, evaluate(self.prep, genome)

    def run(self, pk: bytes, nonce: bytes, threads: int = 1) -> WalkResult:
        """The walk of (``pk``, ``nonce``): its score and best network."""
        genome, start_score = self.start(pk)
        return walk(self.prep, genome, self.walk_rng(pk, nonce), threads, start_score)

    def walk_rng(self, pk: bytes, nonce: bytes) -> npt.NDArray[np.uint64]:
        """The RNG state uint64[4] of the walk of (``pk``, ``nonce``): K12(public key ‖ task id ‖ nonce)."""
        return state_from_bytes(k12(pk, self.prep.task_id, nonce))


def run_walk(task: TaskSpec | dict[str, Any] | None, identity: str | bytes, nonce: str | bytes, *,
             parent: Parent | None = None, threads: int = 1) -> WalkResult:
    """The full walk for (task, identity, nonce): its score and best network."""
    pk, raw_nonce = public_key(identity), nonce_bytes(nonce)
    return Walks(prepare(task), parent).run(pk, raw_nonce, threads)


def score(task: TaskSpec | dict[str, Any] | None, identity: str | bytes, nonce: str | bytes, *,
          parent: Parent | None = None, threads: int = 1) -> int:
    """The integer score of (task, identity, nonce) — with a parent, of the walk from the parent.

    Raises :class:`ParentError` if the parent does not belong to the task or its claimed score is
    not its real fitness.
    """
    return run_walk(task, identity, nonce, parent=parent, threads=threads).score


def verify(task: TaskSpec | dict[str, Any] | None, identity: str | bytes, nonce: str | bytes, claimed: int, *,
           parent: Parent | None = None, threads: int = 1) -> bool:
    """True iff ``claimed`` is the recomputed score (and the parent, if any, is genuine)."""
    try:
        return score(task, identity, nonce, parent=parent, threads=threads) == claimed
    except ParentError:
        return False
