"""Parse and emit Neuraxon v2 networks as JSON (upstream's ``to_dict`` and the vectors' dump).

Two layouts are read and written:

* ``dump`` (tests/data/neuraxon-v2 ``*_init.json``): ``neurons`` is one list in id order with every
  neuron attribute (``state``, ``_dsn_last_x``, ``branch_potentials``, ...), synapses carry
  ``recent_delta_w``, and ``neuromodulator_levels`` / ``receptors`` are top-level keys;
* ``save_network`` (upstream ``NeuraxonNetwork.to_dict``): ``neurons`` grouped by type with
  ``membrane_potential``, levels and receptors under ``neuromodulator_system``. Upstream's own
  files lack a few carried variables; they take the value a fresh upstream object has. Written
  files carry every state variable, so either layout round-trips losslessly.

Synapse-list order is kept exactly (it fixes summation order). Everything is validated into arrays
first; :class:`NetworkFormatError` names the offending field (``synapses[12].branch_id: ...``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import neuraxon_v2_layout as L
from engine.neuraxon_json import (
    SYNAPSE_TYPE_NAMES,
    TYPE_NAMES,
    bool_field,
    int_field,
    neuron_records,
    number_field,
    object_field,
)
from engine.neuraxon_kernels import synapse_label
from engine.neuraxon_params import NetworkFormatError
from engine.neuraxon_v2_params import NetworkParametersV2, default_receptors

__all__ = ["ParsedV2", "emit_network", "parse_network"]

F64 = npt.NDArray[np.float64]

#: (JSON key, ``nf`` row, default or None for "from parameters") of the plain neuron floats.
_NEURON_FLOATS = (("adaptation", L.NF_A, 0.0), ("autoreceptor", L.NF_R, 0.0), ("complement_h", L.NF_H, 0.0),
                  ("state_tilde", L.NF_ST, 0.0), ("dsn_alpha", L.NF_ALPHA, 0.5),
                  ("_dsn_last_x", L.NF_DSN_LAST, 0.0), ("ctsn_phi_gain", L.NF_CG, None),
                  ("ctsn_phi_bias", L.NF_CB, None), ("_ctsn_last_x", L.NF_CLX, 0.0),
                  ("_ctsn_last_phi", L.NF_CLP, 0.0), ("firing_rate_avg", L.NF_RBAR, None),
                  ("astrocyte_state", L.NF_ASTRO, 0.0), ("health", L.NF_HEALTH, 1.0))
_MSTH = (("ultrafast_activity", L.NF_UF, 0.0), ("fast_excitability", L.NF_FE, 0.0), ("medium_gain", L.NF_MG, 1.0),
         ("slow_structural", L.NF_SS, 0.0))
#: (JSON key, ``sf`` row, default or None for "required") of the synapse floats.
_SYNAPSE_FLOATS = (("w_fast", L.SF_WF, None), ("w_slow", L.SF_WS, None), ("w_meta", L.SF_WM, None),
                   ("integrity", L.SF_INTEG, 1.0), ("pre_trace", L.SF_PRE_TR, 0.0),
                   ("post_trace", L.SF_POST_TR, 0.0), ("recent_delta_w", L.SF_RDW, 0.0),
                   ("chrono_fast_trace", L.SF_F, 0.0), ("chrono_slow_trace", L.SF_Z, 0.0),
                   ("chrono_omega", L.SF_OMEGA, 0.5), ("eligibility", L.SF_ELIG, 0.0))


@dataclass
class ParsedV2:
    """A validated network: neuron arrays in the kernel layout, synapses in *list* order.

    Shapes: ``nf`` float64[NF, N], ``ni`` int8[NI, N], ``dbuf``/``dkern`` float64[N, K], ``bpot``
    float64[N, B], ``sf`` float64[SF, S], ``si`` int32[SI, S], ``gs`` float64[G], ``rp``
    float64[9, RP], ``osc`` float64[3, bands] with ``bands`` names; ``step_count`` int.
    """

    params: NetworkParametersV2
    nf: F64
    ni: npt.NDArray[np.int8]
    dbuf: F64
    dkern: F64
    bpot: F64
    sf: F64
    si: npt.NDArray[np.int32]
    gs: F64
    rp: F64
    osc: F64
    bands: tuple[str, ...]
    step_count: int


def _float_list(rec: dict[str, Any], key: str, where: str, n: int, default: Any) -> list[float]:
    if key not in rec:
        return list(default)
    v = rec[key]
    if not isinstance(v, list) or len(v) != n or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v):
        raise NetworkFormatError(f"{where}.{key}: must be a list of {n} finite numbers")
    return [float(x) for x in v]


def _trit(rec: dict[str, Any], key: str, where: str, default: int) -> int:
    if key not in rec:
        return default
    v = int_field(rec, key, where)
    if v not in (-1, 0, 1):
        raise NetworkFormatError(f"{where}.{key}: must be -1, 0 or 1, got {v}")
    return v


def _neurons(obj: dict[str, Any], p: NetworkParametersV2) -> tuple[F64, npt.NDArray[np.int8], F64, F64, F64]:
    items = neuron_records(obj, p)
    N, K, B = len(items), p.dsn_kernel_size, p.num_dendritic_branches
    nf = np.zeros((L.NF, N))
    ni = np.zeros((L.NI, N), dtype=np.int8)
    dbuf = np.zeros((N, K))
    dkern = np.zeros((N, K))
    bpot = np.zeros((N, B))
    from_params = {L.NF_CG: p.ctsn_phi_gain, L.NF_CB: p.ctsn_phi_bias, L.NF_RBAR: p.target_firing_rate}
    for i, (where, code, rec) in enumerate(items):
        key = "state" if "state" in rec else "membrane_potential"
        nf[L.NF_V, i] = number_field(rec, key, where, default=0.0)
        for name, row, default in _NEURON_FLOATS:
            nf[row, i] = number_field(rec, name, where, default=from_params[row] if default is None else default)
        msth = object_field(rec.get("msth", {}), f"{where}.msth")
        for name, row, default in _MSTH:
            nf[row, i] = number_field(msth, name, f"{where}.msth", default=default)
        s = _trit(rec, "trinary_state", where, 0)
        ni[L.NI_S, i] = s
        ni[L.NI_PREV, i] = _trit(rec, "prev_state", where, s)
        ni[L.NI_TYPE, i] = code
        ni[L.NI_ACTIVE, i] = bool_field(rec, "is_active", where) if "is_active" in rec else True
        dbuf[i] = _float_list(rec, "dsn_input_buffer", where, K, [0.0] * K)
        dkern[i] = _float_list(rec, "dsn_kernel_weights", where, K, p.kernel)
        bpot[i] = _float_list(rec, "branch_potentials", where, B, [0.0] * B)
    return nf, ni, dbuf, dkern, bpot


def _synapses(obj: dict[str, Any], N: int, B: int) -> tuple[F64, npt.NDArray[np.int32]]:
    syns = obj.get("synapses")
    if not isinstance(syns, list):
        raise NetworkFormatError("synapses: missing or not a list")
    S = len(syns)
    sf = np.zeros((L.SF, S))
    si = np.zeros((L.SI, S), dtype=np.int32)
    for k, raw in enumerate(syns):
        where = f"synapses[{k}]"
        rec = object_field(raw, where)
        for key, row, limit in (("pre_id", L.SI_PRE, N), ("post_id", L.SI_POST, N), ("branch_id", L.SI_BRANCH, B)):
            v = int_field(rec, key, where)
            if not 0 <= v < limit:
                what = f"unknown neuron id {v} (network has {N})" if limit == N else \
                    f"must be in 0..{B - 1} (num_dendritic_branches is {B}), got {v}"
                raise NetworkFormatError(f"{where}.{key}: {what}")
            si[row, k] = v
        si[L.SI_BIDX, k] = int_field(rec, "branch_index", where) if "branch_index" in rec else 0
        for key, row, default in _SYNAPSE_FLOATS:
            sf[row, k] = number_field(rec, key, where, default=default)
        silent = bool_field(rec, "is_silent", where)
        modul = bool_field(rec, "is_modulatory", where)
        si[L.SI_SILENT, k] = silent
        si[L.SI_MODUL, k] = modul
        label = rec.get("synapse_type")
        if label is None:
            si[L.SI_STYPE, k] = synapse_label(silent, modul, sf[L.SF_WF, k], sf[L.SF_WS, k])
        elif label in SYNAPSE_TYPE_NAMES:
            si[L.SI_STYPE, k] = SYNAPSE_TYPE_NAMES.index(label)
        else:
            raise NetworkFormatError(f"{where}.synapse_type: must be one of {SYNAPSE_TYPE_NAMES}, got {label!r}")
    return sf, si


def _levels(obj: dict[str, Any], system: dict[str, Any], p: NetworkParametersV2, gs: F64) -> None:
    gs[L.G_TONIC:L.G_TONIC + 4] = p.baselines()
    levels = obj.get("neuromodulator_levels", system.get("levels"))
    if levels is None:
        flat = object_field(obj.get("neuromodulators", {}), "neuromodulators")
        for m, name in enumerate(L.MODULATOR_NAMES):
            if name in flat:  # upstream's loader: a flat level becomes the tonic level
                gs[L.G_TONIC + m] = number_field(flat, name, "neuromodulators")
        return
    levels = object_field(levels, "neuromodulator_levels")
    unknown = sorted(set(levels) - set(L.MODULATOR_KEYS))
    if unknown:
        raise NetworkFormatError(f"neuromodulator_levels.{unknown[0]}: unknown neuromodulator")
    for m, key in enumerate(L.MODULATOR_KEYS):
        if key in levels:
            where = f"neuromodulator_levels.{key}"
            rec = object_field(levels[key], where)
            gs[L.G_TONIC + m] = number_field(rec, "tonic", where)
            gs[L.G_PHASIC + m] = number_field(rec, "phasic", where)


def _receptors(obj: dict[str, Any], system: dict[str, Any], p: NetworkParametersV2, gs: F64) -> F64:
    rp = default_receptors(p)
    table = obj.get("receptors", system.get("receptors"))
    if table is None:
        return rp
    table = object_field(table, "receptors")
    unknown = sorted(set(table) - set(L.RECEPTOR_NAMES))
    if unknown:
        raise NetworkFormatError(f"receptors.{unknown[0]}: unknown receptor")
    for r, name in enumerate(L.RECEPTOR_NAMES):
        if name not in table:
            continue
        where = f"receptors.{name}"
        rec = object_field(table[name], where)
        parent = rec.get("parent_modulator", L.MODULATOR_KEYS[int(rp[r, L.RP_PARENT])])
        if parent not in L.MODULATOR_KEYS:
            raise NetworkFormatError(f"{where}.parent_modulator: must be one of {L.MODULATOR_KEYS}, got {parent!r}")
        rp[r, L.RP_PARENT] = L.MODULATOR_KEYS.index(parent)
        rp[r, L.RP_THRESHOLD] = number_field(rec, "threshold", where, default=rp[r, L.RP_THRESHOLD])
        rp[r, L.RP_GAIN] = number_field(rec, "gain", where, default=rp[r, L.RP_GAIN])
        rp[r, L.RP_SLOPE] = number_field(rec, "slope", where, default=rp[r, L.RP_SLOPE])
        if "is_tonic" in rec:
            rp[r, L.RP_TONIC] = 1.0 if bool_field(rec, "is_tonic", where) else 0.0
        gs[L.G_RECEPTOR + r] = number_field(rec, "activation", where, default=0.0)
    return rp


def _oscillators(obj: dict[str, Any], gs: F64) -> tuple[F64, tuple[str, ...]]:
    if "oscillators" not in obj:
        raise NetworkFormatError("oscillators: missing (the band phases are part of the state)")
    rec = object_field(obj["oscillators"], "oscillators")
    gs[L.G_COUPLING] = number_field(rec, "coupling", "oscillators")
    bands = object_field(rec.get("bands"), "oscillators.bands")
    missing = [b for b in L.DRIVE_BANDS if b not in bands]
    if missing:
        raise NetworkFormatError(f"oscillators.bands.{missing[0]}: missing (the drive reads it)")
    osc = np.zeros((3, len(bands)))
    for b, (name, raw) in enumerate(bands.items()):
        where = f"oscillators.bands.{name}"
        band = object_field(raw, where)
        osc[L.OSC_FREQ, b] = number_field(band, "freq", where)
        osc[L.OSC_PHASE, b] = number_field(band, "phase", where)
        osc[L.OSC_AMP, b] = number_field(band, "amplitude", where, default=1.0)
    return osc, tuple(bands)


def parse_network(obj: Any) -> ParsedV2:
    """Validate a v2 JSON object (either layout) into arrays."""
    obj = object_field(obj, "network")
    version = obj.get("version", "2.0")
    if not isinstance(version, str) or not version.startswith("2"):
        raise NetworkFormatError(f"version: a Neuraxon v2 network has version 2.x, got {version!r}")
    p = NetworkParametersV2.from_dict(obj.get("parameters", {}))
    nf, ni, dbuf, dkern, bpot = _neurons(obj, p)
    sf, si = _synapses(obj, nf.shape[1], p.num_dendritic_branches)
    system = object_field(obj.get("neuromodulator_system", {}), "neuromodulator_system")
    gs = np.zeros(L.G)
    _levels(obj, system, p, gs)
    rp = _receptors(obj, system, p, gs)
    osc, bands = _oscillators(obj, gs)
    gs[L.G_TIME] = number_field(obj, "time", "network", default=0.0)
    gs[L.G_ENERGY] = number_field(obj, "energy_usage", "network", default=0.0)
    step_count = int_field(obj, "step_count", "network") if "step_count" in obj else 0
    if step_count < 0:
        raise NetworkFormatError(f"network.step_count: must be >= 0, got {step_count}")
    return ParsedV2(p, nf, ni, dbuf, dkern, bpot, sf, si, gs, rp, osc, bands, step_count)


def _neuron_record(net: ParsedV2, i: int, dump: bool) -> dict[str, Any]:
    nf = net.nf
    rec: dict[str, Any] = {"id": i, "type": TYPE_NAMES[net.ni[L.NI_TYPE, i]],
                           "state" if dump else "membrane_potential": float(nf[L.NF_V, i]),
                           "trinary_state": int(net.ni[L.NI_S, i])}
    rec.update({name: float(nf[row, i]) for name, row, _ in _NEURON_FLOATS[:6]})
    rec["dsn_input_buffer"] = net.dbuf[i].tolist()
    rec["dsn_kernel_weights"] = net.dkern[i].tolist()
    rec.update({name: float(nf[row, i]) for name, row, _ in _NEURON_FLOATS[6:]})
    rec["branch_potentials"] = net.bpot[i].tolist()
    rec["is_active"] = bool(net.ni[L.NI_ACTIVE, i])
    rec["prev_state"] = int(net.ni[L.NI_PREV, i])
    rec["msth"] = {name: float(nf[row, i]) for name, row, _ in _MSTH}
    return rec


def _synapse_record(net: ParsedV2, k: int) -> dict[str, Any]:
    si, sf = net.si, net.sf
    rec: dict[str, Any] = {"pre_id": int(si[L.SI_PRE, k]), "post_id": int(si[L.SI_POST, k]),
                           "branch_id": int(si[L.SI_BRANCH, k]), "branch_index": int(si[L.SI_BIDX, k])}
    rec.update({name: float(sf[row, k]) for name, row, _ in _SYNAPSE_FLOATS[:3]})
    rec["is_silent"] = bool(si[L.SI_SILENT, k])
    rec["is_modulatory"] = bool(si[L.SI_MODUL, k])
    rec.update({name: float(sf[row, k]) for name, row, _ in _SYNAPSE_FLOATS[3:]})
    rec["synapse_type"] = SYNAPSE_TYPE_NAMES[si[L.SI_STYPE, k]]
    return rec


def emit_network(net: ParsedV2, layout: str = "dump") -> dict[str, Any]:
    """JSON object for ``net`` in ``layout`` ``"dump"`` or ``"save_network"``."""
    if layout not in ("dump", "save_network"):
        raise ValueError(f"layout must be 'dump' or 'save_network', got {layout!r}")
    dump = layout == "dump"
    gs = net.gs
    neurons = [_neuron_record(net, i, dump) for i in range(net.nf.shape[1])]
    synapses = [_synapse_record(net, k) for k in range(net.sf.shape[1])]
    levels = {key: {"tonic": float(gs[L.G_TONIC + m]), "phasic": float(gs[L.G_PHASIC + m])}
              for m, key in enumerate(L.MODULATOR_KEYS)}
    receptors = {name: {"name": name, "parent_modulator": L.MODULATOR_KEYS[int(net.rp[r, L.RP_PARENT])],
                        "threshold": float(net.rp[r, L.RP_THRESHOLD]), "gain": float(net.rp[r, L.RP_GAIN]),
                        "is_tonic": bool(net.rp[r, L.RP_TONIC]), "slope": float(net.rp[r, L.RP_SLOPE]),
                        "activation": float(gs[L.G_RECEPTOR + r])}
                 for r, name in enumerate(L.RECEPTOR_NAMES)}
    flat = {name: float(gs[L.G_TONIC + m] + gs[L.G_PHASIC + m]) for m, name in enumerate(L.MODULATOR_NAMES)}
    oscillators = {"coupling": float(gs[L.G_COUPLING]),
                   "bands": {name: {"freq": float(net.osc[L.OSC_FREQ, b]), "phase": float(net.osc[L.OSC_PHASE, b]),
                                    "amplitude": float(net.osc[L.OSC_AMP, b])}
                             for b, name in enumerate(net.bands)}}
    tail = {"time": float(gs[L.G_TIME]), "step_count": net.step_count, "energy_usage": float(gs[L.G_ENERGY])}
    if dump:
        return {"version": "2.0", "neurons": neurons, "synapses": synapses, "neuromodulator_levels": levels,
                "receptors": receptors, "neuromodulators": flat, "oscillators": oscillators, **tail,
                "parameters": net.params.to_dict()}
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in TYPE_NAMES}
    for rec in neurons:
        groups[rec["type"]].append(rec)
    return {"version": "2.0", "parameters": net.params.to_dict(), "neurons": groups, "synapses": synapses,
            "neuromodulator_system": {"levels": levels, "receptors": receptors}, "oscillators": oscillators,
            "neuromodulators": flat, **tail}
