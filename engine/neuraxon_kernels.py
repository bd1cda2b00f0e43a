"""Numba kernels for Neuraxon v1 dynamics (reference/neuraxon-model.md §1.3), exact mode.

State is structure-of-arrays. Neurons, in id order (inputs, hidden, outputs):
``V`` float64 membrane potential, ``s`` int8 trinary state, ``a`` float64 adaptation, ``r`` float64
autoreceptor, ``h`` float64 health, ``active`` bool, ``ntype`` int8 (:data:`INPUT`, :data:`HIDDEN`,
:data:`OUTPUT`). Synapses, in list order, the first ``n_syn`` entries of arrays with spare capacity:
``pre``/``post`` int32, ``wf``/``ws``/``wm`` float64 (w_fast, w_slow, w_meta), ``silent``/``modul``
bool, ``integ`` float64 integrity, ``pre_tr``/``post_tr`` float64 traces, ``stype`` int8 label.
Globals: ``nm`` float64[4] neuromodulators (DA, 5HT, ACh, NE) and ``base`` their baselines, ``P``
float64 parameter vector (indices ``P_*``), ``rng`` uint64[4] (:mod:`engine.rng`), ``clock``
float64[1] time and ``steps`` int64[1] step count.

Float operations follow the reference's expression order exactly (left-to-right sums in
synapse-list order, the same association in every update), so deterministic trajectories match
CPython to the last bit. A step is one gather pass, one neuron pass and one plasticity pass over the synapses;
compaction runs only on steps where some synapse falls below the integrity threshold.

Random draws come from ``rng`` in this order, and only for parts that are switched on: per active
neuron in id order, spontaneous firing (``random() < rate*dt``, then ``uniform(-0.5, 0.5)``) and
hidden-neuron death (``random() < 0.001`` when health is below threshold); per synapse in list
order, un-silencing (``random() < 0.01`` on a (+1, +1) coincidence); then formation
(``random() < p``, ``below(n_active)`` twice, and for a new synapse ``uniform`` for w_fast,
w_slow, w_meta, then ``random() < 0.1`` silent, ``random() < 0.2`` modulatory).
"""

from __future__ import annotations

import numpy as np

from engine._exact import exact_mul
from engine._jit import njit
from engine.rng import below, random, uniform

INPUT = 0
HIDDEN = 1
OUTPUT = 2

#: Synapse labels (``synapse_type`` in the reference JSON).
ST_FAST = 0
ST_SLOW = 1
ST_METABOTROPIC = 2
ST_SILENT = 3

#: Clamp value meaning "leave this input neuron alone".
NO_CLAMP = 127

# Indices into the parameter vector P.
P_DT = 0
P_TAU_M = 1
P_TH_EXC = 2
P_TH_INH = 3
P_SPONT = 4
P_HEALTH_DECAY = 5
P_TAU_FAST = 6
P_TAU_SLOW = 7
P_TAU_META = 8
P_LR = 9
P_STDP = 10
P_INTEG_TH = 11
P_FORM_P = 12
P_SYN_DEATH = 13
P_NEURON_DEATH_TH = 14
P_NM_DECAY = 15
P_WF_MIN = 16
P_WF_MAX = 17
P_WS_MIN = 18
P_WS_MAX = 19
P_WM_MIN = 20
P_WM_MAX = 21
# Mining-mode extensions (docs/neuraxon-task.md); their v1 values give exactly v1 arithmetic.
P_META_GAIN = 22  # plasticity scale per unit of meta signal (v1: 0)
P_META_LEVEL = 23  # current meta signal (arousal), set by the environment (v1: 0)
P_CONSOLIDATION = 24  # fraction of w_slow's leak removed (v1: 0; 1 = w_slow integrates Δ)
P_TRACES = 25  # 1 = update the (unused) pre/post traces as v1 does; 0 = skip them
N_PARAMS = 26

# Neuromodulator slots.
DA = 0
SER = 1
ACH = 2
NE = 3


@njit(alloc=False)
def synapse_label(silent: bool, modul: bool, wf: float, ws: float) -> int:
    """The reference's ``_determine_type``: silent, else metabotropic, else fast/slow by magnitude."""
    if silent:
        return ST_SILENT
    if modul:
        return ST_METABOTROPIC
    if abs(wf) > abs(ws):
        return ST_FAST
    return ST_SLOW


@njit(alloc=False)
def draw_synapses(rng, P, wf, ws, wm, silent, modul, stype):  # type: ignore[no-untyped-def]
    """Fill new synapses in list order: w_fast, w_slow, w_meta uniforms, silent, modulatory, label."""
    for k in range(wf.shape[0]):
        wf[k] = uniform(rng, P[P_WF_MIN], P[P_WF_MAX])
        ws[k] = uniform(rng, P[P_WS_MIN], P[P_WS_MAX])
        wm[k] = uniform(rng, P[P_WM_MIN], P[P_WM_MAX])
        silent[k] = random(rng) < 0.1
        modul[k] = random(rng) < 0.2
        stype[k] = synapse_label(silent[k], modul[k], wf[k], ws[k])


@njit(alloc=False)
def _clamp_states(row, s):  # type: ignore[no-untyped-def]
    for i in range(row.shape[0]):
        if row[i] != NO_CLAMP:
            s[i] = row[i]


@njit(alloc=False)
def _clamp_potentials(row, V, th_exc):  # type: ignore[no-untyped-def]
    for i in range(row.shape[0]):
        if row[i] != NO_CLAMP:
            V[i] = row[i] * th_exc


@njit(alloc=False)
def _compact(pre, post, wf, ws, wm, silent, modul, integ, pre_tr, post_tr, stype, n_syn, integ_th):  # type: ignore[no-untyped-def]
    """Stable in-place removal of synapses with integrity <= threshold; returns the new count."""
    j = 0
    for k in range(n_syn):
        if integ[k] > integ_th:
            if j != k:
                pre[j] = pre[k]
                post[j] = post[k]
                wf[j] = wf[k]
                ws[j] = ws[k]
                wm[j] = wm[k]
                silent[j] = silent[k]
                modul[j] = modul[k]
                integ[j] = integ[k]
                pre_tr[j] = pre_tr[k]
                post_tr[j] = post_tr[k]
                stype[j] = stype[k]
            j += 1
    return j


@njit(alloc=False)
def _neuron(V, I_i, M_i, ext_i, a, r, h, s_old, spont, k_m, th_exc, th_inh, ach, health_loss,  # type: ignore[no-untyped-def]
            health_gain, dt):
    """One neuron's update (model §1.3 step 2) on scalars; returns (V, a, r, h, new state).

    Scalars in, scalars out: numba reference-counts array arguments on every call, which would
    cost more than the arithmetic in a per-element helper.
    """
    # exact_mul: a product that feeds a sum is rounded on its own on every target (engine._exact)
    V += exact_mul(k_m, (((-V + I_i) + ext_i) - a) + spont)
    a += exact_mul(dt / 100.0, -a + exact_mul(0.1, abs(s_old)))
    r += exact_mul(dt / 200.0, -r + exact_mul(0.2, s_old))
    thmod = exact_mul(ach - 0.5, 0.5) + exact_mul(M_i, 0.3)
    th_p = th_exc - thmod - exact_mul(0.1, r)
    th_n = th_inh - thmod + exact_mul(0.1, r)
    new = 0
    if V > th_p:
        new = 1
    elif V < th_n:
        new = -1
    if abs(V) / 2.0 < 0.01:
        h -= health_loss
    else:
        h = min(1.0, h + health_gain)
    return V, a, r, h, new


@njit(alloc=False)
def _weights(sp, sq, f, sl, m, g, k_f, k_s, k_meta, d_pos, d_neg, ser, ws_leak,  # type: ignore[no-untyped-def]
             integ_loss, integ_gain):
    """One synapse's weight and integrity update (model §1.3 step 3); returns (wf, ws, wm, integrity).

    ``d_pos``/``d_neg`` are Δ for (+1,+1) and (+1,-1) (``±η·DA``, times the meta factor in mining
    mode); ``ws_leak`` is 1 in v1 and ``1 - consolidation`` in mining mode.
    """
    if sp == 1 and sq == 1:
        dw = d_pos
    elif sp == 1 and sq == -1:
        dw = d_neg
    else:
        dw = 0.0
    f = f + exact_mul(k_f, -f + exact_mul(dw, 0.3))
    f = max(-1.0, min(1.0, f))
    sl = sl + exact_mul(k_s, -exact_mul(sl, ws_leak) + exact_mul(dw, 0.1))
    sl = max(-1.0, min(1.0, sl))
    m = m + exact_mul(k_meta, -m + exact_mul(dw * 0.05, ser))
    m = max(-0.5, min(0.5, m))
    if abs(f) < 0.01 and abs(sl) < 0.01:
        g -= integ_loss
    else:
        g = min(1.0, g + integ_gain)
    return f, sl, m, g


@njit(alloc=False)
def gather(s, active, pre, post, wf, ws, wm, silent, modul, integ, n_syn, I, M):  # type: ignore[no-untyped-def]
    """Synaptic current ``I`` and modulatory sum ``M`` (float64[N]) from states ``s``, list order."""
    I[:] = 0.0
    M[:] = 0.0
    for k in range(n_syn):
        if integ[k] <= 0.0:
            continue
        p = pre[k]
        if not active[p]:
            continue
        q = post[k]
        if silent[k]:
            I[q] += 0.0
        else:
            I[q] += exact_mul(wf[k] + ws[k], s[p])
        if modul[k] and wm[k] != 0.0:
            M[q] += wm[k]


@njit(alloc=False)
def _nth_active(active, j):  # type: ignore[no-untyped-def]
    # id of the j-th active neuron (0-based, increasing ids); allocation-free, so CUDA compiles it too
    for i in range(active.shape[0]):
        if active[i]:
            if j == 0:
                return i
            j -= 1
    return -1


@njit(alloc=False)
def _form(active, ntype, pre, post, wf, ws, wm, silent, modul, integ, pre_tr, post_tr, stype,  # type: ignore[no-untyped-def]
          n_syn, P, rng):
    """Formation (model §1.3 step 5), after the ``random() < p`` draw succeeded.

    Returns the index of the new synapse (== old ``n_syn``), or -1 if none was added.
    """
    N = active.shape[0]
    n_act = 0
    for i in range(N):
        if active[i]:
            n_act += 1
    if n_act < 2:
        return -1
    p = _nth_active(active, below(rng, n_act))
    q = _nth_active(active, below(rng, n_act))
    if p == q or (ntype[p] == OUTPUT and ntype[q] == INPUT):
        return -1
    for k in range(n_syn):
        if pre[k] == p and post[k] == q:
            return -1
    k = n_syn
    pre[k] = p
    post[k] = q
    wf[k] = uniform(rng, P[P_WF_MIN], P[P_WF_MAX])
    ws[k] = uniform(rng, P[P_WS_MIN], P[P_WS_MAX])
    wm[k] = uniform(rng, P[P_WM_MIN], P[P_WM_MAX])
    silent[k] = random(rng) < 0.1
    modul[k] = random(rng) < 0.2
    integ[k] = 1.0
    pre_tr[k] = 0.0
    post_tr[k] = 0.0
    stype[k] = synapse_label(silent[k], modul[k], wf[k], ws[k])
    return k


@njit(alloc=False)
def step_once(V, s, a, r, h, active, ntype,  # type: ignore[no-untyped-def]
              pre, post, wf, ws, wm, silent, modul, integ, pre_tr, post_tr, stype, n_syn,
              nm, base, P, rng, I, M, ext_row, counts):
    """One ``simulate_step`` (model §1.3 steps 1-5) in place; returns the new synapse count.

    ``I``/``M`` float64[N] are scratch; ``ext_row`` float64[N] external currents, or length 0 for
    none. ``counts`` int64[6] receives (#+1, #-1, #updated) over all active neurons, then the same
    over non-input neurons. Synapse arrays need room for one more synapse when formation is on.
    The mining extensions in ``P`` (meta factor ``1 + P_META_GAIN·P_META_LEVEL``, consolidation,
    traces on/off) apply; at their v1 values the arithmetic is exactly v1's.
    """
    N = V.shape[0]
    dt = P[P_DT]
    k_m = dt / P[P_TAU_M]
    k_f = dt / P[P_TAU_FAST]
    k_s = dt / P[P_TAU_SLOW]
    k_meta = dt / P[P_TAU_META]
    th_exc = P[P_TH_EXC]
    th_inh = P[P_TH_INH]
    # loop-invariant products that later feed sums: exact_mul too, else ptxas may still fuse them
    spont_p = exact_mul(P[P_SPONT], dt)
    health_loss = exact_mul(P[P_HEALTH_DECAY], dt)
    health_gain = exact_mul(0.0005, dt)
    ndeath_th = P[P_NEURON_DEATH_TH]
    tw = P[P_STDP]
    integ_th = P[P_INTEG_TH]
    integ_loss = exact_mul(P[P_SYN_DEATH], dt)
    integ_gain = exact_mul(0.001, dt)
    meta_factor = 1.0 + exact_mul(P[P_META_GAIN], P[P_META_LEVEL])
    ws_leak = 1.0 - P[P_CONSOLIDATION]
    traces = P[P_TRACES] != 0.0
    has_ext = ext_row.shape[0] > 0

    gather(s, active, pre, post, wf, ws, wm, silent, modul, integ, n_syn, I, M)

    ach = nm[ACH]
    n_pos = n_neg = n_upd = ni_pos = ni_neg = ni_upd = 0
    for i in range(N):
        if not active[i]:
            continue
        spont = 0.0
        if spont_p > 0.0 and random(rng) < spont_p:
            spont = uniform(rng, -0.5, 0.5)
        ext_i = ext_row[i] if has_ext else 0.0
        V[i], a[i], r[i], h[i], new = _neuron(V[i], I[i], M[i], ext_i, a[i], r[i], h[i], s[i], spont, k_m,
                                              th_exc, th_inh, ach, health_loss, health_gain, dt)
        s[i] = new
        if ntype[i] == HIDDEN and h[i] < ndeath_th:
            if random(rng) < 0.001:
                active[i] = False
        if new == 1:
            n_pos += 1
        elif new == -1:
            n_neg += 1
        n_upd += 1
        if ntype[i] != INPUT:
            if new == 1:
                ni_pos += 1
            elif new == -1:
                ni_neg += 1
            ni_upd += 1

    counts[0] = n_pos
    counts[1] = n_neg
    counts[2] = n_upd
    counts[3] = ni_pos
    counts[4] = ni_neg
    counts[5] = ni_upd

    d_pos = lr_da = P[P_LR] * nm[DA]
    d_neg = -P[P_LR] * nm[DA]
    if meta_factor != 1.0:
        d_pos = lr_da * meta_factor
        d_neg *= meta_factor
    ser = nm[SER]
    n_pruned = 0
    for k in range(n_syn):
        p = pre[k]
        q = post[k]
        g = integ[k]
        if g > 0.0 and active[p] and active[q]:
            sp = s[p]
            sq = s[q]
            if traces:
                pre_tr[k] += exact_mul(-pre_tr[k] / tw + (1.0 if sp == 1 else 0.0), dt)
                post_tr[k] += exact_mul(-post_tr[k] / tw + (1.0 if sq == 1 else 0.0), dt)
            f, sl, m, g = _weights(sp, sq, wf[k], ws[k], wm[k], g, k_f, k_s, k_meta, d_pos, d_neg, ser,
                                   ws_leak, integ_loss, integ_gain)
            wf[k] = f
            ws[k] = sl
            wm[k] = m
            integ[k] = g
            if silent[k] and sp == 1 and sq == 1:
                if random(rng) < 0.01:
                    silent[k] = False
                    stype[k] = synapse_label(False, modul[k], f, sl)
        if not g > integ_th:
            n_pruned += 1

    for x in range(4):
        nm[x] += (base[x] - nm[x]) * P[P_NM_DECAY] * dt / 100.0

    if n_pruned > 0:
        n_syn = _compact(pre, post, wf, ws, wm, silent, modul, integ, pre_tr, post_tr, stype, n_syn, integ_th)
    form_p = P[P_FORM_P]
    if form_p > 0.0 and random(rng) < form_p:
        if _form(active, ntype, pre, post, wf, ws, wm, silent, modul, integ, pre_tr, post_tr, stype,
                 n_syn, P, rng) >= 0:
            n_syn += 1
    return n_syn


@njit
def run_v1(V, s, a, r, h, active, ntype,  # type: ignore[no-untyped-def]
           pre, post, wf, ws, wm, silent, modul, integ, pre_tr, post_tr, stype, n_syn_io,
           nm, base, P, rng, clock, steps,
           clamp, ext, n_steps,
           rec_states, rec_V, rec_nsyn, rec_nm, rec_counts):
    """Advance one network ``n_steps`` steps in place.

    ``clamp`` int8[T, k] (T is 0 or ``n_steps``): before step t, input neuron i < k with
    ``clamp[t, i] != NO_CLAMP`` gets ``s = clamp[t, i]`` and ``V = s * θ_exc`` (``set_input_states``).
    ``ext`` float64[T, N] (T is 0 or ``n_steps``): external current of each neuron at step t.
    Synapse arrays need capacity for one new synapse per step when formation is on.
    ``rec_*`` (first dimension 0 to skip): states int8[T, N], potentials float64[T, N], synapse
    count int64[T], neuromodulators float64[T, 4] and counts int64[T, 3] = (#s=+1, #s=-1, #active)
    after each step. Returns nothing; ``n_syn_io[0]``, ``clock`` and ``steps`` are updated.
    """
    N = V.shape[0]
    n_syn = n_syn_io[0]
    th_exc = P[P_TH_EXC]
    I = np.zeros(N)
    M = np.zeros(N)
    no_ext = np.zeros(0)
    counts = np.zeros(6, dtype=np.int64)
    for t in range(n_steps):
        if clamp.shape[0] > 0:
            _clamp_states(clamp[t], s)
            _clamp_potentials(clamp[t], V, th_exc)
        ext_row = ext[t] if ext.shape[0] > 0 else no_ext
        n_syn = step_once(V, s, a, r, h, active, ntype, pre, post, wf, ws, wm, silent, modul, integ,
                          pre_tr, post_tr, stype, n_syn, nm, base, P, rng, I, M, ext_row, counts)
        clock[0] += P[P_DT]
        steps[0] += 1
        if rec_states.shape[0] > 0:
            rec_states[t, :] = s
        if rec_V.shape[0] > 0:
            rec_V[t, :] = V
        if rec_nsyn.shape[0] > 0:
            rec_nsyn[t] = n_syn
        if rec_nm.shape[0] > 0:
            rec_nm[t, :] = nm
        if rec_counts.shape[0] > 0:
            rec_counts[t, :] = counts[:3]
    n_syn_io[0] = n_syn


_MAX_GAP = float(2**40)


@njit(alloc=False)
def _geometric_gap(rng, log_q):  # type: ignore[no-untyped-def]
    """Failures before the next success, capped (the cap exceeds any pair count we handle)."""
    g = np.floor(np.log(1.0 - random(rng)) / log_q)
    return int(min(g, _MAX_GAP))


@njit
def random_er_topology(n_in, n_hidden, n_out, p, rng):  # type: ignore[no-untyped-def]
    """Erdős–Rényi digraph in the reference's pair order, without self-loops or output→input.

    Pairs are visited as in v1's init (pre outer, post inner, ascending ids), but instead of one
    draw per pair the gaps between edges are drawn from the geometric distribution, so the cost is
    O(edges) rather than O(N²). Returns (pre int32[S], post int32[S]).
    """
    N = n_in + n_hidden + n_out
    out_start = n_in + n_hidden
    cap = 16
    pre = np.empty(cap, dtype=np.int32)
    post = np.empty(cap, dtype=np.int32)
    S = 0
    if p <= 0.0 or N < 2:
        return pre[:0].copy(), post[:0].copy()
    log_q = np.log1p(-p) if p < 1.0 else -np.inf
    skip = 0
    if p < 1.0:
        skip = _geometric_gap(rng, log_q)
    for i in range(N):
        start = n_in if i >= out_start else 0
        n_cand = N - start - (1 if i >= start else 0)
        j = skip
        while j < n_cand:
            q = start + j
            if q >= i >= start:
                q += 1
            if S == cap:
                cap *= 2
                pre2 = np.empty(cap, dtype=np.int32)
                post2 = np.empty(cap, dtype=np.int32)
                pre2[:S] = pre[:S]
                post2[:S] = post[:S]
                pre = pre2
                post = post2
            pre[S] = i
            post[S] = q
            S += 1
            if p < 1.0:
                j += 1 + _geometric_gap(rng, log_q)
            else:
                j += 1
        skip = j - n_cand
    return pre[:S].copy(), post[:S].copy()
