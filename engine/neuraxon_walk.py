"""The whole training walk of the Neuraxon task in one nogil kernel (docs/neuraxon-task.md §6-7).

Running mutation, evaluation and acceptance inside numba keeps the GIL free for the entire
iteration, so worker threads scale across cores. ``scoring.neuraxon`` also has a Python-level
walk (used when one score is split over threads); both give the same integers.
"""

from __future__ import annotations

import numpy as np

from engine import foraging as F
from engine import neuraxon_genome as G
from engine import neuraxon_kernels as K
from engine._jit import njit

# Integer fitness weights (``fw`` int64[N_FW]).
FW_FOOD = 0
FW_EXPLORE = 1
FW_SURVIVE = 2
FW_COLLISION = 3
FW_BR_WEIGHT = 4
FW_BR_LO = 5
FW_BR_HI = 6
FW_BR_WIDTH = 7
FW_ACT_WEIGHT = 8
FW_ACT_LO = 9
FW_ACT_HI = 10
FW_ACT_WIDTH = 11
N_FW = 12


@njit(alloc=False)
def _band(x, lo, hi, width):  # type: ignore[no-untyped-def]
    dist = lo - x if x < lo else (x - hi if x > hi else 0)
    return 1000 * (width - dist) // width if dist < width else 0


@njit(alloc=False)
def world_fitness(stats, fw):  # type: ignore[no-untyped-def]
    """Integer fitness of one lifetime (docs §7)."""
    value = (fw[FW_FOOD] * stats[F.S_FOOD] + fw[FW_EXPLORE] * stats[F.S_EXPLORED]
             + fw[FW_SURVIVE] * stats[F.S_TICKS] - fw[FW_COLLISION] * stats[F.S_COLLISIONS])
    den = stats[F.S_BR_DEN]
    branching = stats[F.S_BR_NUM] * 1_000_000 // den if den > 0 else 0
    alive = stats[F.S_ALIVE]
    activity = (stats[F.S_POS] + stats[F.S_NEG]) * 1_000_000 // alive if alive > 0 else 0
    crit = (fw[FW_BR_WEIGHT] * _band(branching, fw[FW_BR_LO], fw[FW_BR_HI], fw[FW_BR_WIDTH])
            + fw[FW_ACT_WEIGHT] * _band(activity, fw[FW_ACT_LO], fw[FW_ACT_HI], fw[FW_ACT_WIDTH])) // 1000
    return value + crit


@njit(alloc=False)
def set_genes(P, genes):  # type: ignore[no-untyped-def]
    """Write the six genes into the kernel parameter vector ``P`` (float64[N_PARAMS]) in place."""
    P[K.P_TH_EXC] = genes[G.G_TH_EXC]
    P[K.P_TH_INH] = genes[G.G_TH_INH]
    P[K.P_TAU_M] = genes[G.G_TAU_M]
    P[K.P_TAU_FAST] = genes[G.G_TAU_FAST]
    P[K.P_TAU_SLOW] = genes[G.G_TAU_SLOW]
    P[K.P_LR] = genes[G.G_LR]


@njit
def genes_to_params(P_base, genes):  # type: ignore[no-untyped-def]
    """The kernel parameter vector of a genome: the task's ``P_base`` with the six genes set."""
    P = P_base.copy()
    set_genes(P, genes)
    return P


@njit(alloc=False)
def lower_median(values):  # type: ignore[no-untyped-def]
    """The task fitness of per-world fitness ``values`` (int64[W], sorted in place): the lower median
    ``sorted[(W - 1) // 2]``, floored at 0 (docs §7). Insertion sort: W is small, nothing is allocated."""
    W = values.shape[0]
    for i in range(1, W):
        v = values[i]
        j = i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v
    return max(0, values[(W - 1) // 2])


@njit
def fitness(terrains, foods, starts, lifes, env, agent,  # type: ignore[no-untyped-def]
            pre, post, wf, ws, wm, silent, modul, n_syn, genes, n_hidden,
            P_base, base, ticks, steps_per_tick, fw, stats):
    """Median over all worlds of the world fitness (lower median), floored at 0 (docs §7)."""
    W = terrains.shape[0]
    P = genes_to_params(P_base, genes)
    F.live_many(terrains, foods, starts, lifes, env, agent, pre[:n_syn], post[:n_syn], wf[:n_syn], ws[:n_syn],
                wm[:n_syn], silent[:n_syn], modul[:n_syn], n_hidden, P, base, ticks, steps_per_tick,
                np.arange(W), stats)
    return median_fitness(stats, fw)


@njit
def median_fitness(stats, fw):  # type: ignore[no-untyped-def]
    """The task fitness from each world's lifetime statistics (int64[W, N_STATS]): the lower median
    of the world fitnesses, floored at 0 (docs §7)."""
    W = stats.shape[0]
    values = np.empty(W, dtype=np.int64)
    for w in range(W):
        values[w] = world_fitness(stats[w], fw)
    return lower_median(values)


@njit
def walk(terrains, foods, starts, lifes, env, agent,  # type: ignore[no-untyped-def]
         pre, post, wf, ws, wm, silent, modul, n_syn, genes, n_hidden,
         P_base, base, ticks, steps_per_tick, fw, limits, max_syn, steps, mutations, rng, start_score):
    """The walk from the genome in the arrays (capacity ``max_syn``), which end as the final genome.

    ``start_score`` < 0 means "evaluate the start genome". Returns (score, n_syn, accepted, start).
    """
    W = terrains.shape[0]
    stats = np.zeros((W, F.N_STATS), dtype=np.int64)
    N = F.N_SENSORS + n_hidden + F.N_MOTORS
    current = start_score
    if current < 0:
        current = fitness(terrains, foods, starts, lifes, env, agent, pre, post, wf, ws, wm, silent, modul,
                          n_syn, genes, n_hidden, P_base, base, ticks, steps_per_tick, fw, stats)
    first = current
    branch = np.zeros(pre.shape[0], dtype=np.int32)  # v1 has no dendritic branches
    genome = (pre, post, branch, wf, ws, wm, silent, modul, genes)
    trial = (pre.copy(), post.copy(), branch.copy(), wf.copy(), ws.copy(), wm.copy(), silent.copy(), modul.copy(),
             genes.copy())
    t_pre, t_post, _, t_wf, t_ws, t_wm, t_silent, t_modul, t_genes = trial  # v1's fitness takes no branches
    accepted = 0
    for _ in range(steps):
        t_n = G.propose(genome, trial, n_syn, N, F.N_SENSORS, F.N_MOTORS, 1, max_syn, mutations, limits, rng)
        f = fitness(terrains, foods, starts, lifes, env, agent, t_pre, t_post, t_wf, t_ws, t_wm, t_silent,
                    t_modul, t_n, t_genes, n_hidden, P_base, base, ticks, steps_per_tick, fw, stats)
        if f >= current:
            current = f
            accepted += 1
            n_syn = t_n
            G.keep(trial, genome, n_syn)
    return current, n_syn, accepted, first
