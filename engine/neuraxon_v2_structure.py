"""Structure of a Neuraxon v2 network: construction, the sorted synapse layout, structural edits.

Construction reproduces upstream's ``NeuraxonNetwork.__init__`` draw for draw from a CPython
``random`` state (:mod:`engine.cpython_random`): five oscillator phases ``uniform(0, 2π)``; the
Watts–Strogatz ring in a set of (pre, post) pairs (:mod:`engine.cpython_set`), each pair in set
order rewired with probability β to ``randint(0, N-1)`` when the new edge is valid and new; then,
per pair in final set order, ``randint(0, B-1)`` for the branch, ``uniform`` for w_fast, w_slow,
w_meta and ``random() < 0.1`` / ``< 0.2`` for silent / modulatory.

The step kernel keeps synapses sorted by (post, branch, list position) (see
:mod:`engine.neuraxon_v2_layout`); this module keeps that order through pruning (stable compaction)
and formation (insertion at the end of its (post, branch) segment), rebuilds the per-post index and
recomputes ``branch_index`` (rank by (pre, list position) within each (post, branch)).
"""

from __future__ import annotations

import math

import numpy as np

from engine import cpython_random as R
from engine import cpython_set as CS
from engine import neuraxon_v2_layout as L
from engine._jit import njit
from engine.neuraxon_kernels import synapse_label

_TWO_PI = 2.0 * math.pi


@njit(alloc=False)
def neuron_type(i, n_in, n_hid):  # type: ignore[no-untyped-def]
    if i < n_in:
        return L.INPUT
    if i < n_in + n_hid:
        return L.HIDDEN
    return L.OUTPUT


@njit
def watts_strogatz(n_in, n_hid, n_out, ws_k, beta, mt, set_cap):  # type: ignore[no-untyped-def]
    """Upstream's rewired ring as (pre int32[S], post int32[S]) in final set-iteration order."""
    N = n_in + n_hid + n_out
    k = min(ws_k, N - 1)
    half_k = max(k // 2, 1)
    slot, hashes, keys, meta = CS.set_new(set_cap)
    for i in range(N):
        ti = neuron_type(i, n_in, n_hid)
        for j in range(1, half_k + 1):
            for t in ((i + j) % N, ((i - j) % N + N) % N):
                if ti == L.OUTPUT and neuron_type(t, n_in, n_hid) == L.INPUT:
                    continue
                if i != t:
                    CS.set_add(slot, hashes, keys, meta, i, t)
    edges = CS.set_items(slot, keys, meta)
    for e in range(edges.shape[0]):
        pre = edges[e, 0]
        post = edges[e, 1]
        if R.random(mt) < beta:
            CS.set_discard(slot, hashes, keys, meta, pre, post)
            target = R.randint(mt, 0, N - 1)
            if (target != pre and not CS.set_contains(slot, hashes, keys, meta, pre, target)
                    and not (neuron_type(pre, n_in, n_hid) == L.OUTPUT
                             and neuron_type(target, n_in, n_hid) == L.INPUT)):
                CS.set_add(slot, hashes, keys, meta, pre, target)
            else:
                CS.set_add(slot, hashes, keys, meta, pre, post)
    final = CS.set_items(slot, keys, meta)
    return final[:, 0].astype(np.int32), final[:, 1].astype(np.int32)


@njit(alloc=False)
def draw_synapse(mt, P, B):  # type: ignore[no-untyped-def]
    """Upstream's ``randint(0, B-1)`` branch then ``Synapse(...)`` draws, in that order.

    Returns (branch, w_fast, w_slow, w_meta, silent, modulatory).
    """
    branch = R.randint(mt, 0, B - 1)
    wf = R.uniform(mt, P[L.P_WF_MIN], P[L.P_WF_MAX])
    ws = R.uniform(mt, P[L.P_WS_MIN], P[L.P_WS_MAX])
    wm = R.uniform(mt, P[L.P_WM_MIN], P[L.P_WM_MAX])
    silent = R.random(mt) < 0.1
    modul = R.random(mt) < 0.2
    return branch, wf, ws, wm, silent, modul


@njit
def construct(n_in, n_hid, n_out, B, ws_k, beta, P, n_bands, mt, set_cap):  # type: ignore[no-untyped-def]
    """Everything upstream's constructor draws, in its order, synapses in list order.

    Returns (phases float64[n_bands], pre, post, branch int32[S], wf, ws, wm float64[S],
    silent, modulatory bool[S]).
    """
    phases = np.empty(n_bands)
    for b in range(n_bands):
        phases[b] = R.uniform(mt, 0.0, _TWO_PI)
    pre, post = watts_strogatz(n_in, n_hid, n_out, ws_k, beta, mt, set_cap)
    S = pre.shape[0]
    branch = np.empty(S, dtype=np.int32)
    wf = np.empty(S)
    ws = np.empty(S)
    wm = np.empty(S)
    silent = np.empty(S, dtype=np.bool_)
    modul = np.empty(S, dtype=np.bool_)
    for k in range(S):
        branch[k], wf[k], ws[k], wm[k], silent[k], modul[k] = draw_synapse(mt, P, B)
    return phases, pre, post, branch, wf, ws, wm, silent, modul


@njit
def labels(silent, modul, wf, ws):  # type: ignore[no-untyped-def]
    """``synapse_type`` labels int8[S] of synapses given as arrays."""
    out = np.empty(silent.shape[0], dtype=np.int8)
    for k in range(silent.shape[0]):
        out[k] = synapse_label(silent[k], modul[k], wf[k], ws[k])
    return out


@njit(alloc=False)
def rebuild_index(si, lpos, n_syn, N, idx, perm):  # type: ignore[no-untyped-def]
    """Per-post segment starts (``idx[0]``) and the modulatory synapses by (post, list position)
    (``perm[0]``, runs starting at ``idx[1]``) for synapses sorted by (post, branch, lpos).

    Returns the number of modulatory synapses.
    """
    k = 0
    c = 0
    for q in range(N):
        idx[0, q] = k
        idx[1, q] = c
        c0 = c
        while k < n_syn and si[L.SI_POST, k] == q:
            if si[L.SI_MODUL, k]:
                # insertion by list position: a post's synapses are few, and sorted per branch
                j = c
                while j > c0 and lpos[perm[0, j - 1]] > lpos[k]:
                    perm[0, j] = perm[0, j - 1]
                    j -= 1
                perm[0, j] = k
                c += 1
            k += 1
    idx[0, N] = k
    idx[1, N] = c
    return c


@njit
def rank_branches(si, n_syn):  # type: ignore[no-untyped-def]
    """``branch_index`` = rank by (pre, list position) within each (post, branch) segment."""
    g0 = 0
    while g0 < n_syn:
        q = si[L.SI_POST, g0]
        b = si[L.SI_BRANCH, g0]
        g1 = g0 + 1
        while g1 < n_syn and si[L.SI_POST, g1] == q and si[L.SI_BRANCH, g1] == b:
            g1 += 1
        if g1 - g0 <= 32:
            for i in range(g0, g1):
                pi = si[L.SI_PRE, i]
                r = 0
                for j in range(g0, g1):
                    pj = si[L.SI_PRE, j]
                    if pj < pi or (pj == pi and j < i):
                        r += 1
                si[L.SI_BIDX, i] = r
        else:
            order = np.argsort(si[L.SI_PRE, g0:g1], kind="mergesort")  # stable: ties keep list order
            for r in range(g1 - g0):
                si[L.SI_BIDX, g0 + order[r]] = r
        g0 = g1


@njit
def compact(sf, si, lpos, n_syn, integ_th):  # type: ignore[no-untyped-def]
    """Stable removal of synapses with integrity <= threshold; returns the new count."""
    keep = np.empty(n_syn, dtype=np.int64)
    n = 0
    for k in range(n_syn):
        if sf[L.SF_INTEG, k] > integ_th:
            keep[n] = k
            n += 1
    for r in range(sf.shape[0]):  # row by row: each row is contiguous
        for j in range(n):
            sf[r, j] = sf[r, keep[j]]
    for r in range(si.shape[0]):
        for j in range(n):
            si[r, j] = si[r, keep[j]]
    for j in range(n):
        lpos[j] = lpos[keep[j]]
    return n


@njit(alloc=False)
def exists(si, idx, pre, post):  # type: ignore[no-untyped-def]
    """Whether a synapse pre -> post exists (``idx`` current)."""
    k = idx[0, post]
    while k < idx[0, post + 1] and si[L.SI_PRE, k] != pre:
        k += 1
    return k < idx[0, post + 1]


@njit(alloc=False)
def insert(sf, si, lpos, idx, n_syn, pre, post, branch, wf, ws, wm, silent, modul, new_lpos):  # type: ignore[no-untyped-def]
    """Append a new synapse to the list: it goes last in its (post, branch) segment.

    Fresh state as upstream's ``Synapse``: integrity 1, traces and Δ 0, ω 0.5. ``idx`` must be
    current; it is stale afterwards (the caller rebuilds it). Returns the new count.
    """
    if n_syn >= lpos.shape[0]:
        raise ValueError("neuraxon v2: synapse capacity exhausted")
    pos = idx[0, post + 1]
    for k in range(idx[0, post], idx[0, post + 1]):
        if si[L.SI_BRANCH, k] > branch:
            pos = k
            break
    for r in range(sf.shape[0]):
        for k in range(n_syn, pos, -1):
            sf[r, k] = sf[r, k - 1]
        sf[r, pos] = 0.0
    for r in range(si.shape[0]):
        for k in range(n_syn, pos, -1):
            si[r, k] = si[r, k - 1]
    for k in range(n_syn, pos, -1):
        lpos[k] = lpos[k - 1]
    sf[L.SF_WF, pos] = wf
    sf[L.SF_WS, pos] = ws
    sf[L.SF_WM, pos] = wm
    sf[L.SF_INTEG, pos] = 1.0
    sf[L.SF_OMEGA, pos] = 0.5
    si[L.SI_PRE, pos] = pre
    si[L.SI_POST, pos] = post
    si[L.SI_BRANCH, pos] = branch
    si[L.SI_BIDX, pos] = 0
    si[L.SI_SILENT, pos] = silent
    si[L.SI_MODUL, pos] = modul
    si[L.SI_STYPE, pos] = synapse_label(silent, modul, wf, ws)
    lpos[pos] = new_lpos
    return n_syn + 1


def sorted_order(post: np.ndarray, branch: np.ndarray) -> np.ndarray:
    """Permutation putting list-ordered synapses into (post, branch, list position) order."""
    return np.lexsort((np.arange(post.shape[0]), branch, post))
