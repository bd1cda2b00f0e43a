"""Mutation of a Neuraxon genome for the training walk of the Neuraxon task (algo 0).

A genome is a network at birth: synapses in list order (``pre``/``post``/``branch`` int32,
``wf``/``ws``/``wm`` float64, ``silent``/``modul`` bool; arrays with capacity for ``max_syn``; the
dendritic ``branch`` is Neuraxon v2's and stays 0 for v1) plus six per-network parameters ``gp``
float64[N_GENES] (indices ``G_*``). Bounds and ranges come in ``limits``
float64[N_LIMITS] (indices ``L_*``). All draws come from the walk's RNG, in the order documented
in docs/neuraxon-task.md.
"""

from __future__ import annotations

import numpy as np

from engine import neuraxon_kernels as K
from engine._exact import exact_mul
from engine._jit import njit
from engine.rng import below, random, uniform

# Per-network genes.
G_TH_EXC = 0
G_TH_INH = 1
G_TAU_M = 2
G_TAU_FAST = 3
G_TAU_SLOW = 4
G_LR = 5
N_GENES = 6

#: Hard bounds of each gene (the walk clips to them): (low, high) per gene index.
GENE_BOUNDS = ((0.01, 3.0), (-3.0, -0.01), (1.0, 100.0), (1.0, 50.0), (2.0, 500.0), (0.0, 0.5))
#: Neuraxon v2 has no membrane time constant (its DSN decay replaced the ODE): its gene 2 is the DSN
#: bias (``dsn_bias``), which sets how slowly the state forgets. The other genes are v1's.
G_DSN_BIAS = G_TAU_M
GENE_BOUNDS_V2 = ((0.01, 3.0), (-3.0, -0.01), (-5.0, 5.0), (1.0, 50.0), (2.0, 500.0), (0.0, 0.5))

# The ``limits`` vector: gene bounds (2 per gene), init ranges of new synapses' weights, sigmas.
L_GENE_LO = 0  # + gene index
L_GENE_HI = N_GENES  # + gene index
L_WF_MIN = 2 * N_GENES
L_WF_MAX = L_WF_MIN + 1
L_WS_MIN = L_WF_MIN + 2
L_WS_MAX = L_WF_MIN + 3
L_WM_MIN = L_WF_MIN + 4
L_WM_MAX = L_WF_MIN + 5
L_SIGMA_W = L_WF_MIN + 6
L_SIGMA_P = L_WF_MIN + 7
N_LIMITS = L_WF_MIN + 8

# Mutation kinds, by ``u = below(100)``.
OP_WEIGHT = 55  # u < 55: perturb one weight
OP_GENE = 70  # u < 70: perturb one per-network gene
OP_ADD = 82  # u < 82: add a synapse
OP_REMOVE = 92  # u < 92: remove a synapse; otherwise toggle one synapse's silent flag


@njit(alloc=False)
def mutate(pre, post, branch, wf, ws, wm, silent, modul, n_syn, gp, n_neurons, n_in, n_out,  # type: ignore[no-untyped-def]
           n_branches, max_syn, limits, rng):
    """Apply one mutation in place; returns the new synapse count.

    Draw order: ``u = below(100)``; then by kind:

    * weight (u < 55): ``k = below(n)``, ``which = below(3)`` (w_fast, w_slow, w_meta),
      ``δ = uniform(-σw, σw)``; the weight becomes ``clip(w + δ)`` to [-1, 1] ([-0.5, 0.5] for w_meta).
    * gene (u < 70): ``j = below(6)``, ``δ = uniform(-σp, σp)``; gene j becomes
      ``clip(g + δ·(hi_j - lo_j), lo_j, hi_j)``.
    * add (u < 82): ``p = below(N)``, ``q = below(N)``; if p ≠ q, not output→input, the pair is new
      and ``n < max_syn``: append with w_fast, w_slow, w_meta ``uniform`` in the init ranges,
      not silent, modulatory if ``random() < 0.2``, on branch ``below(n_branches)`` when
      ``n_branches > 1`` (else branch 0, no draw: v1). Otherwise nothing changes.
    * remove (u < 92): ``k = below(n)``; synapse k is removed, the order of the rest kept.
    * toggle (else): ``k = below(n)``; synapse k's silent flag flips.

    With no synapses, weight/remove/toggle act as add (after the ``u`` draw).
    """
    u = below(rng, 100)
    if n_syn == 0 and not (OP_WEIGHT <= u < OP_GENE):
        u = OP_GENE  # -> add
    if u < OP_WEIGHT:
        k = below(rng, n_syn)
        which = below(rng, 3)
        d = uniform(rng, -limits[L_SIGMA_W], limits[L_SIGMA_W])
        if which == 0:
            wf[k] = max(-1.0, min(1.0, wf[k] + d))
        elif which == 1:
            ws[k] = max(-1.0, min(1.0, ws[k] + d))
        else:
            wm[k] = max(-0.5, min(0.5, wm[k] + d))
    elif u < OP_GENE:
        j = below(rng, 6)
        d = uniform(rng, -limits[L_SIGMA_P], limits[L_SIGMA_P])
        lo = limits[L_GENE_LO + j]
        hi = limits[L_GENE_HI + j]
        gp[j] = max(lo, min(hi, gp[j] + exact_mul(d, hi - lo)))
    elif u < OP_ADD:
        p = below(rng, n_neurons)
        q = below(rng, n_neurons)
        out_start = n_neurons - n_out
        if p == q or (p >= out_start and q < n_in) or n_syn >= max_syn:
            return n_syn
        for k in range(n_syn):
            if pre[k] == p and post[k] == q:
                return n_syn
        k = n_syn
        pre[k] = p
        post[k] = q
        wf[k] = uniform(rng, limits[L_WF_MIN], limits[L_WF_MAX])
        ws[k] = uniform(rng, limits[L_WS_MIN], limits[L_WS_MAX])
        wm[k] = uniform(rng, limits[L_WM_MIN], limits[L_WM_MAX])
        silent[k] = False
        modul[k] = random(rng) < 0.2
        branch[k] = below(rng, n_branches) if n_branches > 1 else 0
        return n_syn + 1
    elif u < OP_REMOVE:
        k = below(rng, n_syn)
        for j in range(k, n_syn - 1):
            pre[j] = pre[j + 1]
            post[j] = post[j + 1]
            branch[j] = branch[j + 1]
            wf[j] = wf[j + 1]
            ws[j] = ws[j + 1]
            wm[j] = wm[j + 1]
            silent[j] = silent[j + 1]
            modul[j] = modul[j + 1]
        return n_syn - 1
    else:
        k = below(rng, n_syn)
        silent[k] = not silent[k]
    return n_syn


@njit
def copy_synapses(n, pre, post, branch, wf, ws, wm, silent, modul,  # type: ignore[no-untyped-def]
                  d_pre, d_post, d_branch, d_wf, d_ws, d_wm, d_silent, d_modul):
    """The first ``n`` synapses of a genome into another genome's arrays (the walk's trial copy)."""
    d_pre[:n] = pre[:n]
    d_post[:n] = post[:n]
    d_branch[:n] = branch[:n]
    d_wf[:n] = wf[:n]
    d_ws[:n] = ws[:n]
    d_wm[:n] = wm[:n]
    d_silent[:n] = silent[:n]
    d_modul[:n] = modul[:n]


@njit
def propose(genome, trial, n_syn, n_neurons, n_in, n_out, n_branches, max_syn, mutations, limits, rng):  # type: ignore[no-untyped-def]
    """One walk step's candidate: ``genome`` (pre, post, branch, wf, ws, wm, silent, modul, genes) with
    ``n_syn`` synapses copied into ``trial`` (the same arrays, as big), then ``mutations`` mutations
    applied to it. Returns the candidate's synapse count."""
    pre, post, branch, wf, ws, wm, silent, modul, genes = genome
    t_pre, t_post, t_branch, t_wf, t_ws, t_wm, t_silent, t_modul, t_genes = trial
    copy_synapses(n_syn, pre, post, branch, wf, ws, wm, silent, modul,
                  t_pre, t_post, t_branch, t_wf, t_ws, t_wm, t_silent, t_modul)
    t_genes[:] = genes
    t_n = n_syn
    for _ in range(mutations):
        t_n = mutate(t_pre, t_post, t_branch, t_wf, t_ws, t_wm, t_silent, t_modul, t_n, t_genes, n_neurons, n_in,
                     n_out, n_branches, max_syn, limits, rng)
    return t_n


@njit
def keep(trial, genome, n_syn):  # type: ignore[no-untyped-def]
    """A kept candidate: its first ``n_syn`` synapses and its genes become the genome's."""
    t_pre, t_post, t_branch, t_wf, t_ws, t_wm, t_silent, t_modul, t_genes = trial
    pre, post, branch, wf, ws, wm, silent, modul, genes = genome
    copy_synapses(n_syn, t_pre, t_post, t_branch, t_wf, t_ws, t_wm, t_silent, t_modul,
                  pre, post, branch, wf, ws, wm, silent, modul)
    genes[:] = t_genes


@njit
def draw_root(n_in, n_hidden, n_out, p, max_syn, gene_ranges, limits, rng):  # type: ignore[no-untyped-def]
    """A root genome from ``rng``: Erdős–Rényi topology (``random_er_topology``), cut to the first
    ``max_syn`` synapses; per synapse w_fast, w_slow, w_meta ``uniform`` in the init ranges, silent
    ``random() < 0.1``, modulatory ``random() < 0.2``; then each gene ``uniform`` in its initial
    range (``gene_ranges`` float64[6, 2]). Returns (pre, post, wf, ws, wm, silent, modul, gp)."""
    pre_all, post_all = K.random_er_topology(n_in, n_hidden, n_out, p, rng)
    S = min(pre_all.shape[0], max_syn)
    pre = pre_all[:S].copy()
    post = post_all[:S].copy()
    wf = np.empty(S)
    ws = np.empty(S)
    wm = np.empty(S)
    silent = np.empty(S, dtype=np.bool_)
    modul = np.empty(S, dtype=np.bool_)
    for k in range(S):
        wf[k] = uniform(rng, limits[L_WF_MIN], limits[L_WF_MAX])
        ws[k] = uniform(rng, limits[L_WS_MIN], limits[L_WS_MAX])
        wm[k] = uniform(rng, limits[L_WM_MIN], limits[L_WM_MAX])
        silent[k] = random(rng) < 0.1
        modul[k] = random(rng) < 0.2
    gp = np.empty(N_GENES)
    for j in range(N_GENES):
        gp[j] = uniform(rng, gene_ranges[j, 0], gene_ranges[j, 1])
    return pre, post, wf, ws, wm, silent, modul, gp
