"""Numba kernels for Neuraxon v2 dynamics (reference/neuraxon-model.md §2.3), exact mode.

:func:`step` is one upstream ``simulate_step`` on the arrays of :mod:`engine.neuraxon_v2_layout`;
:func:`run` applies an input clamp and external currents per step and records what was asked.
This module holds the activity, neuromodulator, oscillator, gather and neuron parts; the synapse
pass is :mod:`engine.neuraxon_v2_synapses`, structural edits :mod:`engine.neuraxon_v2_structure`.

Float operations follow upstream's expression order exactly (left-to-right sums in synapse-list
order, the same association in every update, Python's ``min``/``max``/``%`` semantics), so
trajectories match CPython to the last bit. Synapses are stored sorted by (post, branch, list
position): every order-dependent result only depends on the list order *within* a post (the
modulatory sum) or within a (post, branch) (branch sums, the associative term), so the gather and
the plasticity pass walk contiguous segments, and the only global list-order effect, the order of
un-silencing draws, is restored by sorting those few candidates by list position.

Random draws (``mt``/``gcache``, :mod:`engine.cpython_random`) happen where upstream draws, in its
order: per active non-input neuron in id order ``random()`` for the spontaneous kick (then
``gauss(0, 0.3)`` if it fires) and, for a hidden neuron whose health is below the death threshold,
``random()`` for death; per synapse in list order ``random()`` for un-silencing (silent, both
ends +1); then per hidden neuron the second death check, ``random()`` for formation, and for a
formation two ``choice`` over the active neurons, ``randint`` for the branch and the new synapse's
five draws.
"""

from __future__ import annotations

import math

import numpy as np

from engine import cpython_random as R
from engine import neuraxon_v2_layout as L
from engine import neuraxon_v2_structure as S
from engine import neuraxon_v2_synapses as SY
from engine._jit import njit
from engine.neuraxon_kernels import NO_CLAMP
from engine.pyfloat import py_max as _max
from engine.pyfloat import py_min as _min
from engine.pyfloat import py_mod, round_trit

_TWO_PI = 2.0 * math.pi


@njit(alloc=False)
def _neuromodulators(gs, P, mean, exc, chg):  # type: ignore[no-untyped-def]
    """Tonic/phasic relaxation, activity-driven release, crosstalk, clip to [0, 2]."""
    dt = P[L.P_DT]
    for m in range(4):
        t = gs[L.G_TONIC + m]
        gs[L.G_TONIC + m] = t + dt / P[L.P_TAU_TONIC] * (P[L.P_BASE + m] - t)
        ph = gs[L.G_PHASIC + m]
        gs[L.G_PHASIC + m] = ph + dt / P[L.P_TAU_PHASIC] * (0.0 - ph)
    rr = P[L.P_RELEASE]
    gs[L.G_PHASIC + L.DA] += rr * chg * dt
    gs[L.G_TONIC + L.SER] += rr * mean * dt
    gs[L.G_PHASIC + L.ACH] += rr * exc * dt
    gs[L.G_PHASIC + L.NA] += rr * chg * dt
    gs[L.G_PHASIC + L.ACH] *= _max(0.0, 1.0 - 0.1 * gs[L.G_PHASIC + L.DA])
    gs[L.G_TONIC + L.SER] += 0.02 * (gs[L.G_TONIC + L.NA] + gs[L.G_PHASIC + L.NA]) * dt
    for m in range(8):
        gs[m] = _max(0.0, _min(2.0, gs[m]))


@njit(alloc=False)
def _receptors(gs, rp, cap):  # type: ignore[no-untyped-def]
    """Receptor activations from the current levels into ``gs[G_RECEPTOR:]``."""
    for r in range(rp.shape[0]):
        parent = int(rp[r, L.RP_PARENT])
        tonic = rp[r, L.RP_TONIC] != 0.0
        conc = gs[L.G_TONIC + parent]
        if not tonic:
            conc = conc + gs[L.G_PHASIC + parent]
        conc = _max(0.0, _min(cap, conc)) if cap > 0.0 else _max(0.0, conc)
        slope = rp[r, L.RP_SLOPE]
        k = slope if slope > 0.0 else (20.0 if tonic else 10.0)
        e = _max(-50.0, _min(50.0, -k * (conc - rp[r, L.RP_THRESHOLD])))
        gs[L.G_RECEPTOR + r] = rp[r, L.RP_GAIN] / (1.0 + math.exp(e))


@njit(inline="always", alloc=False)
def _drive(osc, oband, coupling, i, N, infra):  # type: ignore[no-untyped-def]
    """Oscillator drive of neuron ``i``: theta-gated gamma, slow, and the (per-step) infraslow term."""
    phi = _TWO_PI * i / max(N, 1)
    bs, bt, bg = oband[1], oband[2], oband[3]
    gate = _max(0.0, math.cos(osc[L.OSC_PHASE, bt] + phi))
    gamma = osc[L.OSC_AMP, bg] * gate * math.sin(osc[L.OSC_PHASE, bg] + 2.0 * phi)
    slow = osc[L.OSC_AMP, bs] * math.sin(osc[L.OSC_PHASE, bs] + 0.3 * phi)
    return coupling * (gamma + 0.5 * slow + 0.3 * infra)


@njit(inline="always", alloc=False)
def _dendrites(q, B, idx, sf, si, src, bpot, chrono_on, lam_f, lam_s, dend_th, gamma):  # type: ignore[no-untyped-def]
    """Branch sums of neuron ``q`` (list order within each branch) and the dendritic total D."""
    D = 0.0
    k = idx[0, q]
    end = idx[0, q + 1]
    for b in range(B):
        sigma = 0.0
        while k < end and si[L.SI_BRANCH, k] == b:
            if sf[L.SF_INTEG, k] > 0.0:
                sp = src[si[L.SI_PRE, k]]
                if sp != L.SKIP:
                    if si[L.SI_SILENT, k]:
                        sigma += 0.0
                    else:
                        wf = sf[L.SF_WF, k]
                        ws = sf[L.SF_WS, k]
                        cur = (wf + ws) * float(sp)
                        if chrono_on:
                            cur = cur + (lam_f * wf * sf[L.SF_F, k] + lam_s * ws * sf[L.SF_Z, k])
                        sigma += cur
            k += 1
        bpot[q, b] = sigma
        if abs(sigma) > dend_th:
            D += (1.0 if sigma > 0 else -1.0) * (abs(sigma) ** gamma)
        else:
            D += sigma
    return D


@njit(inline="always", alloc=False)
def _modulatory_sum(q, idx, perm, sf, si, src):  # type: ignore[no-untyped-def]
    m = 0.0
    for j in range(idx[1, q], idx[1, q + 1]):
        k = perm[0, j]
        if sf[L.SF_INTEG, k] > 0.0 and src[si[L.SI_PRE, k]] != L.SKIP:
            w = sf[L.SF_WM, k]
            if w != 0.0:
                m += w
    return m


@njit(inline="always", alloc=False)
def _dsn(q, X, P, nf, dbuf, dkern):  # type: ignore[no-untyped-def]
    """Push X into the DSN buffer, return α = σ(kernel·buffer + bias); optional kernel learning."""
    K = dbuf.shape[1]
    for j in range(K - 1):
        dbuf[q, j] = dbuf[q, j + 1]
    dbuf[q, K - 1] = X
    conv = 0.0
    for j in range(K):
        conv += dkern[q, j] * dbuf[q, j]
    conv = conv + P[L.P_DSN_BIAS]
    alpha = 1.0 / (1.0 + math.exp(_max(-50.0, _min(50.0, -conv))))
    nf[L.NF_ALPHA, q] = alpha
    if P[L.P_DSN_LEARN] != 0.0:
        dx = abs(dbuf[q, K - 1] - dbuf[q, K - 2]) if K >= 2 else abs(dbuf[q, K - 1])
        t = P[L.P_DSN_TBIAS] - P[L.P_DSN_SENS] * dx
        target = 1.0 / (1.0 + math.exp(_max(-50.0, _min(50.0, -t))))
        common = (alpha - target) * (alpha * (1.0 - alpha))
        lr = P[L.P_DSN_LR]
        clip = P[L.P_DSN_CLIP]
        total = 0.0
        for j in range(K):
            w = _max(-clip, _min(clip, dkern[q, j] - lr * common * dbuf[q, j]))
            dkern[q, j] = w
            total += abs(w)
        if total == 0.0:
            total = 1.0
        for j in range(K):
            dkern[q, j] = dkern[q, j] / total
    return alpha


@njit(alloc=False)
def _step_constants(P, gs):  # type: ignore[no-untyped-def]
    """Per-step constants of the neuron update, each computed exactly as upstream computes it:
    (dt/τ of the four MSTH loops, g_NA, the receptor term of the threshold modulation, tanh of
    that term alone and the term itself, dt/τ_adaptation, dt/τ_autoreceptor)."""
    dt = P[L.P_DT]
    g_na = 1.0 + 0.5 * gs[L.G_RECEPTOR + L.R_BETA1] + 0.2 * gs[L.G_RECEPTOR + L.R_ALPHA2]
    m_term = 0.3 * gs[L.G_RECEPTOR + L.R_M1] - 0.2 * gs[L.G_RECEPTOR + L.R_M2]
    alone = 0.0
    alone += m_term  # raw_mod of a neuron without modulatory input: sum([]) + term
    return (dt / P[L.P_UF_TAU], dt / P[L.P_FAST_TAU], dt / P[L.P_MED_TAU], dt / P[L.P_SLOW_TAU], g_na, m_term,
            math.tanh(alone), alone, dt / P[L.P_ADAPT_TAU], dt / P[L.P_AUTO_TAU])


@njit(inline="always", alloc=False)
def _neuron(q, D, msum, ext, drive, spont, P, nf, ni, dbuf, dkern, mt, k):  # type: ignore[no-untyped-def]
    """Upstream ``Neuraxon.update`` after dendritic integration, for an active non-input neuron.

    ``k`` holds what is the same for every neuron of the step (:func:`_step_constants`).
    """
    dt = P[L.P_DT]
    s_old = ni[L.NI_S, q]
    x = abs(s_old)
    target = P[L.P_TARGET]
    rbar = nf[L.NF_RBAR, q]
    rbar = rbar + P[L.P_FR_ALPHA] * (x - rbar) * dt
    nf[L.NF_RBAR, q] = rbar
    # MSTH, from the old |s|
    a_uf = k[0]
    uf = (1.0 - a_uf) * nf[L.NF_UF, q] + a_uf * x
    nf[L.NF_UF, q] = uf
    a_f = k[1]
    fe = (1.0 - a_f) * nf[L.NF_FE, q] + a_f * x
    nf[L.NF_FE, q] = fe
    fast_shift = P[L.P_FAST_GAIN] * (fe - target)
    a_m = k[2]
    dev = x - target
    mg = nf[L.NF_MG, q]
    mg = _max(0.5, _min(2.0, mg + a_m * (-P[L.P_MED_GAIN] * dev * mg)))
    nf[L.NF_MG, q] = mg
    a_s = k[3]
    nf[L.NF_SS, q] = (1.0 - a_s) * nf[L.NF_SS, q] + a_s * abs(dev)
    X = k[4] * (D * mg) + ext + drive - nf[L.NF_A, q] + spont
    # DSN decay, CTSN complement
    alpha = _dsn(q, X, P, nf, dbuf, dkern) if P[L.P_DSN_ON] != 0.0 else 0.5
    V = alpha * nf[L.NF_V, q] + (1.0 - alpha) * X
    if uf > P[L.P_UF_CEIL]:
        V *= 0.5
    nf[L.NF_V, q] = V
    rho = P[L.P_CTSN_RHO]
    ctsn_on = P[L.P_CTSN_ON] != 0.0
    if ctsn_on:
        phi = math.tanh(nf[L.NF_CG, q] * X + nf[L.NF_CB, q])
        nf[L.NF_CLX, q] = X
        nf[L.NF_CLP, q] = phi
        h = rho * nf[L.NF_H, q] + (1.0 - rho) * phi
    else:
        h = 0.0
    nf[L.NF_H, q] = h
    st = V + h
    nf[L.NF_ST, q] = st
    # thresholds and readout on s̃
    raw_mod = msum
    raw_mod += k[5]
    # most neurons have no modulatory input, so their raw_mod is the step's constant: reuse its tanh
    d_meta = P[L.P_TH_MOD_K] * (k[6] if raw_mod == k[7] else math.tanh(raw_mod))
    d_homeo = P[L.P_HOMEO] * (rbar - target)
    r = nf[L.NF_R, q]
    th_pos = P[L.P_TH_EXC] - d_meta + d_homeo + fast_shift - 0.1 * r
    th_neg = P[L.P_TH_INH] - d_meta + d_homeo + fast_shift + 0.1 * r
    new = 0
    if st > th_pos:
        new = 1
    elif st < th_neg:
        new = -1
    ni[L.NI_PREV, q] = s_old
    ni[L.NI_S, q] = new
    if P[L.P_CTSN_LEARN] != 0.0 and ctsn_on:
        e = target - rbar
        xl = nf[L.NF_CLX, q]
        phi = nf[L.NF_CLP, q]
        dphi = 1.0 - phi * phi
        scale = 1.0 - rho
        lr = P[L.P_CTSN_LR]
        gclip = P[L.P_CTSN_GCLIP]
        bclip = P[L.P_CTSN_BCLIP]
        nf[L.NF_CG, q] = _max(-gclip, _min(gclip, nf[L.NF_CG, q] + lr * e * scale * dphi * xl))
        nf[L.NF_CB, q] = _max(-bclip, _min(bclip, nf[L.NF_CB, q] + lr * e * scale * dphi))
    # adaptation, autoreceptor, astrocyte from the new trit; health
    a = nf[L.NF_A, q]
    nf[L.NF_A, q] = a + k[8] * (-a + 0.1 * abs(new))
    nf[L.NF_R, q] = r + k[9] * (-r + 0.2 * new)
    if P[L.P_AG_ON] != 0.0:
        la = P[L.P_AG_LA]
        nf[L.NF_ASTRO, q] = la * nf[L.NF_ASTRO, q] + (1.0 - la) * abs(st)
    if abs(V) / 2.0 < 0.01:
        nf[L.NF_HEALTH, q] -= P[L.P_HEALTH_DECAY] * dt
    else:
        nf[L.NF_HEALTH, q] = _min(1.0, nf[L.NF_HEALTH, q] + 0.0005 * dt)
    if ni[L.NI_TYPE, q] == L.HIDDEN and nf[L.NF_HEALTH, q] < P[L.P_NEURON_DEATH_TH]:
        if R.random(mt) < 0.001:
            ni[L.NI_ACTIVE, q] = 0
    return new


@njit
def step(P, nf, ni, dbuf, dkern, bpot, sf, si, lpos, idx, perm, gs, gi, rp, osc, oband,  # type: ignore[no-untyped-def]
         mt, gcache, ext_row, counts):
    """One upstream ``simulate_step`` in place (model §2.3 steps 1-9).

    ``ext_row`` float64[N] external currents (length 0 for none). ``counts`` int64[6] receives,
    after the neuron pass, (#+1, #-1, #updated) over active neurons, then the same over active
    non-input neurons (the criticality counters). Synapse arrays need room for one more synapse
    when formation is on.
    """
    N = nf.shape[1]
    B = bpot.shape[1]
    dt = P[L.P_DT]
    s = ni[L.NI_S]
    prev = ni[L.NI_PREV]
    ntype = ni[L.NI_TYPE]
    active = ni[L.NI_ACTIVE]
    src = ni[L.NI_SRC]
    n_syn = gi[L.GI_NSYN]

    # 1. activity of the states left by the previous step (inputs: the values just set)
    n_act = 0
    n_abs = 0
    n_exc = 0
    n_chg = 0
    for i in range(N):
        if active[i]:
            v = s[i]
            n_act += 1
            n_abs += abs(v)
            if v == 1:
                n_exc += 1
            if v != prev[i]:
                n_chg += 1
            src[i] = v
        else:
            src[i] = L.SKIP
    mean = exc = chg = 0.0
    if n_act > 0:
        mean = n_abs / n_act
        exc = n_exc / n_act
        chg = n_chg / n_act
    # 2-3. neuromodulators, receptors, oscillators
    _neuromodulators(gs, P, mean, exc, chg)
    _receptors(gs, rp, P[L.P_RCAP])
    for b in range(osc.shape[1]):
        osc[L.OSC_PHASE, b] = py_mod(osc[L.OSC_PHASE, b] + _TWO_PI * osc[L.OSC_FREQ, b] * dt / 1000.0, _TWO_PI)

    # 4-5. gather (from the pre-step trits in ``src``) and neurons, in id order
    has_ext = ext_row.shape[0] > 0
    chrono_on = P[L.P_CH_ON] != 0.0
    lam_f = P[L.P_CH_LF]
    lam_s = P[L.P_CH_LS]
    dend_th = P[L.P_DEND_TH]
    gamma = P[L.P_DEND_GAMMA]
    th_exc = P[L.P_TH_EXC]
    spont_p = (P[L.P_SPONT] + 0.3 * gs[L.G_RECEPTOR + L.R_ALPHA2]) * dt
    coupling = gs[L.G_COUPLING]
    infra = osc[L.OSC_AMP, oband[0]] * math.sin(osc[L.OSC_PHASE, oband[0]])  # the same for every neuron
    consts = _step_constants(P, gs)
    counts[:] = 0
    for q in range(N):
        if not active[q]:
            continue
        ext = ext_row[q] if has_ext else 0.0
        if ntype[q] == L.INPUT:
            prev[q] = s[q]
            if ext != 0.0:  # upstream's set_state(round(clip(ext)))
                v = round_trit(ext)
                s[q] = v
                nf[L.NF_V, q] = v * th_exc
                nf[L.NF_ST, q] = nf[L.NF_V, q] + nf[L.NF_H, q]
            new = s[q]
        else:
            D = _dendrites(q, B, idx, sf, si, src, bpot, chrono_on, lam_f, lam_s, dend_th, gamma)
            msum = _modulatory_sum(q, idx, perm, sf, si, src)
            drive = _drive(osc, oband, coupling, q, N, infra)
            # the kick is drawn inside upstream's update, after MSTH; nothing before it draws
            spont = 0.0
            if R.random(mt) < spont_p:
                spont = R.gauss(mt, gcache, 0.0, 0.3)
            new = _neuron(q, D, msum, ext, drive, spont, P, nf, ni, dbuf, dkern, mt, consts)
            if new == 1:
                counts[3] += 1
            elif new == -1:
                counts[4] += 1
            counts[5] += 1
        if new == 1:
            counts[0] += 1
        elif new == -1:
            counts[1] += 1
        counts[2] += 1

    # 6-7. synapses in (post, branch) segments, list order inside each; homeostatic scaling
    n_pruned, n_cand = SY.plasticity(P, nf, ni, sf, si, idx, gs, perm, n_syn)
    if n_cand > 0:
        SY.unsilence(perm, n_cand, lpos, si, mt)

    # 8. structure
    n_syn = _structure(P, nf, ni, sf, si, lpos, idx, perm, gi, n_syn, n_pruned, B, mt)

    # 9. energy, time
    firing = 0
    for i in range(N):
        if active[i] and s[i] != 0:
            firing += 1
    gs[L.G_ENERGY] += 0.01 * firing * dt
    gs[L.G_TIME] += dt
    gi[L.GI_STEPS] += 1
    gi[L.GI_NSYN] = n_syn


@njit
def _structure(P, nf, ni, sf, si, lpos, idx, perm, gi, n_syn, n_pruned, B, mt):  # type: ignore[no-untyped-def]
    """Pruning, the second death check, formation, index and branch_index upkeep; returns n_syn."""
    N = nf.shape[1]
    active = ni[L.NI_ACTIVE]
    ntype = ni[L.NI_TYPE]
    changed = False
    if n_pruned > 0:
        n_syn = S.compact(sf, si, lpos, n_syn, P[L.P_INTEG_TH])
        gi[L.GI_NMOD] = S.rebuild_index(si, lpos, n_syn, N, idx, perm)
        changed = True
    death_th = P[L.P_NEURON_DEATH_TH]
    slow_sum = 0.0
    n_hidden = 0
    for i in range(N):
        if ntype[i] == L.HIDDEN and active[i]:
            if nf[L.NF_HEALTH, i] < death_th:
                if R.random(mt) < 0.001:
                    active[i] = 0
                    continue
            slow_sum += nf[L.NF_SS, i]
            n_hidden += 1
    avg_slow = slow_sum / n_hidden if n_hidden > 0 else 0.0
    if R.random(mt) < P[L.P_FORM_P] * (1.0 + avg_slow):
        n_act = 0
        for i in range(N):
            if active[i]:
                n_act += 1
        if n_act >= 2:
            pre = _nth_active(active, R.randbelow(mt, n_act))
            post = _nth_active(active, R.randbelow(mt, n_act))
            if (pre != post and not (ntype[pre] == L.OUTPUT and ntype[post] == L.INPUT)
                    and not S.exists(si, idx, pre, post)):
                branch, wf, ws, wm, silent, modul = S.draw_synapse(mt, P, B)
                n_syn = S.insert(sf, si, lpos, idx, n_syn, pre, post, branch, wf, ws, wm, silent, modul,
                                 gi[L.GI_NEXT_LPOS])
                gi[L.GI_NEXT_LPOS] += 1
                gi[L.GI_NMOD] = S.rebuild_index(si, lpos, n_syn, N, idx, perm)
                changed = True
    if changed or gi[L.GI_RANKS_STALE]:
        S.rank_branches(si, n_syn)
        gi[L.GI_RANKS_STALE] = 0
    return n_syn


@njit(alloc=False)
def _nth_active(active, n):  # type: ignore[no-untyped-def]
    c = 0
    for i in range(active.shape[0]):
        if active[i]:
            if c == n:
                return i
            c += 1
    return -1


@njit
def run(P, nf, ni, dbuf, dkern, bpot, sf, si, lpos, idx, perm, gs, gi, rp, osc, oband,  # type: ignore[no-untyped-def]
        mt, gcache, clamp, ext, n_steps, rec_states, rec_V, rec_st, rec_nsyn, rec_nm, rec_counts):
    """Advance one network ``n_steps`` steps in place.

    ``clamp`` int8[T, k] (T is 0 or ``n_steps``): before step t, input neuron i < k with
    ``clamp[t, i] != NO_CLAMP`` is set as upstream's ``set_input_states`` does (prev ← s, s ← trit,
    V ← trit·θ_exc, s̃ ← V + h). ``ext`` float64[T, N] (T is 0 or ``n_steps``): external currents.
    ``rec_*`` (first dimension 0 to skip): trits int8[T, N], V and s̃ float64[T, N], synapse count
    int64[T], flat neuromodulator levels float64[T, 4] (tonic + phasic) and the criticality counts
    int64[T, 6] of :func:`step`, after each step.
    """
    N = nf.shape[1]
    th_exc = P[L.P_TH_EXC]
    no_ext = np.zeros(0)
    counts = np.zeros(6, dtype=np.int64)
    for t in range(n_steps):
        if clamp.shape[0] > 0:
            for i in range(clamp.shape[1]):
                v = clamp[t, i]
                if v != NO_CLAMP:
                    ni[L.NI_PREV, i] = ni[L.NI_S, i]
                    ni[L.NI_S, i] = v
                    nf[L.NF_V, i] = v * th_exc
                    nf[L.NF_ST, i] = nf[L.NF_V, i] + nf[L.NF_H, i]
        ext_row = ext[t] if ext.shape[0] > 0 else no_ext
        step(P, nf, ni, dbuf, dkern, bpot, sf, si, lpos, idx, perm, gs, gi, rp, osc, oband, mt, gcache, ext_row,
             counts)
        if rec_states.shape[0] > 0:
            rec_states[t, :] = ni[L.NI_S]
        if rec_V.shape[0] > 0:
            rec_V[t, :] = nf[L.NF_V]
        if rec_st.shape[0] > 0:
            rec_st[t, :] = nf[L.NF_ST]
        if rec_nsyn.shape[0] > 0:
            rec_nsyn[t] = gi[L.GI_NSYN]
        if rec_nm.shape[0] > 0:
            for m in range(4):
                rec_nm[t, m] = gs[L.G_TONIC + m] + gs[L.G_PHASIC + m]
        if rec_counts.shape[0] > 0:
            rec_counts[t, :] = counts
    return N
