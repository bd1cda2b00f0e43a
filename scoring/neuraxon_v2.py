"""Scoring of the Neuraxon task with a v2 brain (algo 0, ``"model": "v2"``; docs/neuraxon-task.md §10).

The same walk as :mod:`scoring.neuraxon` — root network K12(public key ‖ task id), the mutation walk
seeded by K12(public key ‖ task id ‖ nonce), the integer median fitness over the task's worlds — with
a Neuraxon v2.0 network (:mod:`engine.neuraxon_v2`) as the brain. What differs:

* the root network is upstream's constructor (Watts–Strogatz graph, dendritic branches, oscillator
  phases) run on ``random.Random(K12(public key ‖ task id))`` after the six genes are drawn from it
  (``uniform`` in each gene's initial range, in gene order); its synapse list is cut to
  ``max_synapses``;
* each lifetime draws from ``random.Random(K12(seed ‖ "life" ‖ u32le world index))`` (v2's
  stochastic parts follow CPython's generator);
* gene 2 is the DSN bias (:data:`engine.neuraxon_genome.GENE_BOUNDS_V2`); an added synapse lands on
  a random dendritic branch.

:class:`WalksV2` is the one place that computes a v2 score (the registry entry
:mod:`scoring.algorithms.neuraxon_v2` calls it). The walk runs in one nogil kernel
(:func:`engine.neuraxon_v2_walk.walk`); ``threads`` is accepted for the registry's signature and
does not change the integer.
"""

from __future__ import annotations

import json
import random as _pyrandom
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import foraging as F
from engine import neuraxon_genome as G
from engine import neuraxon_v2_layout as L
from engine import neuraxon_v2_walk as WK2
from engine.cpython_random import seed_state, state_from_python
from engine.neuraxon_v2 import NetworkV2
from engine.neuraxon_v2_params import NetworkParametersV2
from engine.rng import state_from_bytes
from scoring import neuraxon as NX
from scoring.ids import k12
from scoring.neuraxon_task import DEFAULT_TASK_V2, TaskSpecV2

__all__ = ["GenomeV2", "PreparedTaskV2", "WalkResultV2", "WalksV2", "evaluate", "prepare", "root_genome",
           "task_parameters"]

I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass
class GenomeV2:
    """A v2 network at birth: synapses in list order (capacity ``max_synapses``), six genes and the
    oscillator phases float64[bands]."""

    pre: I32
    post: I32
    branch: I32
    wf: F64
    ws: F64
    wm: F64
    silent: B
    modul: B
    n_syn: int
    genes: F64
    phases: F64

    def copy(self) -> GenomeV2:
        return GenomeV2(self.pre.copy(), self.post.copy(), self.branch.copy(), self.wf.copy(), self.ws.copy(),
                        self.wm.copy(), self.silent.copy(), self.modul.copy(), self.n_syn, self.genes.copy(),
                        self.phases.copy())

    def kernel_args(self) -> tuple[Any, ...]:
        """(pre, post, branch, wf, ws, wm, silent, modul, n_syn, genes, phases): the walk kernels' genome."""
        return (self.pre, self.post, self.branch, self.wf, self.ws, self.wm, self.silent, self.modul, self.n_syn,
                self.genes, self.phases)


def task_parameters(spec: TaskSpecV2, genes: F64) -> NetworkParametersV2:
    """The v2 network parameters of a genome of ``spec`` (6 sensors, hidden, 2 motors)."""
    n = spec.network
    return NetworkParametersV2(
        network_name=f"{spec.name} {spec.task_id.hex()[:16]}",
        num_input_neurons=F.N_SENSORS, num_hidden_neurons=n.hidden, num_output_neurons=F.N_MOTORS,
        num_dendritic_branches=n.dendritic_branches, ws_k=n.ws_k, ws_beta=n.ws_beta,
        firing_threshold_excitatory=float(genes[G.G_TH_EXC]), firing_threshold_inhibitory=float(genes[G.G_TH_INH]),
        dsn_bias=float(genes[G.G_DSN_BIAS]), tau_fast=float(genes[G.G_TAU_FAST]),
        tau_slow=float(genes[G.G_TAU_SLOW]), learning_rate=float(genes[G.G_LR]),
        w_fast_init_min=n.w_fast_init[0], w_fast_init_max=n.w_fast_init[1],
        w_slow_init_min=n.w_slow_init[0], w_slow_init_max=n.w_slow_init[1],
        w_meta_init_min=n.w_meta_init[0], w_meta_init_max=n.w_meta_init[1],
        spontaneous_firing_rate=n.spontaneous_firing_rate, synapse_formation_prob=n.synapse_formation_prob,
        synapse_death_prob=n.synapse_death_prob, synapse_integrity_threshold=n.synapse_integrity_threshold,
        neuron_health_decay=n.neuron_health_decay, neuron_death_threshold=n.neuron_death_threshold,
        dopamine_baseline=n.dopamine_baseline, serotonin_baseline=n.serotonin_baseline,
        acetylcholine_baseline=n.acetylcholine_baseline, norepinephrine_baseline=n.norepinephrine_baseline,
        dsn_enabled=n.dsn_enabled, ctsn_enabled=n.ctsn_enabled, chrono_enabled=n.chrono_enabled,
        agmp_enabled=n.agmp_enabled, simulation_steps=spec.lifetime_ticks * spec.steps_per_tick)


@dataclass(frozen=True)
class PreparedTaskV2:
    """Everything derived from a v2 task alone, computed once and shared read-only by all threads.

    ``tpl`` is the birth template of :mod:`engine.neuraxon_v2_walk`; ``life_mt`` uint32[W, 626] and
    ``life_gauss`` float64[W, 1] the lifetimes' generators; the rest as
    :class:`scoring.neuraxon.PreparedTask`.
    """

    spec: TaskSpecV2
    task_id: bytes
    env: npt.NDArray[np.int64]
    agent: F64
    params: F64  # v2 kernel parameter vector; the genes' entries are set per genome
    limits: F64
    gene_ranges: F64
    fw: npt.NDArray[np.int64]
    terrains: npt.NDArray[np.uint8]
    foods: npt.NDArray[np.int32]
    starts: npt.NDArray[np.int32]
    life_mt: npt.NDArray[np.uint32]
    life_gauss: F64
    tpl: tuple[Any, ...]

    @property
    def n_neurons(self) -> int:
        return F.N_SENSORS + self.spec.network.hidden + F.N_MOTORS

    def walk_args(self) -> tuple[Any, ...]:
        """The leading arguments of the walk kernels: (terrains, foods, starts, life_mt, life_gauss, env,
        agent, tpl)."""
        return (self.terrains, self.foods, self.starts, self.life_mt, self.life_gauss, self.env, self.agent,
                self.tpl)


def _life_generators(spec: TaskSpecV2) -> tuple[npt.NDArray[np.uint32], F64]:
    mts, caches = [], []
    for i in range(spec.worlds):
        mt, cache = seed_state(k12(spec.seed_bytes, b"life", i.to_bytes(4, "little")))
        mts.append(mt)
        caches.append(cache)
    return np.stack(mts), np.stack(caches)


@lru_cache(maxsize=16)
def _prepare(canonical: bytes) -> PreparedTaskV2:
    spec = TaskSpecV2.from_dict(json.loads(canonical))
    net = spec.network
    base = NX.task_vectors(spec, G.GENE_BOUNDS_V2)
    gene_ranges = np.array([net.threshold_exc, net.threshold_inh, net.dsn_bias, net.tau_fast, net.tau_slow,
                            net.learning_rate])
    params = task_parameters(spec, gene_ranges[:, 0])
    template = NetworkV2.build(params, rng=0)
    tpl = (template.nf, template.ni, template.dbuf, template.dkern, template.bpot, template.gs, template.rp,
           template.osc, template.oband)
    terrains, foods, starts, _ = NX.build_worlds(spec, list(range(spec.worlds)))
    life_mt, life_gauss = _life_generators(spec)
    prep = PreparedTaskV2(spec, spec.task_id, base.env, base.agent, params.vector(), base.limits, gene_ranges,
                          base.fw, terrains, foods, starts, life_mt, life_gauss, tpl)
    for arr in (prep.params, prep.limits, prep.gene_ranges, prep.fw, prep.terrains, prep.foods, prep.starts,
                prep.life_mt, prep.life_gauss, prep.env, prep.agent, *tpl):
        arr.setflags(write=False)
    return prep


def prepare(task: TaskSpecV2 | dict[str, Any] | None = None) -> PreparedTaskV2:
    """The prepared form of ``task`` (the default v2 task if None), cached per distinct task."""
    spec = DEFAULT_TASK_V2 if task is None else task if isinstance(task, TaskSpecV2) else TaskSpecV2.from_dict(task)
    return _prepare(spec.canonical_json())


def root_genome(prep: PreparedTaskV2, pk: bytes) -> GenomeV2:
    """The identity's root v2 network: genes, then upstream's constructor, on one generator seeded
    with K12(public key ‖ task id)."""
    rng = _pyrandom.Random(k12(pk, prep.task_id))
    genes = np.array([rng.uniform(lo, hi) for lo, hi in prep.gene_ranges])
    net = NetworkV2.build(task_parameters(prep.spec, genes), rng=state_from_python(rng))
    syn = net.synapses()
    cap = prep.spec.network.max_synapses
    n = min(net.n_synapses, cap)
    out = GenomeV2(np.zeros(cap, np.int32), np.zeros(cap, np.int32), np.zeros(cap, np.int32), np.zeros(cap),
                   np.zeros(cap), np.zeros(cap), np.zeros(cap, np.bool_), np.zeros(cap, np.bool_), n, genes,
                   net.osc[L.OSC_PHASE].copy())
    for dst, name in ((out.pre, "pre"), (out.post, "post"), (out.branch, "branch"), (out.wf, "w_fast"),
                      (out.ws, "w_slow"), (out.wm, "w_meta"), (out.silent, "silent"), (out.modul, "modulatory")):
        dst[:n] = syn[name][:n]
    return out


def evaluate(prep: PreparedTaskV2, genome: GenomeV2) -> int:
    """The genome's task fitness: median over the task's worlds of each lifetime's fitness."""
    spec = prep.spec
    stats = np.zeros((spec.worlds, F.N_STATS), dtype=np.int64)
    return int(WK2.fitness(*prep.walk_args(), *genome.kernel_args(), spec.network.dendritic_branches, prep.params,
                           spec.lifetime_ticks, spec.steps_per_tick, prep.fw, stats))


def lifetime_stats(prep: PreparedTaskV2, genome: GenomeV2) -> npt.NDArray[np.int64]:
    """Lifetime statistics int64[W, N_STATS] of ``genome`` in each of the task's worlds."""
    spec = prep.spec
    stats = np.zeros((spec.worlds, F.N_STATS), dtype=np.int64)
    WK2.live_many(*prep.walk_args(), *genome.kernel_args(), spec.network.dendritic_branches, prep.params,
                  spec.lifetime_ticks, spec.steps_per_tick, np.arange(spec.worlds), stats)
    return stats


@dataclass
class WalkResultV2:
    score: int
    genome: GenomeV2
    start_score: int
    accepted: int


class WalksV2:
    """The walks of one v2 task: the task prepared once, each identity's root network and its
    fitness computed once (the last :data:`ROOTS_KEPT`). Thread-safe."""

    ROOTS_KEPT = 64

    def __init__(self, prep: PreparedTaskV2) -> None:
        self.prep = prep
        self._roots: NX.RootCache[tuple[GenomeV2, int]] = NX.RootCache(self.ROOTS_KEPT)

    def start(self, pk: bytes) -> tuple[GenomeV2, int]:
        """The root genome of ``pk`` and its fitness."""
        return self._roots.get(pk, self._root)

    def _root(self, pk: bytes) -> tuple[GenomeV2, int]:
        genome = root_genome(self.prep, pk)
        return genome, evaluate(self.prep, genome)

    def run(self, pk: bytes, nonce: bytes) -> WalkResultV2:
        """The walk of (``pk``, ``nonce``): its score and best network."""
        start, start_score = self.start(pk)
        genome = start.copy()
        spec = self.prep.spec
        rng = state_from_bytes(k12(pk, self.prep.task_id, nonce))
        score, n_syn, accepted, first = WK2.walk(
            *self.prep.walk_args(), *genome.kernel_args(), spec.network.dendritic_branches, self.prep.params,
            spec.lifetime_ticks, spec.steps_per_tick, self.prep.fw, self.prep.limits, spec.network.max_synapses,
            spec.walk.steps, spec.walk.mutations, rng, start_score)
        genome.n_syn = int(n_syn)
        return WalkResultV2(int(score), genome, int(first), int(accepted))
