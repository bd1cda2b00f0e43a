"""A Neuraxon v2 brain in the foraging world: birth from a genome, a lifetime, fitness and the whole
training walk, in nogil kernels (docs/neuraxon-task.md §10).

The world is :mod:`engine.foraging`'s (the same kernels the v1 lifetime calls); the brain is
:func:`engine.neuraxon_v2_kernels.step` on the arrays of :mod:`engine.neuraxon_v2_layout`; the
walk's mutation is :func:`engine.neuraxon_genome.mutate` and its fitness the v1 task's integer
median (:func:`engine.neuraxon_walk.median_fitness`).

A v2 genome is a network at birth: synapses in list order (``pre``/``post``/``branch`` int32,
``wf``/``ws``/``wm`` float64, ``silent``/``modul`` bool), the six genes ``genes`` float64[6]
(θ_exc, θ_inh, DSN bias, τ_fast, τ_slow, η; :data:`engine.neuraxon_genome.GENE_BOUNDS_V2`) and the
oscillator phases ``phases`` float64[5] (bands in upstream's order). Everything else a network
has at birth is the same for every network of a task: the *template* ``tpl``, a tuple
``(nf, ni, dbuf, dkern, bpot, gs, rp, osc, oband)`` of the layout's neuron, global, receptor and
oscillator arrays (the oscillator phases row is overwritten from the genome), built once by the
scorer from a fresh :class:`~engine.neuraxon_v2.NetworkV2` and never written here.

Each lifetime draws from its own CPython-compatible generator (``mt`` uint32[626], ``gauss``
float64[1], :mod:`engine.cpython_random`), copied from the world's, so a lifetime does not depend on
which worlds run together or in which thread.
"""

from __future__ import annotations

import numpy as np

from engine import foraging as F
from engine import neuraxon_genome as G
from engine import neuraxon_v2_kernels as K2
from engine import neuraxon_v2_layout as L
from engine import neuraxon_v2_structure as S
from engine import neuraxon_walk as WK
from engine._jit import njit
from engine.neuraxon_kernels import synapse_label

__all__ = ["birth_synapses", "fitness", "genes_to_params", "live", "live_many", "live_traced", "walk"]


@njit
def genes_to_params(P_base, genes):  # type: ignore[no-untyped-def]
    """The v2 kernel parameter vector of a genome: the task's ``P_base`` with the six genes set."""
    P = P_base.copy()
    P[L.P_TH_EXC] = genes[G.G_TH_EXC]
    P[L.P_TH_INH] = genes[G.G_TH_INH]
    P[L.P_DSN_BIAS] = genes[G.G_DSN_BIAS]
    P[L.P_TAU_FAST] = genes[G.G_TAU_FAST]
    P[L.P_TAU_SLOW] = genes[G.G_TAU_SLOW]
    P[L.P_LR] = genes[G.G_LR]
    return P


@njit
def birth_synapses(pre, post, branch, wf, ws, wm, silent, modul, n_syn, n_neurons, n_branches, cap):  # type: ignore[no-untyped-def]
    """The synapse arrays of a genome's network at birth, as :class:`~engine.neuraxon_v2.NetworkV2`
    builds them: sorted by (post, branch, list position), integrity 1, ω 0.5, traces 0, labels,
    ``branch_index`` ranked, per-post index current. ``cap`` >= ``n_syn`` is the room for formation.

    Returns (sf float64[SF, cap], si int32[SI, cap], lpos int64[cap], idx int64[2, N+1],
    perm int64[2, cap], gi int64[GI]).
    """
    keys = np.empty(n_syn, dtype=np.int64)
    for k in range(n_syn):
        keys[k] = (np.int64(post[k]) * n_branches + branch[k]) * n_syn + k  # unique: list position last
    order = np.argsort(keys)
    sf = np.zeros((L.SF, cap))
    si = np.zeros((L.SI, cap), dtype=np.int32)
    lpos = np.zeros(cap, dtype=np.int64)
    for j in range(n_syn):
        k = order[j]
        sf[L.SF_WF, j] = wf[k]
        sf[L.SF_WS, j] = ws[k]
        sf[L.SF_WM, j] = wm[k]
        sf[L.SF_INTEG, j] = 1.0
        sf[L.SF_OMEGA, j] = 0.5
        si[L.SI_PRE, j] = pre[k]
        si[L.SI_POST, j] = post[k]
        si[L.SI_BRANCH, j] = branch[k]
        si[L.SI_SILENT, j] = silent[k]
        si[L.SI_MODUL, j] = modul[k]
        si[L.SI_STYPE, j] = synapse_label(silent[k], modul[k], wf[k], ws[k])
        lpos[j] = k
    idx = np.zeros((2, n_neurons + 1), dtype=np.int64)
    perm = np.zeros((2, cap), dtype=np.int64)
    gi = np.zeros(L.GI, dtype=np.int64)
    gi[L.GI_NSYN] = n_syn
    gi[L.GI_NEXT_LPOS] = n_syn
    gi[L.GI_NMOD] = S.rebuild_index(si, lpos, n_syn, n_neurons, idx, perm)
    S.rank_branches(si, n_syn)
    return sf, si, lpos, idx, perm, gi


@njit
def live(terrain, food, start, env, agent, mt, gauss, tpl, birth, phases,  # type: ignore[no-untyped-def]
         P, ticks, steps_per_tick, stats):
    """One lifetime of a v2 network in one world; fills ``stats`` (int64[N_STATS]).

    ``birth`` is :func:`birth_synapses`' tuple (copied, never written); ``mt``/``gauss`` the
    lifetime's generator (consumed); ``P`` the genome's parameter vector (its ``P_LR`` entry is
    overwritten each tick by the meta signal's learning rate).
    """
    live_traced(terrain, food, start, env, agent, mt, gauss, tpl, birth, phases, P, ticks, steps_per_tick, stats,
                np.zeros((0, F.N_TRACE), dtype=np.int64), np.zeros((0, 0), dtype=np.int32))


@njit
def live_traced(terrain, food, start, env, agent, mt, gauss, tpl, birth, phases,  # type: ignore[no-untyped-def]
                P, ticks, steps_per_tick, stats, trace, food_trace):
    """:func:`live`, recording tick ``t`` into ``trace[t]`` and ``food_trace[t]`` while there is room
    (as :func:`engine.foraging.live_traced`)."""
    nf0, ni0, dbuf0, dkern0, bpot0, gs0, rp, osc0, oband = tpl
    b_sf, b_si, b_lpos, b_idx, b_perm, b_gi = birth
    nf = nf0.copy()
    ni = ni0.copy()
    dbuf = dbuf0.copy()
    dkern = dkern0.copy()
    bpot = bpot0.copy()
    gs = gs0.copy()
    osc = osc0.copy()
    osc[L.OSC_PHASE, :] = phases
    sf = b_sf.copy()
    si = b_si.copy()
    lpos = b_lpos.copy()
    idx = b_idx.copy()
    perm = b_perm.copy()
    gi = b_gi.copy()
    N = nf.shape[1]
    no_ext = np.zeros(0)
    counts = np.zeros(6, dtype=np.int64)
    th_exc = P[L.P_TH_EXC]
    lr = P[L.P_LR]

    units, respawn_at, visited, ring, world = F.world_begin(terrain, food, env, start, stats)
    mu = 0.0
    sensors = np.zeros(F.N_SENSORS, dtype=np.int8)
    prev_firing = -1
    for t in range(ticks):
        F.world_sense(terrain, food, env, units, respawn_at, ring, world, t, sensors)
        # 3. think: the meta signal scales the learning rate (exactly η when it is 0); the sensors
        # are set as upstream's set_input_states before every network step
        m = 1.0 + agent[F.A_META_GAIN] * mu
        P[L.P_LR] = lr * m if m != 1.0 else lr
        for _ in range(steps_per_tick):
            for i in range(F.N_SENSORS):
                v = sensors[i]
                ni[L.NI_PREV, i] = ni[L.NI_S, i]
                ni[L.NI_S, i] = v
                nf[L.NF_V, i] = v * th_exc
                nf[L.NF_ST, i] = nf[L.NF_V, i] + nf[L.NF_H, i]
            K2.step(P, nf, ni, dbuf, dkern, bpot, sf, si, lpos, idx, perm, gs, gi, rp, osc, oband, mt, gauss,
                    no_ext, counts)
            prev_firing = F.tally_step(stats, counts, prev_firing)
        # 4-6. act, eat, metabolism; a collision arouses, a meal is a phasic dopamine burst
        mx = ni[L.NI_S, N - 2]
        my = ni[L.NI_S, N - 1]
        collided, eaten = F.world_act(terrain, food, env, units, respawn_at, visited, ring, world, mx, my, t, stats)
        if collided:
            mu += agent[F.A_AROUSAL]
        if eaten >= 0:
            gs[L.G_PHASIC + L.DA] = min(2.0, gs[L.G_PHASIC + L.DA] + agent[F.A_REWARD_DA])
        # 7. meta decay, survival
        mu *= agent[F.A_META_DECAY]
        F.world_record(trace, food_trace, t, world, mx, my, collided, eaten, prev_firing, units, stats)
        if world[F.W_ENERGY] <= 0:
            break
    stats[F.S_FINAL_SYNAPSES] = gi[L.GI_NSYN]


@njit
def live_many(terrains, foods, starts, life_mt, life_gauss, env, agent, tpl,  # type: ignore[no-untyped-def]
              pre, post, branch, wf, ws, wm, silent, modul, n_syn, genes, phases, n_branches,
              P_base, ticks, steps_per_tick, worlds, stats):
    """:func:`live` of one genome in each world index of ``worlds`` (int64[k]); stats int64[k, N_STATS].

    The birth state is built once; each world gets copies of it, of its generator and of ``P``.
    """
    N = tpl[0].shape[1]
    P = genes_to_params(P_base, genes)
    cap = n_syn + (ticks * steps_per_tick if P[L.P_FORM_P] > 0.0 else 0) + 1  # formation: one per step at most
    birth = birth_synapses(pre, post, branch, wf, ws, wm, silent, modul, n_syn, N, n_branches, cap)
    for j in range(worlds.shape[0]):
        w = worlds[j]
        live(terrains[w], foods[w], starts[w], env, agent, life_mt[w].copy(), life_gauss[w].copy(), tpl, birth,
             phases, P.copy(), ticks, steps_per_tick, stats[j])


@njit
def fitness(terrains, foods, starts, life_mt, life_gauss, env, agent, tpl,  # type: ignore[no-untyped-def]
            pre, post, branch, wf, ws, wm, silent, modul, n_syn, genes, phases, n_branches,
            P_base, ticks, steps_per_tick, fw, stats):
    """The genome's task fitness: the lower median over all worlds, floored at 0 (docs §7)."""
    live_many(terrains, foods, starts, life_mt, life_gauss, env, agent, tpl, pre, post, branch, wf, ws, wm, silent,
              modul, n_syn, genes, phases, n_branches, P_base, ticks, steps_per_tick,
              np.arange(terrains.shape[0]), stats)
    return WK.median_fitness(stats, fw)


@njit
def walk(terrains, foods, starts, life_mt, life_gauss, env, agent, tpl,  # type: ignore[no-untyped-def]
         pre, post, branch, wf, ws, wm, silent, modul, n_syn, genes, phases, n_branches,
         P_base, ticks, steps_per_tick, fw, limits, max_syn, steps, mutations, rng, start_score):
    """The walk from the genome in the arrays (capacity ``max_syn``), which end as the final genome
    (docs §6; the phases are never mutated). ``start_score`` < 0 means "evaluate the start genome".
    Returns (score, n_syn, accepted, start)."""
    W = terrains.shape[0]
    stats = np.zeros((W, F.N_STATS), dtype=np.int64)
    N = tpl[0].shape[1]
    current = start_score
    if current < 0:
        current = fitness(terrains, foods, starts, life_mt, life_gauss, env, agent, tpl, pre, post, branch, wf, ws,
                          wm, silent, modul, n_syn, genes, phases, n_branches, P_base, ticks, steps_per_tick, fw,
                          stats)
    first = current
    genome = (pre, post, branch, wf, ws, wm, silent, modul, genes)
    trial = (pre.copy(), post.copy(), branch.copy(), wf.copy(), ws.copy(), wm.copy(), silent.copy(), modul.copy(),
             genes.copy())
    t_pre, t_post, t_branch, t_wf, t_ws, t_wm, t_silent, t_modul, t_genes = trial
    accepted = 0
    for _ in range(steps):
        t_n = G.propose(genome, trial, n_syn, N, F.N_SENSORS, F.N_MOTORS, n_branches, max_syn, mutations, limits, rng)
        f = fitness(terrains, foods, starts, life_mt, life_gauss, env, agent, tpl, t_pre, t_post, t_branch, t_wf,
                    t_ws, t_wm, t_silent, t_modul, t_n, t_genes, phases, n_branches, P_base, ticks, steps_per_tick,
                    fw, stats)
        if f >= current:
            current = f
            accepted += 1
            n_syn = t_n
            G.keep(trial, genome, n_syn)
    return current, n_syn, accepted, first
