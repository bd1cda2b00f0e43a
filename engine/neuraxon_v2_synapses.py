"""The synapse pass of a Neuraxon v2 step (model §2.3 steps 6-7), on the arrays of
:mod:`engine.neuraxon_v2_layout`.

:func:`plasticity` walks the synapses in their (post, branch) segments, list order inside each:
ChronoPlasticity, STDP traces, the D1/D2-gated Δ with the trit rules, the associative term over the
other synapses of the segment (this step's Δ for earlier ones, last step's for later ones),
weights, integrity, AGMP and the homeostatic scaling upstream applies afterwards (it reads nothing
another synapse writes, so it is fused in). Un-silencing candidates are collected and
:func:`unsilence` draws for them in list order.
"""

from __future__ import annotations

import math

import numpy as np

from engine import cpython_random as R
from engine import neuraxon_v2_layout as L
from engine._jit import njit
from engine.neuraxon_kernels import synapse_label
from engine.pyfloat import py_max as _max
from engine.pyfloat import py_min as _min

__all__ = ["plasticity", "unsilence", "warp"]


@njit(alloc=False)
def warp(z, omega, s_pre, as_, gnorm, rclip, omin, omax, beta):  # type: ignore[no-untyped-def]
    """The learned warp of ChronoPlasticity (Eq 7, stabilised): returns (new ω, αs^ω)."""
    zg = z if gnorm <= 0.0 else math.tanh(z / gnorm)
    raw = 2.0 * s_pre + 1.5 * zg - 1.0
    if rclip > 0.0:
        raw = _max(-rclip, _min(rclip, raw))
    new_omega = _max(omin, _min(omax, 1.0 / (1.0 + math.exp(-raw))))
    omega = (1.0 - beta) * omega + beta * new_omega
    return omega, as_ ** omega


@njit(alloc=False)
def plasticity(P, nf, ni, sf, si, idx, gs, perm, n_syn):  # type: ignore[no-untyped-def]
    """Synapse updates (chrono, traces, DA-gated Δ, associative term, weights, integrity, AGMP)
    and homeostatic scaling. Returns (#synapses to prune, #un-silencing candidates in perm[1])."""
    N = nf.shape[1]
    dt = P[L.P_DT]
    s = ni[L.NI_S]
    active = ni[L.NI_ACTIVE]
    ntype = ni[L.NI_TYPE]
    chrono_on = P[L.P_CH_ON] != 0.0
    af = P[L.P_CH_AF]
    as_ = P[L.P_CH_AS]
    gnorm = P[L.P_CH_GNORM]
    rclip = P[L.P_CH_RCLIP]
    omin = P[L.P_CH_OMIN]
    omax = P[L.P_CH_OMAX]
    if omax < omin:
        omin, omax = omax, omin
    beta = _max(0.0, _min(1.0, P[L.P_CH_SMOOTH]))
    tclip = P[L.P_CH_TCLIP]
    tau = P[L.P_TAU_STDP]
    lr = P[L.P_LR]
    d1 = gs[L.G_RECEPTOR + L.R_D1]
    d2 = gs[L.G_RECEPTOR + L.R_D2]
    c_pos = lr * 0.5 * d1
    c_neg = lr * 0.5 * d2
    assoc = P[L.P_ASSOC]
    k_f = dt / P[L.P_TAU_FAST]
    k_s = dt / P[L.P_TAU_SLOW]
    k_m = dt / P[L.P_TAU_META]
    ser = 0.5 * gs[L.G_RECEPTOR + L.R_5HT2A] + 0.1 * (1.0 - gs[L.G_RECEPTOR + L.R_5HT1A])
    integ_loss = P[L.P_SYN_DEATH] * dt
    integ_gain = 0.001 * dt
    integ_th = P[L.P_INTEG_TH]
    agmp_on = P[L.P_AG_ON] != 0.0
    le = P[L.P_AG_LE]
    eta_m = P[L.P_AG_ETA] * gs[L.G_PHASIC + L.DA]
    homeo = P[L.P_HOMEO]
    target = P[L.P_TARGET]
    cached = ni[L.NI_CACHED]
    cached[:] = 0
    n_pruned = 0
    n_cand = 0
    for q in range(N):
        g0 = idx[0, q]
        end = idx[0, q + 1]
        if g0 == end:
            continue
        q_active = active[q] != 0
        scaled = q_active and ntype[q] != L.INPUT
        scale = 1.0
        if scaled:
            scale = 1.0 + homeo * (target - nf[L.NF_RBAR, q]) * nf[L.NF_MG, q]
        sq = s[q]
        astro = nf[L.NF_ASTRO, q]
        while g0 < end:
            b = si[L.SI_BRANCH, g0]
            g1 = g0 + 1
            while g1 < end and si[L.SI_BRANCH, g1] == b:
                g1 += 1
            for i in range(g0, g1):
                if sf[L.SF_INTEG, i] > 0.0 and q_active and active[si[L.SI_PRE, i]]:
                    sp = s[si[L.SI_PRE, i]]
                    if chrono_on:
                        pre = si[L.SI_PRE, i]
                        z = sf[L.SF_Z, i]
                        om = sf[L.SF_OMEGA, i]
                        if cached[pre] and nf[L.NF_CACHE_Z, pre] == z and nf[L.NF_CACHE_OMEGA, pre] == om:
                            om = nf[L.NF_CACHE_OMEGA_OUT, pre]
                            pw = nf[L.NF_CACHE_POW, pre]
                        else:
                            nf[L.NF_CACHE_Z, pre] = z
                            nf[L.NF_CACHE_OMEGA, pre] = om
                            om, pw = warp(z, om, float(sp), as_, gnorm, rclip, omin, omax, beta)
                            nf[L.NF_CACHE_OMEGA_OUT, pre] = om
                            nf[L.NF_CACHE_POW, pre] = pw
                            cached[pre] = 1
                        spf = float(sp)
                        f = af * sf[L.SF_F, i] + spf
                        z = pw * z + spf
                        if tclip > 0.0:
                            f = _max(-tclip, _min(tclip, f))
                            z = _max(-tclip, _min(tclip, z))
                        sf[L.SF_F, i] = f
                        sf[L.SF_Z, i] = z
                        sf[L.SF_OMEGA, i] = om
                    pre_tr = sf[L.SF_PRE_TR, i]
                    pre_tr += (-pre_tr / tau + (1.0 if sp == 1 else 0.0)) * dt
                    post_tr = sf[L.SF_POST_TR, i]
                    post_tr += (-post_tr / tau + (1.0 if sq == 1 else 0.0)) * dt
                    sf[L.SF_PRE_TR, i] = pre_tr
                    sf[L.SF_POST_TR, i] = post_tr
                    a_plus = pre_tr * (1.0 if sq == 1 else 0.0)
                    a_minus = post_tr * (1.0 if sp == 1 else 0.0)
                    dw = lr * a_plus * d1 - lr * a_minus * d2
                    if sp == 1 and sq == 1:
                        dw += c_pos
                    if sp == 1 and sq == -1:
                        dw -= c_neg
                    if sp == 0 and sq == 0:
                        dw *= 0.1
                    # neighbours on this (post, branch), in list order: earlier ones already hold
                    # this step's Δ, later ones last step's
                    bi = si[L.SI_BIDX, i]
                    for j in range(g0, g1):
                        if j != i:
                            dist = float(abs(si[L.SI_BIDX, j] - bi)) + 1.0
                            if dist > 0:
                                dw += assoc * sf[L.SF_RDW, j] / dist
                    sf[L.SF_RDW, i] = dw
                    wf = sf[L.SF_WF, i]
                    wf = _max(-1.0, _min(1.0, wf + k_f * (-wf + 0.3 * dw)))
                    ws = sf[L.SF_WS, i]
                    ws = _max(-1.0, _min(1.0, ws + k_s * (-ws + 0.1 * dw)))
                    wm = sf[L.SF_WM, i]
                    sf[L.SF_WM, i] = _max(-0.5, _min(0.5, wm + k_m * (-wm + 0.05 * dw * ser)))
                    if abs(wf) < 0.01 and abs(ws) < 0.01:
                        sf[L.SF_INTEG, i] -= integ_loss
                    else:
                        sf[L.SF_INTEG, i] = _min(1.0, sf[L.SF_INTEG, i] + integ_gain)
                    if si[L.SI_SILENT, i] and sp == 1 and sq == 1:
                        # the draw happens in list order after this pass; the label it would get
                        # is fixed now, by the weights before AGMP
                        perm[1, n_cand] = 4 * i + synapse_label(False, si[L.SI_MODUL, i] != 0, wf, ws)
                        n_cand += 1
                    if agmp_on:
                        psi = 0.0
                        if sp == 1 and sq == 1:
                            psi = 1.0
                        elif sp == 1 and sq == -1:
                            psi = -0.5
                        elif sp == -1 and sq == 1:
                            psi = -0.3
                        e = le * sf[L.SF_ELIG, i] + psi
                        sf[L.SF_ELIG, i] = e
                        delta = eta_m * astro * e
                        wf = _max(-1.0, _min(1.0, wf + delta * 0.3))
                        ws = _max(-1.0, _min(1.0, ws + delta * 0.1))
                    sf[L.SF_WF, i] = wf
                    sf[L.SF_WS, i] = ws
                if scaled and sf[L.SF_INTEG, i] > 0.0:
                    sf[L.SF_WF, i] = _max(-1.0, _min(1.0, sf[L.SF_WF, i] * scale))
                    sf[L.SF_WS, i] = _max(-1.0, _min(1.0, sf[L.SF_WS, i] * scale))
                if not sf[L.SF_INTEG, i] > integ_th:
                    n_pruned += 1
            g0 = g1
    return n_pruned, n_cand


@njit
def unsilence(perm, n_cand, lpos, si, mt):  # type: ignore[no-untyped-def]
    """Upstream's un-silencing draws (p = 0.05), in synapse-list order."""
    if n_cand > 32:
        keys = np.empty(n_cand, dtype=np.int64)
        for c in range(n_cand):
            keys[c] = lpos[perm[1, c] // 4]
        order = np.argsort(keys)  # list positions are unique
        codes = perm[1, :n_cand].copy()
        for c in range(n_cand):
            perm[1, c] = codes[order[c]]
    else:
        for c in range(1, n_cand):  # few candidates: insertion sort by list position
            code = perm[1, c]
            j = c
            while j > 0 and lpos[perm[1, j - 1] // 4] > lpos[code // 4]:
                perm[1, j] = perm[1, j - 1]
                j -= 1
            perm[1, j] = code
    for c in range(n_cand):
        i = perm[1, c] // 4
        if R.random(mt) < 0.05:
            si[L.SI_SILENT, i] = 0
            si[L.SI_STYPE, i] = perm[1, c] % 4
