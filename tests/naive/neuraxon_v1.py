"""Plain-Python twin of the v1 step kernel: objects and lists, written from the model description.

It follows reference/neuraxon-model.md §1.3 literally (gather lists per neuron, Python ``sum``,
neuron loop, synapse loop, decay, prune by list comprehension, formation) and draws from the same
xoshiro256** stream in the same order as :mod:`engine.neuraxon_kernels`, so the two must agree
exactly, stochastic parts included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tests.naive.rng import Xoshiro

NM_KEYS = ("dopamine", "serotonin", "acetylcholine", "norepinephrine")


@dataclass
class Neuron:
    id: int
    type: str
    V: float
    s: int
    a: float
    r: float
    h: float
    active: bool


@dataclass
class Syn:
    pre: int
    post: int
    wf: float
    ws: float
    wm: float
    silent: bool
    modul: bool
    integ: float
    pre_tr: float
    post_tr: float
    stype: str


def label(silent: bool, modul: bool, wf: float, ws: float) -> str:
    if silent:
        return "silent"
    if modul:
        return "metabotropic"
    return "ionotropic_fast" if abs(wf) > abs(ws) else "ionotropic_slow"


class NaiveNetwork:
    """``ext`` holds the mining extensions (meta_gain, meta_level, consolidation, traces); the
    defaults are v1. ``step`` returns (#+1, #-1, #updated) over all neurons, then over non-inputs."""

    def __init__(self, obj: dict[str, Any], rng_words: Any, ext: dict[str, Any] | None = None) -> None:
        self.ext = {"meta_gain": 0.0, "meta_level": 0.0, "consolidation": 0.0, "traces": True, **(ext or {})}
        self.p = dict(obj["parameters"])
        neurons = obj["neurons"]
        if isinstance(neurons, dict):
            neurons = [n for g in ("input", "hidden", "output") for n in neurons[g]]
            tnames = [g for g in ("input", "hidden", "output") for _ in obj["neurons"][g]]
        else:
            tnames = [n["type"] for n in neurons]
        self.neurons = [Neuron(n["id"], t, n["membrane_potential"], n["trinary_state"], n["adaptation"],
                               n.get("autoreceptor", 0.0), n["health"], n["is_active"])
                        for n, t in zip(neurons, tnames, strict=True)]
        self.synapses = [Syn(x["pre_id"], x["post_id"], x["w_fast"], x["w_slow"], x["w_meta"], x["is_silent"],
                             x["is_modulatory"], x["integrity"], x.get("pre_trace", 0.0),
                             x.get("post_trace", 0.0), x.get("synapse_type") or
                             label(x["is_silent"], x["is_modulatory"], x["w_fast"], x["w_slow"]))
                         for x in obj["synapses"]]
        self.nm = dict(obj["neuromodulators"])
        self.time = obj.get("time", 0.0)
        self.step_count = obj.get("step_count", 0)
        self.rng = Xoshiro(rng_words)

    def set_input_states(self, trits: list[int]) -> None:
        inputs = [n for n in self.neurons if n.type == "input"]
        for n, v in zip(inputs, trits, strict=False):
            n.s = v
            n.V = v * self.p["firing_threshold_excitatory"]

    def step(self, ext: dict[int, float] | None = None) -> tuple[int, ...]:
        p = self.p
        counts = [0] * 6
        ext = ext or {}
        dt = p["dt"]
        syn_in: dict[int, list[float]] = {n.id: [] for n in self.neurons}
        mod_in: dict[int, list[float]] = {n.id: [] for n in self.neurons}
        for sy in self.synapses:
            if sy.integ <= 0:
                continue
            pre = self.neurons[sy.pre]
            if not pre.active:
                continue
            syn_in[sy.post].append(0.0 if sy.silent else (sy.wf + sy.ws) * pre.s)
            m = sy.wm if sy.modul else 0.0
            if m != 0:
                mod_in[sy.post].append(m)
        for n in self.neurons:
            if not n.active:
                continue
            total = sum(syn_in[n.id])
            total_mod = sum(mod_in[n.id])
            spont = 0.0
            if p["spontaneous_firing_rate"] * dt > 0 and self.rng.random() < p["spontaneous_firing_rate"] * dt:
                spont = self.rng.uniform(-0.5, 0.5)
            n.V += dt / p["membrane_time_constant"] * (-n.V + total + ext.get(n.id, 0.0) - n.a + spont)
            n.a += dt / 100.0 * (-n.a + 0.1 * abs(n.s))
            n.r += dt / 200.0 * (-n.r + 0.2 * n.s)
            thmod = (self.nm["acetylcholine"] - 0.5) * 0.5 + total_mod * 0.3
            th_p = p["firing_threshold_excitatory"] - thmod - 0.1 * n.r
            th_n = p["firing_threshold_inhibitory"] - thmod + 0.1 * n.r
            n.s = 1 if n.V > th_p else (-1 if n.V < th_n else 0)
            if abs(n.V) / 2.0 < 0.01:
                n.h -= p["neuron_health_decay"] * dt
            else:
                n.h = min(1.0, n.h + 0.0005 * dt)
            if n.type == "hidden" and n.h < p["neuron_death_threshold"] and self.rng.random() < 0.001:
                n.active = False
            for off in (0, 3) if n.type != "input" else (0,):
                counts[off] += n.s == 1
                counts[off + 1] += n.s == -1
                counts[off + 2] += 1
        meta_factor = 1.0 + self.ext["meta_gain"] * self.ext["meta_level"]
        d_pos = p["learning_rate"] * self.nm["dopamine"]
        d_neg = -p["learning_rate"] * self.nm["dopamine"]
        if meta_factor != 1.0:
            d_pos *= meta_factor
            d_neg *= meta_factor
        leak = 1.0 - self.ext["consolidation"]
        for sy in self.synapses:
            if sy.integ <= 0:
                continue
            a, b = self.neurons[sy.pre], self.neurons[sy.post]
            if not (a.active and b.active):
                continue
            tw = p["stdp_window"]
            if self.ext["traces"]:
                sy.pre_tr += (-sy.pre_tr / tw + (1 if a.s == 1 else 0)) * dt
                sy.post_tr += (-sy.post_tr / tw + (1 if b.s == 1 else 0)) * dt
            if a.s == 1 and b.s == 1:
                dw = d_pos
            elif a.s == 1 and b.s == -1:
                dw = d_neg
            else:
                dw = 0.0
            sy.wf = max(-1.0, min(1.0, sy.wf + dt / p["tau_fast"] * (-sy.wf + dw * 0.3)))
            sy.ws = max(-1.0, min(1.0, sy.ws + dt / p["tau_slow"] * (-(sy.ws * leak) + dw * 0.1)))
            sy.wm = max(-0.5, min(0.5, sy.wm + dt / p["tau_meta"] * (-sy.wm + dw * 0.05 * self.nm["serotonin"])))
            if abs(sy.wf) < 0.01 and abs(sy.ws) < 0.01:
                sy.integ -= p["synapse_death_prob"] * dt
            else:
                sy.integ = min(1.0, sy.integ + 0.001 * dt)
            if sy.silent and a.s == 1 and b.s == 1 and self.rng.random() < 0.01:
                sy.silent = False
                sy.stype = label(False, sy.modul, sy.wf, sy.ws)
        for key in NM_KEYS:
            base = p[f"{key}_baseline"]
            self.nm[key] += (base - self.nm[key]) * p["neuromod_decay_rate"] * dt / 100.0
        self.synapses = [sy for sy in self.synapses if sy.integ > p["synapse_integrity_threshold"]]
        if p["synapse_formation_prob"] > 0 and self.rng.random() < p["synapse_formation_prob"]:
            act = [n for n in self.neurons if n.active]
            if len(act) >= 2:
                a = act[self.rng.below(len(act))]
                b = act[self.rng.below(len(act))]
                if a.id != b.id and not (a.type == "output" and b.type == "input") and \
                        not any(sy.pre == a.id and sy.post == b.id for sy in self.synapses):
                    wf = self.rng.uniform(p["w_fast_init_min"], p["w_fast_init_max"])
                    ws = self.rng.uniform(p["w_slow_init_min"], p["w_slow_init_max"])
                    wm = self.rng.uniform(p["w_meta_init_min"], p["w_meta_init_max"])
                    silent = self.rng.random() < 0.1
                    modul = self.rng.random() < 0.2
                    self.synapses.append(Syn(a.id, b.id, wf, ws, wm, silent, modul, 1.0, 0.0, 0.0,
                                             label(silent, modul, wf, ws)))
        self.time += dt
        self.step_count += 1
        return tuple(counts)

    @property
    def states(self) -> list[int]:
        return [n.s for n in self.neurons]

    @property
    def potentials(self) -> list[float]:
        return [n.V for n in self.neurons]


def er_pairs(n_in: int, n_hid: int, n_out: int, p: float, rng: Xoshiro) -> list[tuple[int, int]]:
    """Twin of ``random_er_topology``: geometric gaps (capped at 2**40) over v1's pair order."""
    N = n_in + n_hid + n_out
    if p <= 0 or N < 2:
        return []
    pairs = [(i, j) for i in range(N) for j in range(N) if i != j and not (i >= n_in + n_hid and j < n_in)]
    edges, pos = [], -1
    while True:
        gap = 0
        if p < 1:
            g = math.log(1.0 - rng.random()) / math.log1p(-p)
            gap = 2**40 if g >= 2.0**40 else math.floor(g)
        pos += 1 + gap
        if pos >= len(pairs):
            return edges
        edges.append(pairs[pos])
