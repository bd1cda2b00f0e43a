"""A Neuraxon v2 network (upstream ``neuraxon2.py``) as structure-of-arrays, stepped by numba kernels.

>>> net = NetworkV2.from_reference_json(json.load(open("v2_det_small_init.json")))
>>> net.set_input_states([1, -1, 0])
>>> net.step({5: 0.7})
>>> net.states, net.potentials, net.state_tilde, net.n_synapses, net.neuromodulators

``NetworkV2.build(params, rng=seed)`` builds a fresh network exactly as upstream's constructor does
after ``random.seed(seed)`` (topology, weights, oscillator phases), and the network then draws its
stochastic parts from the same CPython-compatible generator (:mod:`engine.cpython_random`), so a
seeded upstream run is reproduced draw for draw. ``step`` is one ``simulate_step``; ``run``
advances many steps in one kernel call with a per-step input clamp, external currents and records.

The kernel-level API (for tasks that step networks inside their own numba loops) is
:func:`engine.neuraxon_v2_kernels.step` on :meth:`NetworkV2.kernel_args`.
"""

from __future__ import annotations

import math
import random as _pyrandom
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import cpython_random as R
from engine import cpython_set as CS
from engine import neuraxon_v2_kernels as K2
from engine import neuraxon_v2_layout as L
from engine import neuraxon_v2_structure as S
from engine.neuraxon_drive import EMPTY_CLAMP, EMPTY_EXT, drive_arrays, external_row, trit_row
from engine.neuraxon_kernels import NO_CLAMP
from engine.neuraxon_params import NetworkFormatError
from engine.neuraxon_v2_json import ParsedV2, emit_network, parse_network
from engine.neuraxon_v2_params import NetworkParametersV2, default_receptors

__all__ = ["NetworkFormatError", "NetworkParametersV2", "NetworkV2", "Rng", "RunRecordV2", "first_mismatch"]

#: What a generator argument may be: a seed for ``random.seed`` (int, str, bytes), a
#: ``random.Random`` to copy, an ``(mt, gauss)`` state pair, or None (seed 0).
Rng = int | str | bytes | _pyrandom.Random | tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]] | None

_RECORDS = ("states", "potentials", "state_tilde", "n_syn", "neuromod", "counts")


@dataclass
class RunRecordV2:
    """Per-step records of :meth:`NetworkV2.run` (arrays are empty when not requested).

    states int8[T, N]; potentials and state_tilde float64[T, N]; n_syn int64[T]; neuromod
    float64[T, 4] (DA, 5HT, ACh, NA, tonic + phasic); counts int64[T, 6] = (#+1, #-1, #updated)
    over active neurons, then over active non-input neurons (``counts[:, :3]`` and
    ``counts[:, 3:]`` suit :func:`engine.activity.activity_measures`).
    """

    states: npt.NDArray[np.int8]
    potentials: npt.NDArray[np.float64]
    state_tilde: npt.NDArray[np.float64]
    n_syn: npt.NDArray[np.int64]
    neuromod: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]


def _rng_state(rng: Rng) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64]]:
    if rng is None:
        return R.seed_state(0)
    if isinstance(rng, _pyrandom.Random):
        return R.state_from_python(rng)
    if isinstance(rng, tuple):
        mt, cache = rng
        if mt.dtype != np.uint32 or mt.shape != (R.STATE_WORDS,) or cache.shape != (1,):
            raise ValueError(f"rng state must be (uint32[{R.STATE_WORDS}], float64[1])")
        return mt.copy(), np.asarray(cache, dtype=np.float64).copy()
    return R.seed_state(rng)


@dataclass
class NetworkV2:
    """One network; the synapse arrays hold ``n_synapses`` entries plus spare capacity."""

    params: NetworkParametersV2
    P: npt.NDArray[np.float64]
    nf: npt.NDArray[np.float64]
    ni: npt.NDArray[np.int8]
    dbuf: npt.NDArray[np.float64]
    dkern: npt.NDArray[np.float64]
    bpot: npt.NDArray[np.float64]
    sf: npt.NDArray[np.float64]
    si: npt.NDArray[np.int32]
    lpos: npt.NDArray[np.int64]
    idx: npt.NDArray[np.int64]
    perm: npt.NDArray[np.int64]
    gs: npt.NDArray[np.float64]
    gi: npt.NDArray[np.int64]
    rp: npt.NDArray[np.float64]
    osc: npt.NDArray[np.float64]
    oband: npt.NDArray[np.int64]
    bands: tuple[str, ...]
    mt: npt.NDArray[np.uint32]
    gcache: npt.NDArray[np.float64]

    # ----------------------------------------------------------------- construction
    @classmethod
    def _from_parsed(cls, p: ParsedV2, rng: Rng, spare: int = 0) -> NetworkV2:
        S_ = p.sf.shape[1]
        N = p.nf.shape[1]
        order = S.sorted_order(p.si[L.SI_POST], p.si[L.SI_BRANCH])
        cap = max(S_ + spare, 1)
        sf = np.zeros((L.SF, cap))
        si = np.zeros((L.SI, cap), dtype=np.int32)
        lpos = np.zeros(cap, dtype=np.int64)
        sf[:, :S_] = p.sf[:, order]
        si[:, :S_] = p.si[:, order]
        lpos[:S_] = order
        idx = np.zeros((2, N + 1), dtype=np.int64)
        perm = np.zeros((2, cap), dtype=np.int64)
        gi = np.zeros(L.GI, dtype=np.int64)
        gi[L.GI_STEPS] = p.step_count
        gi[L.GI_NSYN] = S_
        gi[L.GI_NEXT_LPOS] = S_
        gi[L.GI_RANKS_STALE] = 1  # upstream re-ranks at the end of every step; loaded ranks may differ
        gi[L.GI_NMOD] = S.rebuild_index(si, lpos, S_, N, idx, perm)
        oband = np.array([p.bands.index(name) for name in L.DRIVE_BANDS], dtype=np.int64)
        mt, cache = _rng_state(rng)
        return cls(p.params, p.params.vector(), p.nf.copy(), p.ni.copy(), p.dbuf.copy(), p.dkern.copy(),
                   p.bpot.copy(), sf, si, lpos, idx, perm, p.gs.copy(), gi, p.rp.copy(), p.osc.copy(), oband,
                   p.bands, mt, cache)

    @classmethod
    def from_reference_json(cls, obj: Any, *, rng: Rng = None) -> NetworkV2:
        """A network from a v2 JSON object (upstream ``to_dict``/``save_network`` or a vectors dump).

        Raises :class:`NetworkFormatError` naming the field for malformed or inconsistent data.
        ``rng`` seeds the generator of the stochastic parts (default: ``random.seed(0)``'s state).
        """
        return cls._from_parsed(parse_network(obj), rng)

    @classmethod
    def build(cls, params: NetworkParametersV2 | None = None, *, rng: Rng = None,
              unsilence: bool = False) -> NetworkV2:
        """A fresh network as upstream's ``NeuraxonNetwork(params)`` builds it after ``random.seed``.

        ``rng``: a seed (what ``random.seed`` accepts), a ``random.Random``, or an ``(mt, gauss)``
        state; construction consumes it exactly as upstream does and the network keeps drawing from
        it. ``unsilence``: clear every ``is_silent`` flag and recompute the labels, as the
        deterministic vectors do (there is no parameter for upstream's un-silencing draw).
        """
        p = params or NetworkParametersV2()
        mt, cache = _rng_state(rng)
        N, B, K = p.n_neurons, p.num_dendritic_branches, p.dsn_kernel_size
        max_edges = N * 2 * max(min(p.ws_k, N - 1) // 2, 1)
        phases, pre, post, branch, wf, ws, wm, silent, modul = S.construct(
            p.num_input_neurons, p.num_hidden_neurons, p.num_output_neurons, B, p.ws_k, p.ws_beta, p.vector(),
            len(L.DEFAULT_BANDS), mt, CS.capacity(max_edges))
        if unsilence:
            silent[:] = False
        n_syn = pre.shape[0]
        sf = np.zeros((L.SF, n_syn))
        sf[L.SF_WF], sf[L.SF_WS], sf[L.SF_WM] = wf, ws, wm
        sf[L.SF_INTEG] = 1.0
        sf[L.SF_OMEGA] = 0.5
        si = np.zeros((L.SI, n_syn), dtype=np.int32)
        si[L.SI_PRE], si[L.SI_POST], si[L.SI_BRANCH] = pre, post, branch
        si[L.SI_SILENT], si[L.SI_MODUL] = silent, modul
        si[L.SI_STYPE] = S.labels(silent, modul, wf, ws)
        nf = np.zeros((L.NF, N))
        nf[L.NF_ALPHA] = 0.5
        nf[L.NF_CG] = p.ctsn_phi_gain
        nf[L.NF_CB] = p.ctsn_phi_bias
        nf[L.NF_RBAR] = p.target_firing_rate
        nf[L.NF_HEALTH] = 1.0
        nf[L.NF_MG] = 1.0
        ni = np.zeros((L.NI, N), dtype=np.int8)
        ni[L.NI_TYPE] = np.repeat(np.array([L.INPUT, L.HIDDEN, L.OUTPUT], dtype=np.int8),
                                  [p.num_input_neurons, p.num_hidden_neurons, p.num_output_neurons])
        ni[L.NI_ACTIVE] = 1
        gs = np.zeros(L.G)
        gs[L.G_TONIC:L.G_TONIC + 4] = p.baselines()
        gs[L.G_COUPLING] = p.oscillator_coupling
        osc = np.zeros((3, len(L.DEFAULT_BANDS)))
        osc[L.OSC_FREQ] = [f for _, f in L.DEFAULT_BANDS]
        osc[L.OSC_PHASE] = phases
        osc[L.OSC_AMP] = 1.0
        parsed = ParsedV2(p, nf, ni, np.zeros((N, K)), np.tile(np.array(p.kernel), (N, 1)), np.zeros((N, B)),
                          sf, si, gs, default_receptors(p), osc, tuple(name for name, _ in L.DEFAULT_BANDS), 0)
        net = cls._from_parsed(parsed, (mt, cache))
        S.rank_branches(net.si, n_syn)  # upstream assigns positions in its constructor
        net.gi[L.GI_RANKS_STALE] = 0
        return net

    def copy(self) -> NetworkV2:
        arrays = {name: getattr(self, name).copy() for name in
                  ("P", "nf", "ni", "dbuf", "dkern", "bpot", "sf", "si", "lpos", "idx", "perm", "gs", "gi", "rp",
                   "osc", "oband", "mt", "gcache")}
        return replace(self, **arrays)

    # ----------------------------------------------------------------- views
    @property
    def n_neurons(self) -> int:
        return int(self.nf.shape[1])

    @property
    def n_inputs(self) -> int:
        return self.params.num_input_neurons

    @property
    def n_synapses(self) -> int:
        return int(self.gi[L.GI_NSYN])

    @property
    def states(self) -> npt.NDArray[np.int8]:
        """Trits int8[N] in id order (a copy)."""
        return self.ni[L.NI_S].copy()

    @property
    def potentials(self) -> npt.NDArray[np.float64]:
        """States V (upstream's ``state``/``membrane_potential``) float64[N] (a copy)."""
        return self.nf[L.NF_V].copy()

    @property
    def state_tilde(self) -> npt.NDArray[np.float64]:
        """Read-out variable s̃ = V + h float64[N] (a copy)."""
        return self.nf[L.NF_ST].copy()

    @property
    def dsn_alpha(self) -> npt.NDArray[np.float64]:
        """Last DSN decay factor α float64[N] (a copy)."""
        return self.nf[L.NF_ALPHA].copy()

    @property
    def output_states(self) -> list[int]:
        """Upstream's ``get_output_states()``: trits of the active output neurons, in id order."""
        out = self.ni[L.NI_TYPE] == L.OUTPUT
        return [int(v) for v, a in zip(self.ni[L.NI_S][out], self.ni[L.NI_ACTIVE][out], strict=True) if a]

    @property
    def neuromodulators(self) -> dict[str, float]:
        """Flat levels (tonic + phasic) by upstream's names."""
        return {name: float(self.gs[L.G_TONIC + m] + self.gs[L.G_PHASIC + m])
                for m, name in enumerate(L.MODULATOR_NAMES)}

    @property
    def neuromodulator_levels(self) -> dict[str, dict[str, float]]:
        return {key: {"tonic": float(self.gs[L.G_TONIC + m]), "phasic": float(self.gs[L.G_PHASIC + m])}
                for m, key in enumerate(L.MODULATOR_KEYS)}

    @property
    def receptor_activations(self) -> dict[str, float]:
        """Activations computed in the last step (receptor name -> value)."""
        return {name: float(self.gs[L.G_RECEPTOR + r]) for r, name in enumerate(L.RECEPTOR_NAMES)}

    @property
    def energy(self) -> float:
        return float(self.gs[L.G_ENERGY])

    @property
    def time(self) -> float:
        return float(self.gs[L.G_TIME])

    @property
    def step_count(self) -> int:
        return int(self.gi[L.GI_STEPS])

    def python_random(self) -> _pyrandom.Random:
        """A ``random.Random`` in this network's generator state (a copy)."""
        return R.to_python(self.mt, self.gcache)

    def list_order(self) -> npt.NDArray[np.int64]:
        """Storage index of each synapse, in upstream's synapse-list order."""
        n = self.n_synapses
        return np.argsort(self.lpos[:n], kind="stable")

    def synapses(self) -> dict[str, npt.NDArray[Any]]:
        """Synapse fields in list order (copies): pre, post, branch, branch_index, w_fast, w_slow,
        w_meta, integrity, silent, modulatory, ..."""
        order = self.list_order()
        out: dict[str, npt.NDArray[Any]] = {}
        for name, row in (("pre", L.SI_PRE), ("post", L.SI_POST), ("branch", L.SI_BRANCH),
                          ("branch_index", L.SI_BIDX)):
            out[name] = self.si[row, order].astype(np.int64)
        out["silent"] = self.si[L.SI_SILENT, order].astype(np.bool_)
        out["modulatory"] = self.si[L.SI_MODUL, order].astype(np.bool_)
        for name, row in (("w_fast", L.SF_WF), ("w_slow", L.SF_WS), ("w_meta", L.SF_WM), ("integrity", L.SF_INTEG),
                          ("pre_trace", L.SF_PRE_TR), ("post_trace", L.SF_POST_TR), ("recent_delta_w", L.SF_RDW),
                          ("chrono_fast_trace", L.SF_F), ("chrono_slow_trace", L.SF_Z), ("chrono_omega", L.SF_OMEGA),
                          ("eligibility", L.SF_ELIG)):
            out[name] = self.sf[row, order].copy()
        return out

    def to_parsed(self) -> ParsedV2:
        order = self.list_order()
        return ParsedV2(self.params, self.nf, self.ni, self.dbuf, self.dkern, self.bpot, self.sf[:, order],
                        self.si[:, order], self.gs, self.rp, self.osc, self.bands, self.step_count)

    def to_reference_json(self, layout: str = "dump") -> dict[str, Any]:
        """The network as JSON: ``"dump"`` (the vectors' schema) or ``"save_network"`` (upstream)."""
        return emit_network(self.to_parsed(), layout)

    def kernel_args(self) -> tuple[Any, ...]:
        """``(P, nf, ni, dbuf, dkern, bpot, sf, si, lpos, idx, perm, gs, gi, rp, osc, oband, mt, gcache)``:
        the leading arguments of :func:`engine.neuraxon_v2_kernels.step` and ``run`` (live arrays)."""
        return (self.P, self.nf, self.ni, self.dbuf, self.dkern, self.bpot, self.sf, self.si, self.lpos, self.idx,
                self.perm, self.gs, self.gi, self.rp, self.osc, self.oband, self.mt, self.gcache)

    # ----------------------------------------------------------------- driving
    def set_input_states(self, trits: Sequence[int] | npt.NDArray[Any]) -> None:
        """Upstream's ``set_input_states``: per given input, prev ← s, s ← trit, V ← trit·θ_exc,
        s̃ ← V + h. Inputs hold their value through the following steps."""
        row = trit_row(trits, self.n_inputs)
        th = self.params.firing_threshold_excitatory
        for i, v in enumerate(row):
            if v == NO_CLAMP:
                continue
            self.ni[L.NI_PREV, i] = self.ni[L.NI_S, i]
            self.ni[L.NI_S, i] = v
            self.nf[L.NF_V, i] = int(v) * th
            self.nf[L.NF_ST, i] = self.nf[L.NF_V, i] + self.nf[L.NF_H, i]

    def modulate(self, name: str, level: float) -> None:
        """Upstream's ``modulate``: set a modulator's tonic level, clamped to [0, 1]."""
        keys = {**{n: m for m, n in enumerate(L.MODULATOR_NAMES)}, **{k: m for m, k in enumerate(L.MODULATOR_KEYS)}}
        if name not in keys:
            raise ValueError(f"modulate: unknown neuromodulator {name!r}")
        self.gs[L.G_TONIC + keys[name]] = max(0.0, min(1.0, float(level)))

    def step(self, external: Mapping[Any, float] | None = None) -> None:
        """One upstream ``simulate_step(external)``; ``external`` maps neuron id to current."""
        ext = EMPTY_EXT
        if external:
            ext = external_row(external, self.n_neurons)[None, :]
        self._run(1, EMPTY_CLAMP, ext, ())

    def run(self, n_steps: int, *, inputs: npt.ArrayLike | None = None,
            external: npt.ArrayLike | Sequence[Mapping[Any, float] | None] | None = None,
            record: Sequence[str] = ()) -> RunRecordV2:
        """Advance ``n_steps`` steps; the same as ``set_input_states`` + ``step`` per step.

        ``inputs``: trits [n_steps, k] (k <= inputs; None = no clamp) applied before each step.
        ``external``: float64 [n_steps, N] currents, or one mapping (or None) per step.
        ``record``: any of ``"states"``, ``"potentials"``, ``"state_tilde"``, ``"n_syn"``,
        ``"neuromod"``, ``"counts"``.
        """
        clamp, ext = drive_arrays(n_steps, inputs, external, self.n_inputs, self.n_neurons)
        return self._run(n_steps, clamp, ext, record)

    # ----------------------------------------------------------------- internals
    def reserve(self, extra: int) -> None:
        """Make room for ``extra`` more synapses (formation adds at most one per step); kernels
        called directly on :meth:`kernel_args` need it, ``run`` does it itself."""
        need = self.n_synapses + extra
        cap = self.lpos.shape[0]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap, 16)
        n = self.n_synapses
        sf = np.zeros((L.SF, new_cap))
        si = np.zeros((L.SI, new_cap), dtype=np.int32)
        lpos = np.zeros(new_cap, dtype=np.int64)
        perm = np.zeros((2, new_cap), dtype=np.int64)
        sf[:, :n], si[:, :n], lpos[:n], perm[:, :n] = self.sf[:, :n], self.si[:, :n], self.lpos[:n], self.perm[:, :n]
        self.sf, self.si, self.lpos, self.perm = sf, si, lpos, perm

    def _run(self, n_steps: int, clamp: npt.NDArray[np.int8], ext: npt.NDArray[np.float64],
             record: Sequence[str]) -> RunRecordV2:
        unknown = set(record) - set(_RECORDS)
        if unknown:
            raise ValueError(f"record: unknown item(s) {sorted(unknown)}")
        N, T = self.n_neurons, n_steps
        rec = RunRecordV2(
            np.zeros((T, N), dtype=np.int8) if "states" in record else EMPTY_CLAMP,
            np.zeros((T, N)) if "potentials" in record else EMPTY_EXT,
            np.zeros((T, N)) if "state_tilde" in record else EMPTY_EXT,
            np.zeros(T, dtype=np.int64) if "n_syn" in record else np.zeros(0, dtype=np.int64),
            np.zeros((T, 4)) if "neuromod" in record else EMPTY_EXT,
            np.zeros((T, 6), dtype=np.int64) if "counts" in record else np.zeros((0, 6), dtype=np.int64),
        )
        if T == 0:
            return rec
        if self.params.synapse_formation_prob > 0.0:
            self.reserve(T)  # formation adds at most one synapse per step
        K2.run(*self.kernel_args(), clamp, ext, T, rec.states, rec.potentials, rec.state_tilde, rec.n_syn,
               rec.neuromod, rec.counts)
        return rec


def _differs(got: float, want: Any, tol: float) -> bool:
    if isinstance(want, bool) or not isinstance(want, int | float):
        return True
    if tol > 0.0:
        return not abs(got - want) <= tol
    return float(got).hex() != float(want).hex()  # bit for bit (0.0 and -0.0 differ)


def _first_in_list(name: str, got: Sequence[float], want: Any, tol: float) -> str | None:
    if not isinstance(want, list):
        return f"{name}: expected a list in the trajectory, got {type(want).__name__}"
    if len(got) != len(want):
        return f"{name}: expected {len(want)} values, got {len(got)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if _differs(g, w, tol):
            return f"{name}[{i}]: expected {w!r}, got {g!r}"
    return None


def first_mismatch(net: NetworkV2, rec: Mapping[str, Any], *, float_tol: float = 0.0,
                   neuromod_tol: float = 0.0) -> str | None:
    """The first field of a reference trajectory record (tests/data/neuraxon-v2 schema) that ``net``
    does not reproduce, as ``"field[i]: expected X, got Y"``; None when every recorded field matches.

    Floats are compared bit for bit unless a tolerance is given (``float_tol`` for per-neuron and
    per-synapse values, ``neuromod_tol`` for levels, receptor activations and energy).
    """
    if "states" in rec and net.states.tolist() != rec["states"]:
        return _first_in_list("states", net.states.tolist(), rec["states"], 0.0) or "states: differ"
    if "n_syn" in rec and net.n_synapses != rec["n_syn"]:
        return f"n_syn: expected {rec['n_syn']!r}, got {net.n_synapses}"
    syn = net.synapses() if "w_fast" in rec or "w_slow" in rec or "w_fast_fsum" in rec else {}
    lists = (("potential", net.potentials), ("state_tilde", net.state_tilde), ("dsn_alpha", net.dsn_alpha),
             ("w_fast", syn.get("w_fast")), ("w_slow", syn.get("w_slow")))
    for name, values in lists:
        if name in rec:
            problem = _first_in_list(name, values.tolist(), rec[name], float_tol)  # type: ignore[union-attr]
            if problem:
                return problem
    for name in ("neuromod", "neuromod_levels", "receptors"):
        if name in rec and not isinstance(rec[name], dict):
            return f"{name}: expected an object in the trajectory, got {type(rec[name]).__name__}"
    scalars: list[tuple[str, float, Any]] = []
    for key, level in net.neuromodulators.items():
        scalars.append((f"neuromod.{key}", level, rec.get("neuromod", {}).get(key)))
    for key, comps in net.neuromodulator_levels.items():
        want = rec.get("neuromod_levels", {}).get(key)
        for comp, value in comps.items():
            scalars.append((f"neuromod_levels.{key}.{comp}", value, want.get(comp) if isinstance(want, dict) else None))
    for key, act in net.receptor_activations.items():
        scalars.append((f"receptors.{key}", act, rec.get("receptors", {}).get(key)))
    scalars.append(("energy", net.energy, rec.get("energy")))
    for key, values in (("w_fast_fsum", syn.get("w_fast")), ("w_slow_fsum", syn.get("w_slow"))):
        if values is not None:
            scalars.append((key, math.fsum(values.tolist()), rec.get(key)))
    for name, got, want in scalars:
        top = name.split(".")[0]
        if top in rec and _differs(got, want, neuromod_tol):
            return f"{name}: expected {want!r}, got {got!r}"
    return None
