"""Numba kernels for Neuraxon v2 dynamics (reference/neuraxon-model.md §2.3), exact mode.

:func:`step` is one upstream ``simulate_step`` on the arrays of :mod:`engine.neuraxon_v2_layout`;
:func:`run` applies an input clamp and external currents per step and records what was asked.

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
from engine._jit import njit
from engine.neuraxon_kernels import NO_CLAMP, synapse_label

_TWO_PI = 2.0 * math.pi


@njit
def _min(a, b):  # type: ignore[no-untyped-def]
    """Python's ``min(a, b)`` (the first argument wins ties and NaN comparisons)."""
    return b if b < a else a


@njit
def _max(a, b):  # type: ignore[no-untyped-def]
    """Python's ``max(a, b)``."""
    return b if b > a else a


@njit
def _clip(x, lo, hi):  # type: ignore[no-untyped-def]
    """``max(lo, min(hi, x))``, upstream's clipping idiom."""
    return _max(lo, _min(hi, x))


@njit
def _float_mod(x, m):  # type: ignore[no-untyped-def]
    """Python's float ``x % m``: the remainder takes the sign of ``m``."""
    r = np.fmod(x, m)
    if r != 0.0:
        if (m < 0.0) != (r < 0.0):
            r += m
    else:
        r = math.copysign(0.0, m)
    return r


@njit
def _trit_of(x):  # type: ignore[no-untyped-def]
    """``int(max(-1, min(1, round(x))))`` with Python's round-half-to-even."""
    f = math.floor(x)
    frac = x - f
    r = f
    if frac > 0.5 or (frac == 0.5 and np.fmod(f, 2.0) != 0.0):
        r = f + 1.0
    if r >= 1.0:
        return 1
    if r <= -1.0:
        return -1
    return 0


@njit
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


@njit
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


@njit(inline="always")
def _drive(osc, oband, coupling, i, N, infra):  # type: ignore[no-untyped-def]
    """Oscillator drive of neuron ``i``: theta-gated gamma, slow, and the (per-step) infraslow term."""
    phi = _TWO_PI * i / max(N, 1)
    bs, bt, bg = oband[1], oband[2], oband[3]
    gate = _max(0.0, math.cos(osc[L.OSC_PHASE, bt] + phi))
    gamma = osc[L.OSC_AMP, bg] * gate * math.sin(osc[L.OSC_PHASE, bg] + 2.0 * phi)
    slow = osc[L.OSC_AMP, bs] * math.sin(osc[L.OSC_PHASE, bs] + 0.3 * phi)
    return coupling * (gamma + 0.5 * slow + 0.3 * infra)


@njit(inline="always")
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


@njit(inline="always")
def _modulatory_sum(q, idx, perm, sf, si, src):  # type: ignore[no-untyped-def]
    m = 0.0
    for j in range(idx[1, q], idx[1, q + 1]):
        k = perm[0, j]
        if sf[L.SF_INTEG, k] > 0.0 and src[si[L.SI_PRE, k]] != L.SKIP:
            w = sf[L.SF_WM, k]
            if w != 0.0:
                m += w
    return m


@njit(inline="always")
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


@njit
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


@njit(inline="always")
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
def _warp(z, omega, s_pre, as_, gnorm, rclip, omin, omax, beta):  # type: ignore[no-untyped-def]
    """The learned warp of ChronoPlasticity (Eq 7, stabilised): returns (new ω, αs^ω)."""
    zg = z if gnorm <= 0.0 else math.tanh(z / gnorm)
    raw = 2.0 * s_pre + 1.5 * zg - 1.0
    if rclip > 0.0:
        raw = _max(-rclip, _min(rclip, raw))
    new_omega = _max(omin, _min(omax, 1.0 / (1.0 + math.exp(-raw))))
    omega = (1.0 - beta) * omega + beta * new_omega
    return omega, as_ ** omega


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
        osc[L.OSC_PHASE, b] = _float_mod(osc[L.OSC_PHASE, b] + _TWO_PI * osc[L.OSC_FREQ, b] * dt / 1000.0, _TWO_PI)

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
                v = _trit_of(ext)
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
    n_pruned, n_cand = _plasticity(P, nf, ni, sf, si, idx, gs, perm, n_syn)
    if n_cand > 0:
        _unsilence(perm, n_cand, lpos, si, mt)

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
def _plasticity(P, nf, ni, sf, si, idx, gs, perm, n_syn):  # type: ignore[no-untyped-def]
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
                            om, pw = _warp(z, om, float(sp), as_, gnorm, rclip, omin, omax, beta)
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
def _unsilence(perm, n_cand, lpos, si, mt):  # type: ignore[no-untyped-def]
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


@njit
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
