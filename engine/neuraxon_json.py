"""Parse and emit the reference's JSON layouts for a Neuraxon v1 network.

Two layouts are read (and written):

* ``save_network``: ``neurons`` is ``{"input": [...], "hidden": [...], "output": [...]}``;
  neurons lack ``autoreceptor``, synapses lack traces (they default to 0).
* full-state dump (the vectors in ``tests/data/neuraxon-v1``): ``neurons`` is one list in id order
  with a ``type`` per neuron; neurons carry ``autoreceptor``, synapses ``pre_trace``/``post_trace``.

Parsing validates everything into plain arrays first and raises :class:`NetworkFormatError` naming
the field (``synapses[12].w_fast: ...``); nothing is built from half-checked data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engine import neuraxon_kernels as K
from engine.neuraxon_params import NetworkFormatError, NetworkParameters

TYPE_NAMES = ("input", "hidden", "output")
SYNAPSE_TYPE_NAMES = ("ionotropic_fast", "ionotropic_slow", "metabotropic", "silent")
NEUROMODULATOR_NAMES = ("dopamine", "serotonin", "acetylcholine", "norepinephrine")


@dataclass
class ParsedNetwork:
    """Validated arrays of one network (see :mod:`engine.neuraxon_kernels` for the layout)."""

    params: NetworkParameters
    V: npt.NDArray[np.float64]
    s: npt.NDArray[np.int8]
    a: npt.NDArray[np.float64]
    r: npt.NDArray[np.float64]
    h: npt.NDArray[np.float64]
    active: npt.NDArray[np.bool_]
    ntype: npt.NDArray[np.int8]
    pre: npt.NDArray[np.int32]
    post: npt.NDArray[np.int32]
    wf: npt.NDArray[np.float64]
    ws: npt.NDArray[np.float64]
    wm: npt.NDArray[np.float64]
    silent: npt.NDArray[np.bool_]
    modul: npt.NDArray[np.bool_]
    integ: npt.NDArray[np.float64]
    pre_tr: npt.NDArray[np.float64]
    post_tr: npt.NDArray[np.float64]
    stype: npt.NDArray[np.int8]
    nm: npt.NDArray[np.float64]
    time: float
    step_count: int


def number_field(obj: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    if key not in obj:
        if default is None:
            raise NetworkFormatError(f"{where}.{key}: missing")
        return default
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise NetworkFormatError(f"{where}.{key}: must be a number, got {v!r}")
    if not math.isfinite(v):
        raise NetworkFormatError(f"{where}.{key}: must be finite, got {v!r}")
    return float(v)


def bool_field(obj: dict[str, Any], key: str, where: str) -> bool:
    if key not in obj:
        raise NetworkFormatError(f"{where}.{key}: missing")
    v = obj[key]
    if not isinstance(v, bool):
        raise NetworkFormatError(f"{where}.{key}: must be true or false, got {v!r}")
    return v


def int_field(obj: dict[str, Any], key: str, where: str) -> int:
    if key not in obj:
        raise NetworkFormatError(f"{where}.{key}: missing")
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise NetworkFormatError(f"{where}.{key}: must be an integer, got {v!r}")
    return v


def object_field(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise NetworkFormatError(f"{where}: must be an object, got {type(v).__name__}")
    return v


class GroupSizes(Protocol):
    """What :func:`neuron_records` needs of a parameters object (v1 and v2 both have it)."""

    @property
    def num_input_neurons(self) -> int: ...
    @property
    def num_hidden_neurons(self) -> int: ...
    @property
    def num_output_neurons(self) -> int: ...


def neuron_records(obj: dict[str, Any], params: GroupSizes) -> list[tuple[str, int, dict[str, Any]]]:
    """(path, type code, record) per neuron in id order, checking ids and group sizes.

    ``neurons`` is either ``{"input": [...], "hidden": [...], "output": [...]}`` or one list in id
    order with a ``type`` per neuron (both reference layouts, v1 and v2).
    """
    if "neurons" not in obj:
        raise NetworkFormatError("neurons: missing")
    raw = obj["neurons"]
    counts = (params.num_input_neurons, params.num_hidden_neurons, params.num_output_neurons)
    items: list[tuple[str, int, dict[str, Any]]] = []
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - set(TYPE_NAMES))
        if unknown:
            raise NetworkFormatError(f"neurons.{unknown[0]}: unknown neuron group")
        for code, name in enumerate(TYPE_NAMES):
            group = raw.get(name, [])
            if not isinstance(group, list):
                raise NetworkFormatError(f"neurons.{name}: must be a list")
            if len(group) != counts[code]:
                raise NetworkFormatError(
                    f"neurons.{name}: has {len(group)} neurons but parameters.num_{name}_neurons "
                    f"is {counts[code]}"
                )
            items.extend((f"neurons.{name}[{i}]", code, object_field(n, f"neurons.{name}[{i}]"))
                         for i, n in enumerate(group))
    elif isinstance(raw, list):
        for i, n in enumerate(raw):
            where = f"neurons[{i}]"
            rec = object_field(n, where)
            tname = rec.get("type")
            if tname not in TYPE_NAMES:
                raise NetworkFormatError(f"{where}.type: must be one of {TYPE_NAMES}, got {tname!r}")
            items.append((where, TYPE_NAMES.index(tname), rec))
        have = tuple(sum(1 for _, c, _ in items if c == code) for code in range(3))
        if have != counts:
            raise NetworkFormatError(
                f"neurons: has {have[0]}/{have[1]}/{have[2]} input/hidden/output neurons but "
                f"parameters say {counts[0]}/{counts[1]}/{counts[2]}"
            )
    else:
        raise NetworkFormatError("neurons: must be a list or an object of input/hidden/output lists")
    for i, (where, code, rec) in enumerate(items):
        nid = int_field(rec, "id", where)
        if nid != i:
            raise NetworkFormatError(f"{where}.id: expected {i} (ids run 0..N-1 in order inputs, "
                                     f"hidden, outputs), got {nid}")
        if "type" in rec and rec["type"] != TYPE_NAMES[code]:
            raise NetworkFormatError(f"{where}.type: {rec['type']!r} does not match its group "
                                     f"{TYPE_NAMES[code]!r}")
    expected = [c for c in range(3) for _ in range(counts[c])]
    if [c for _, c, _ in items] != expected:
        raise NetworkFormatError("neurons: types must be ordered inputs, then hidden, then outputs")
    return items


def parse_network(obj: Any) -> ParsedNetwork:
    """Validate a reference JSON object (either layout) into arrays."""
    obj = object_field(obj, "network")
    params = NetworkParameters.from_dict(obj.get("parameters", {}))
    items = neuron_records(obj, params)
    N = len(items)
    V = np.empty(N)
    s = np.empty(N, dtype=np.int8)
    a = np.empty(N)
    r = np.empty(N)
    h = np.empty(N)
    active = np.empty(N, dtype=np.bool_)
    ntype = np.empty(N, dtype=np.int8)
    for i, (where, code, rec) in enumerate(items):
        V[i] = number_field(rec, "membrane_potential", where)
        state = int_field(rec, "trinary_state", where)
        if state not in (-1, 0, 1):
            raise NetworkFormatError(f"{where}.trinary_state: must be -1, 0 or 1, got {state}")
        s[i] = state
        a[i] = number_field(rec, "adaptation", where)
        r[i] = number_field(rec, "autoreceptor", where, default=0.0)
        h[i] = number_field(rec, "health", where)
        active[i] = bool_field(rec, "is_active", where)
        ntype[i] = code

    syns = obj.get("synapses")
    if not isinstance(syns, list):
        raise NetworkFormatError("synapses: missing or not a list")
    S = len(syns)
    pre = np.empty(S, dtype=np.int32)
    post = np.empty(S, dtype=np.int32)
    wf = np.empty(S)
    ws = np.empty(S)
    wm = np.empty(S)
    silent = np.empty(S, dtype=np.bool_)
    modul = np.empty(S, dtype=np.bool_)
    integ = np.empty(S)
    pre_tr = np.empty(S)
    post_tr = np.empty(S)
    stype = np.empty(S, dtype=np.int8)
    seen: dict[tuple[int, int], int] = {}
    for k, raw in enumerate(syns):
        where = f"synapses[{k}]"
        rec = object_field(raw, where)
        p = int_field(rec, "pre_id", where)
        q = int_field(rec, "post_id", where)
        for key, nid in (("pre_id", p), ("post_id", q)):
            if not 0 <= nid < N:
                raise NetworkFormatError(f"{where}.{key}: unknown neuron id {nid} (network has {N})")
        if p == q:
            raise NetworkFormatError(f"{where}: self-loop on neuron {p} is not allowed in Neuraxon v1")
        if ntype[p] == K.OUTPUT and ntype[q] == K.INPUT:
            raise NetworkFormatError(f"{where}: output neuron {p} -> input neuron {q} is not allowed")
        if (p, q) in seen:
            raise NetworkFormatError(f"{where}: duplicate synapse {p} -> {q} (first at synapses[{seen[p, q]}])")
        seen[p, q] = k
        pre[k], post[k] = p, q
        wf[k] = number_field(rec, "w_fast", where)
        ws[k] = number_field(rec, "w_slow", where)
        wm[k] = number_field(rec, "w_meta", where)
        silent[k] = bool_field(rec, "is_silent", where)
        modul[k] = bool_field(rec, "is_modulatory", where)
        integ[k] = number_field(rec, "integrity", where)
        pre_tr[k] = number_field(rec, "pre_trace", where, default=0.0)
        post_tr[k] = number_field(rec, "post_trace", where, default=0.0)
        label = rec.get("synapse_type")
        if label is None:
            stype[k] = K.synapse_label(silent[k], modul[k], wf[k], ws[k])
        elif label in SYNAPSE_TYPE_NAMES:
            stype[k] = SYNAPSE_TYPE_NAMES.index(label)
        else:
            raise NetworkFormatError(f"{where}.synapse_type: must be one of {SYNAPSE_TYPE_NAMES}, got {label!r}")

    nm_obj = object_field(obj.get("neuromodulators"), "neuromodulators")
    unknown = sorted(set(nm_obj) - set(NEUROMODULATOR_NAMES))
    if unknown:
        raise NetworkFormatError(f"neuromodulators.{unknown[0]}: unknown neuromodulator")
    nm = np.array([number_field(nm_obj, name, "neuromodulators") for name in NEUROMODULATOR_NAMES])
    time = number_field(obj, "time", "network", default=0.0)
    step_count = int_field(obj, "step_count", "network") if "step_count" in obj else 0
    if step_count < 0:
        raise NetworkFormatError(f"network.step_count: must be >= 0, got {step_count}")
    return ParsedNetwork(params, V, s, a, r, h, active, ntype, pre, post, wf, ws, wm, silent, modul,
                         integ, pre_tr, post_tr, stype, nm, time, step_count)


def neuron_record(net: ParsedNetwork, i: int, full: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": i}
    if not full:
        rec["type"] = TYPE_NAMES[net.ntype[i]]
    rec["membrane_potential"] = float(net.V[i])
    rec["trinary_state"] = int(net.s[i])
    rec["adaptation"] = float(net.a[i])
    rec["autoreceptor"] = float(net.r[i])
    rec["health"] = float(net.h[i])
    rec["is_active"] = bool(net.active[i])
    if full:
        rec["type"] = TYPE_NAMES[net.ntype[i]]
    return rec


def synapse_record(net: ParsedNetwork, k: int) -> dict[str, Any]:
    return {
        "pre_id": int(net.pre[k]),
        "post_id": int(net.post[k]),
        "w_fast": float(net.wf[k]),
        "w_slow": float(net.ws[k]),
        "w_meta": float(net.wm[k]),
        "is_silent": bool(net.silent[k]),
        "is_modulatory": bool(net.modul[k]),
        "integrity": float(net.integ[k]),
        "pre_trace": float(net.pre_tr[k]),
        "post_trace": float(net.post_tr[k]),
        "synapse_type": SYNAPSE_TYPE_NAMES[net.stype[k]],
    }


def emit_network(net: ParsedNetwork, layout: str) -> dict[str, Any]:
    """JSON object for ``net`` in ``layout`` ``"save_network"`` or ``"dump"``.

    Both carry every state variable (autoreceptor and traces included), so either round-trips
    losslessly; the reference's ``load_network`` ignores the extra keys.
    """
    if layout not in ("save_network", "dump"):
        raise ValueError(f"layout must be 'save_network' or 'dump', got {layout!r}")
    full = layout == "dump"
    N = net.V.shape[0]
    neurons = [neuron_record(net, i, full) for i in range(N)]
    synapses = [synapse_record(net, k) for k in range(net.pre.shape[0])]
    nm = {name: float(net.nm[x]) for x, name in enumerate(NEUROMODULATOR_NAMES)}
    if full:
        return {"neurons": neurons, "synapses": synapses, "time": net.time,
                "step_count": net.step_count, "neuromodulators": nm,
                "parameters": net.params.to_dict()}
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in TYPE_NAMES}
    for rec in neurons:
        groups[rec["type"]].append(rec)
    return {"parameters": net.params.to_dict(), "neurons": groups, "synapses": synapses,
            "neuromodulators": nm, "time": net.time, "step_count": net.step_count}
