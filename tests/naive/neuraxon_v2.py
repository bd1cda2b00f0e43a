"""Plain-Python twin of the Neuraxon v2 engine (engine/neuraxon_v2*.py), for property tests.

Objects and lists in upstream's order of operations: synapses in one list (list order is the
summation order), a real Python ``set`` for the Watts–Strogatz construction, a ``random.Random``
for every draw, explicit left-to-right loops for every float sum (CPython >= 3.12's ``sum()``
compensates, so it is never used on floats), and upstream's neighbour list for the associative term.
Homeostatic scaling is done per synapse (O(S)) instead of upstream's O(N·S) double loop; each
synapse is scaled once by its post's factor either way. JSON in and out is the vectors' dump layout.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

MODS = ("DA", "5HT", "ACh", "NA")
FLAT = ("dopamine", "serotonin", "acetylcholine", "norepinephrine")
RECEPTORS = ("D1", "D2", "5HT1A", "5HT2A", "5HT4", "M1", "M2", "beta1", "alpha2")
TYPES = ("input", "hidden", "output")
LABELS = ("ionotropic_fast", "ionotropic_slow", "metabotropic", "silent")
NEURON_KEYS = ("adaptation", "autoreceptor", "complement_h", "state_tilde", "dsn_alpha", "_dsn_last_x",
               "ctsn_phi_gain", "ctsn_phi_bias", "_ctsn_last_x", "_ctsn_last_phi", "firing_rate_avg",
               "astrocyte_state", "health")
MSTH_KEYS = ("ultrafast_activity", "fast_excitability", "medium_gain", "slow_structural")
SYN_FLOATS = ("w_fast", "w_slow", "w_meta", "integrity", "pre_trace", "post_trace", "recent_delta_w",
              "chrono_fast_trace", "chrono_slow_trace", "chrono_omega", "eligibility")


def clip(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def fsum_left(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def label(s: Syn) -> str:
    if s.is_silent:
        return "silent"
    if s.is_modulatory:
        return "metabotropic"
    return "ionotropic_fast" if abs(s.f["w_fast"]) > abs(s.f["w_slow"]) else "ionotropic_slow"


@dataclass
class Neuron:
    id: int
    type: str
    state: float = 0.0
    trinary_state: int = 0
    prev_state: int = 0
    is_active: bool = True
    dsn_input_buffer: list[float] = field(default_factory=list)
    dsn_kernel_weights: list[float] = field(default_factory=list)
    branch_potentials: list[float] = field(default_factory=list)
    f: dict[str, float] = field(default_factory=dict)  # the NEURON_KEYS and MSTH_KEYS floats


@dataclass
class Syn:
    pre_id: int
    post_id: int
    branch_id: int
    branch_index: int
    is_silent: bool
    is_modulatory: bool
    synapse_type: str
    f: dict[str, float]


class NaiveV2:
    def __init__(self, params: dict[str, Any], rng: random.Random) -> None:
        self.p = SimpleNamespace(**params)
        self.rng = rng
        self.neurons: list[Neuron] = []
        self.synapses: list[Syn] = []
        self.levels = {m: {"tonic": 0.0, "phasic": 0.0} for m in MODS}
        self.receptors: dict[str, dict[str, Any]] = {}
        self.activations = dict.fromkeys(RECEPTORS, 0.0)
        self.coupling = self.p.oscillator_coupling
        self.bands: dict[str, dict[str, float]] = {}
        self.time = 0.0
        self.step_count = 0
        self.energy = 0.0

    # ----------------------------------------------------------------- construction
    @classmethod
    def build(cls, params: dict[str, Any], rng: random.Random, unsilence: bool = False) -> NaiveV2:
        net = cls(params, rng)
        p = net.p
        for m, base in zip(MODS, ("dopamine", "serotonin", "acetylcholine", "norepinephrine"), strict=True):
            net.levels[m] = {"tonic": getattr(p, f"{base}_baseline"), "phasic": 0.0}
        table = (("D1", "DA", 0.35, False), ("D2", "DA", 0.25, True), ("5HT1A", "5HT", 0.05, True),
                 ("5HT2A", "5HT", 0.30, False), ("5HT4", "5HT", 0.20, False), ("M1", "ACh", 0.30, False),
                 ("M2", "ACh", 0.10, True), ("beta1", "NA", 0.20, False), ("alpha2", "NA", 0.08, True))
        for name, parent, th, tonic in table:
            net.receptors[name] = {"parent_modulator": parent, "threshold": th, "gain": 1.0, "is_tonic": tonic,
                                   "slope": float(p.receptor_slope_tonic if tonic else p.receptor_slope_phasic)}
        for name, freq in (("infraslow", 0.05), ("slow", 0.5), ("theta", 6.0), ("alpha", 10.0), ("gamma", 40.0)):
            net.bands[name] = {"freq": freq, "phase": rng.uniform(0.0, 2.0 * math.pi), "amplitude": 1.0}
        counts = (p.num_input_neurons, p.num_hidden_neurons, p.num_output_neurons)
        for kind, n in zip(TYPES, counts, strict=True):
            for _ in range(n):
                nr = Neuron(len(net.neurons), kind, dsn_input_buffer=[0.0] * p.dsn_kernel_size,
                            dsn_kernel_weights=list(p.dsn_kernel_weights),
                            branch_potentials=[0.0] * p.num_dendritic_branches)
                nr.f = dict.fromkeys(NEURON_KEYS, 0.0) | dict.fromkeys(MSTH_KEYS, 0.0)
                nr.f.update(dsn_alpha=0.5, ctsn_phi_gain=p.ctsn_phi_gain, ctsn_phi_bias=p.ctsn_phi_bias,
                            firing_rate_avg=p.target_firing_rate, health=1.0, medium_gain=1.0)
                net.neurons.append(nr)
        N = len(net.neurons)
        kind = [n.type for n in net.neurons]
        k = min(p.ws_k, N - 1)
        half = max(k // 2, 1)
        edges: set[tuple[int, int]] = set()
        for i in range(N):
            for j in range(1, half + 1):
                for t in ((i + j) % N, (i - j) % N):
                    if not (kind[i] == "output" and kind[t] == "input") and i != t:
                        edges.add((i, t))
        for a, b in list(edges):
            if rng.random() < p.ws_beta:
                edges.discard((a, b))
                t = rng.randint(0, N - 1)
                if t != a and (a, t) not in edges and not (kind[a] == "output" and kind[t] == "input"):
                    edges.add((a, t))
                else:
                    edges.add((a, b))
        for a, b in edges:
            net.synapses.append(net._new_synapse(a, b, rng.randint(0, p.num_dendritic_branches - 1)))
        if unsilence:
            for s in net.synapses:
                s.is_silent = False
                s.synapse_type = label(s)
        net._rank()
        return net

    def _new_synapse(self, pre: int, post: int, branch: int) -> Syn:
        p, r = self.p, self.rng
        f = dict.fromkeys(SYN_FLOATS, 0.0)
        f["w_fast"] = r.uniform(p.w_fast_init_min, p.w_fast_init_max)
        f["w_slow"] = r.uniform(p.w_slow_init_min, p.w_slow_init_max)
        f["w_meta"] = r.uniform(p.w_meta_init_min, p.w_meta_init_max)
        f["integrity"] = 1.0
        f["chrono_omega"] = 0.5
        s = Syn(pre, post, branch, 0, r.random() < 0.1, r.random() < 0.2, "", f)
        s.synapse_type = label(s)
        return s

    def _rank(self) -> None:
        groups: dict[tuple[int, int], list[Syn]] = {}
        for s in self.synapses:
            groups.setdefault((s.post_id, s.branch_id), []).append(s)
        for members in groups.values():
            for pos, s in enumerate(sorted(members, key=lambda x: (x.pre_id, x.post_id))):
                s.branch_index = pos

    @classmethod
    def from_json(cls, obj: dict[str, Any], rng: random.Random) -> NaiveV2:
        """From the dump layout (every field present), as the engine writes it."""
        net = cls(obj["parameters"], rng)
        for rec in obj["neurons"]:
            nr = Neuron(rec["id"], rec["type"], rec["state"], rec["trinary_state"], rec["prev_state"],
                        rec["is_active"], list(rec["dsn_input_buffer"]), list(rec["dsn_kernel_weights"]),
                        list(rec["branch_potentials"]))
            nr.f = {k: rec[k] for k in NEURON_KEYS} | dict(rec["msth"])
            net.neurons.append(nr)
        for rec in obj["synapses"]:
            net.synapses.append(Syn(rec["pre_id"], rec["post_id"], rec["branch_id"], rec["branch_index"],
                                    rec["is_silent"], rec["is_modulatory"], rec["synapse_type"],
                                    {k: rec[k] for k in SYN_FLOATS}))
        net.levels = {m: dict(v) for m, v in obj["neuromodulator_levels"].items()}
        for name, rec in obj["receptors"].items():
            net.receptors[name] = {k: rec[k] for k in ("parent_modulator", "threshold", "gain", "is_tonic", "slope")}
            net.activations[name] = rec["activation"]
        net.coupling = obj["oscillators"]["coupling"]
        net.bands = {k: dict(v) for k, v in obj["oscillators"]["bands"].items()}
        net.time, net.step_count, net.energy = obj["time"], obj["step_count"], obj["energy_usage"]
        return net

    def to_json(self) -> dict[str, Any]:
        neurons = []
        for n in self.neurons:
            rec: dict[str, Any] = {"id": n.id, "type": n.type, "state": n.state, "trinary_state": n.trinary_state}
            rec.update({k: n.f[k] for k in NEURON_KEYS})
            rec.update(dsn_input_buffer=list(n.dsn_input_buffer), dsn_kernel_weights=list(n.dsn_kernel_weights),
                       branch_potentials=list(n.branch_potentials), is_active=n.is_active, prev_state=n.prev_state,
                       msth={k: n.f[k] for k in MSTH_KEYS})
            neurons.append(rec)
        synapses = []
        for s in self.synapses:
            srec: dict[str, Any] = {"pre_id": s.pre_id, "post_id": s.post_id, "branch_id": s.branch_id,
                                    "branch_index": s.branch_index, "is_silent": s.is_silent,
                                    "is_modulatory": s.is_modulatory, "synapse_type": s.synapse_type}
            srec.update(s.f)
            synapses.append(srec)
        receptors = {name: {"name": name, **r, "activation": self.activations[name]}
                     for name, r in self.receptors.items()}
        return {"version": "2.0", "neurons": neurons, "synapses": synapses,
                "neuromodulator_levels": {m: dict(v) for m, v in self.levels.items()}, "receptors": receptors,
                "neuromodulators": {f: self.levels[m]["tonic"] + self.levels[m]["phasic"]
                                    for f, m in zip(FLAT, MODS, strict=True)},
                "oscillators": {"coupling": self.coupling, "bands": {k: dict(v) for k, v in self.bands.items()}},
                "time": self.time, "step_count": self.step_count, "energy_usage": self.energy,
                "parameters": dict(vars(self.p))}

    # ----------------------------------------------------------------- driving
    def set_input_states(self, trits: list[int]) -> None:
        for n, v in zip([n for n in self.neurons if n.type == "input"], trits, strict=False):
            self._set_state(n, v)

    def _set_state(self, n: Neuron, v: int) -> None:
        n.prev_state = n.trinary_state
        n.trinary_state = v
        n.state = v * self.p.firing_threshold_excitatory
        n.f["state_tilde"] = n.state + n.f["complement_h"]

    def output_states(self) -> list[int]:
        return [n.trinary_state for n in self.neurons if n.type == "output" and n.is_active]

    def step(self, ext: dict[int, float] | None = None) -> None:
        ext = ext or {}
        p, dt = self.p, self.p.dt
        self._neuromodulators(dt)
        self._receptor_activations()
        for b in self.bands.values():
            b["phase"] = (b["phase"] + 2.0 * math.pi * b["freq"] * dt / 1000.0) % (2.0 * math.pi)
        N = len(self.neurons)
        inputs = {n.id: {b: [] for b in range(p.num_dendritic_branches)} for n in self.neurons}
        mods: dict[int, list[float]] = {n.id: [] for n in self.neurons}
        for s in self.synapses:
            pre = self.neurons[s.pre_id]
            if s.f["integrity"] <= 0 or not pre.is_active:
                continue
            inputs[s.post_id][s.branch_id].append(self._current(s, pre.trinary_state))
            if s.is_modulatory and s.f["w_meta"] != 0.0:
                mods[s.post_id].append(s.f["w_meta"])
        for n in self.neurons:
            if not n.is_active:
                continue
            x = ext.get(n.id, 0.0)
            if n.type == "input":
                n.prev_state = n.trinary_state
                if x != 0.0:
                    self._set_state(n, int(max(-1, min(1, round(x)))))
                continue
            self._neuron(n, inputs[n.id], mods[n.id], x, self._drive(n.id, N), dt)
        self._plasticity(dt)
        self._structure()
        self.energy += 0.01 * sum(1 for n in self.neurons if n.is_active and n.trinary_state != 0) * dt
        self.time += dt
        self.step_count += 1

    def _neuromodulators(self, dt: float) -> None:
        p, lv = self.p, self.levels
        active = [n for n in self.neurons if n.is_active]
        mean = exc = chg = 0.0
        if active:
            mean = sum(abs(n.trinary_state) for n in active) / len(active)
            exc = sum(1 for n in active if n.trinary_state == 1) / len(active)
            chg = sum(1 for n in active if n.trinary_state != n.prev_state) / len(active)
        for m, base in zip(MODS, (p.dopamine_baseline, p.serotonin_baseline, p.acetylcholine_baseline,
                                  p.norepinephrine_baseline), strict=True):
            lv[m]["tonic"] += dt / p.tau_tonic * (base - lv[m]["tonic"])
            lv[m]["phasic"] += dt / p.tau_phasic * (0.0 - lv[m]["phasic"])
        rr = p.neuromod_release_rate
        lv["DA"]["phasic"] += rr * chg * dt
        lv["5HT"]["tonic"] += rr * mean * dt
        lv["ACh"]["phasic"] += rr * exc * dt
        lv["NA"]["phasic"] += rr * chg * dt
        lv["ACh"]["phasic"] *= max(0.0, 1.0 - 0.1 * lv["DA"]["phasic"])
        lv["5HT"]["tonic"] += 0.02 * (lv["NA"]["tonic"] + lv["NA"]["phasic"]) * dt
        for m in MODS:
            for comp in ("tonic", "phasic"):
                lv[m][comp] = max(0.0, min(2.0, lv[m][comp]))

    def _receptor_activations(self) -> None:
        cap = self.p.receptor_concentration_cap
        for name, r in self.receptors.items():
            lv = self.levels[r["parent_modulator"]]
            c = lv["tonic"] if r["is_tonic"] else lv["tonic"] + lv["phasic"]
            c = max(0.0, min(cap, c)) if cap > 0.0 else max(0.0, c)
            k = r["slope"] if r["slope"] > 0.0 else (20.0 if r["is_tonic"] else 10.0)
            e = max(-50.0, min(50.0, -k * (c - r["threshold"])))
            self.activations[name] = r["gain"] / (1.0 + math.exp(e))

    def _drive(self, i: int, N: int) -> float:
        b = self.bands
        phi = 2.0 * math.pi * i / max(N, 1)
        gate = max(0.0, math.cos(b["theta"]["phase"] + phi))
        gamma = b["gamma"]["amplitude"] * gate * math.sin(b["gamma"]["phase"] + 2.0 * phi)
        slow = b["slow"]["amplitude"] * math.sin(b["slow"]["phase"] + 0.3 * phi)
        infra = b["infraslow"]["amplitude"] * math.sin(b["infraslow"]["phase"])
        return self.coupling * (gamma + 0.5 * slow + 0.3 * infra)

    def _current(self, s: Syn, pre_state: int) -> float:
        if s.is_silent:
            return 0.0
        f = s.f
        base = (f["w_fast"] + f["w_slow"]) * pre_state
        if not self.p.chrono_enabled:
            return base
        return base + (self.p.chrono_lambda_f * f["w_fast"] * f["chrono_fast_trace"]
                       + self.p.chrono_lambda_s * f["w_slow"] * f["chrono_slow_trace"])

    def _neuron(self, n: Neuron, branches: dict[int, list[float]], mods: list[float], x_ext: float, osc: float,
                dt: float) -> None:
        p, f, R = self.p, n.f, self.activations
        D = 0.0
        for b in range(p.num_dendritic_branches):
            sigma = fsum_left(branches[b])
            n.branch_potentials[b] = sigma
            if abs(sigma) > p.dendritic_spike_threshold:
                D += (1.0 if sigma > 0 else -1.0) * (abs(sigma) ** p.dendritic_supralinear_gamma)
            else:
                D += sigma
        x = abs(n.trinary_state)
        f["firing_rate_avg"] += p.firing_rate_alpha * (x - f["firing_rate_avg"]) * dt
        a = dt / p.msth_ultrafast_tau
        f["ultrafast_activity"] = (1.0 - a) * f["ultrafast_activity"] + a * x
        a = dt / p.msth_fast_tau
        f["fast_excitability"] = (1.0 - a) * f["fast_excitability"] + a * x
        shift = p.msth_fast_gain * (f["fast_excitability"] - p.target_firing_rate)
        dev = x - p.target_firing_rate
        f["medium_gain"] += dt / p.msth_medium_tau * (-p.msth_medium_gain * dev * f["medium_gain"])
        f["medium_gain"] = clip(f["medium_gain"], 0.5, 2.0)
        a = dt / p.msth_slow_tau
        f["slow_structural"] = (1.0 - a) * f["slow_structural"] + a * abs(dev)
        g_na = 1.0 + 0.5 * R["beta1"] + 0.2 * R["alpha2"]
        kick = 0.0
        if self.rng.random() < (p.spontaneous_firing_rate + 0.3 * R["alpha2"]) * dt:
            kick = self.rng.gauss(0.0, 0.3)
        X = g_na * (D * f["medium_gain"]) + x_ext + osc - f["adaptation"] + kick
        alpha = 0.5
        if p.dsn_enabled:
            alpha = self._dsn(n, X)
        n.state = alpha * n.state + (1.0 - alpha) * X
        if f["ultrafast_activity"] > p.msth_ultrafast_ceiling:
            n.state *= 0.5
        if p.ctsn_enabled:
            phi = math.tanh(f["ctsn_phi_gain"] * X + f["ctsn_phi_bias"])
            f["_ctsn_last_x"], f["_ctsn_last_phi"] = X, phi
            f["complement_h"] = p.ctsn_rho * f["complement_h"] + (1.0 - p.ctsn_rho) * phi
        else:
            f["complement_h"] = 0.0
        f["state_tilde"] = n.state + f["complement_h"]
        raw = fsum_left(mods)
        raw += 0.3 * R["M1"] - 0.2 * R["M2"]
        d_meta = p.threshold_mod_k * math.tanh(raw)
        d_homeo = p.homeostatic_rate * (f["firing_rate_avg"] - p.target_firing_rate)
        th_pos = p.firing_threshold_excitatory - d_meta + d_homeo + shift - 0.1 * f["autoreceptor"]
        th_neg = p.firing_threshold_inhibitory - d_meta + d_homeo + shift + 0.1 * f["autoreceptor"]
        n.prev_state = n.trinary_state
        st = f["state_tilde"]
        n.trinary_state = 1 if st > th_pos else (-1 if st < th_neg else 0)
        if p.ctsn_learn_enabled and p.ctsn_enabled:
            e = p.target_firing_rate - f["firing_rate_avg"]
            dphi = 1.0 - f["_ctsn_last_phi"] * f["_ctsn_last_phi"]
            scale = 1.0 - p.ctsn_rho
            f["ctsn_phi_gain"] = clip(f["ctsn_phi_gain"] + p.ctsn_learn_lr * e * scale * dphi * f["_ctsn_last_x"],
                                      -p.ctsn_phi_gain_clip, p.ctsn_phi_gain_clip)
            f["ctsn_phi_bias"] = clip(f["ctsn_phi_bias"] + p.ctsn_learn_lr * e * scale * dphi,
                                      -p.ctsn_phi_bias_clip, p.ctsn_phi_bias_clip)
        s_new = n.trinary_state
        f["adaptation"] += dt / p.adaptation_tau * (-f["adaptation"] + 0.1 * abs(s_new))
        f["autoreceptor"] += dt / p.autoreceptor_tau * (-f["autoreceptor"] + 0.2 * s_new)
        if p.agmp_enabled:
            f["astrocyte_state"] = p.agmp_lambda_a * f["astrocyte_state"] + (1.0 - p.agmp_lambda_a) * abs(st)
        if abs(n.state) / 2.0 < 0.01:
            f["health"] -= p.neuron_health_decay * dt
        else:
            f["health"] = min(1.0, f["health"] + 0.0005 * dt)
        if n.type == "hidden" and f["health"] < p.neuron_death_threshold and self.rng.random() < 0.001:
            n.is_active = False

    def _dsn(self, n: Neuron, X: float) -> float:
        p, buf, ker = self.p, n.dsn_input_buffer, n.dsn_kernel_weights
        buf.pop(0)
        buf.append(X)
        conv = fsum_left([w * v for w, v in zip(ker, buf, strict=True)]) + p.dsn_bias
        alpha = 1.0 / (1.0 + math.exp(clip(-conv, -50.0, 50.0)))
        n.f["dsn_alpha"] = alpha
        if p.dsn_learn_enabled:
            dx = abs(buf[-1] - buf[-2]) if len(buf) >= 2 else abs(buf[-1])
            t = p.dsn_target_bias - p.dsn_target_sensitivity * dx
            target = 1.0 / (1.0 + math.exp(clip(-t, -50.0, 50.0)))
            common = (alpha - target) * (alpha * (1.0 - alpha))
            new = [clip(w - p.dsn_learn_lr * common * v, -p.dsn_kernel_clip, p.dsn_kernel_clip)
                   for w, v in zip(ker, buf, strict=True)]
            total = fsum_left([abs(w) for w in new]) or 1.0
            n.dsn_kernel_weights = [w / total for w in new]
        return alpha

    def _chrono(self, s: Syn, pre_state: int) -> None:
        p, f = self.p, s.f
        x = float(pre_state)
        z = f["chrono_slow_trace"]
        gate = z if p.chrono_gate_norm <= 0 else math.tanh(z / p.chrono_gate_norm)
        raw = 2.0 * x + 1.5 * gate - 1.0
        if p.chrono_raw_clip > 0:
            raw = clip(raw, -p.chrono_raw_clip, p.chrono_raw_clip)
        lo, hi = sorted((p.chrono_omega_min, p.chrono_omega_max))
        w_new = clip(1.0 / (1.0 + math.exp(-raw)), lo, hi)
        beta = clip(p.chrono_omega_smoothing, 0.0, 1.0)
        f["chrono_omega"] = (1.0 - beta) * f["chrono_omega"] + beta * w_new
        f["chrono_fast_trace"] = p.chrono_alpha_f * f["chrono_fast_trace"] + x
        f["chrono_slow_trace"] = p.chrono_alpha_s ** f["chrono_omega"] * z + x
        if p.chrono_trace_clip > 0:
            c = p.chrono_trace_clip
            f["chrono_fast_trace"] = clip(f["chrono_fast_trace"], -c, c)
            f["chrono_slow_trace"] = clip(f["chrono_slow_trace"], -c, c)

    def _plasticity(self, dt: float) -> None:
        p, R = self.p, self.activations
        groups: dict[tuple[int, int], list[Syn]] = {}
        for s in self.synapses:
            groups.setdefault((s.post_id, s.branch_id), []).append(s)
        ser = 0.5 * R["5HT2A"] + 0.1 * (1.0 - R["5HT1A"])
        for s in self.synapses:
            pre, post = self.neurons[s.pre_id], self.neurons[s.post_id]
            if s.f["integrity"] <= 0 or not pre.is_active or not post.is_active:
                continue
            a, b = pre.trinary_state, post.trinary_state
            f = s.f
            if p.chrono_enabled:
                self._chrono(s, a)
            f["pre_trace"] += (-f["pre_trace"] / p.tau_stdp + (1.0 if a == 1 else 0.0)) * dt
            f["post_trace"] += (-f["post_trace"] / p.tau_stdp + (1.0 if b == 1 else 0.0)) * dt
            plus = f["pre_trace"] * (1.0 if b == 1 else 0.0)
            minus = f["post_trace"] * (1.0 if a == 1 else 0.0)
            dw = p.learning_rate * plus * R["D1"] - p.learning_rate * minus * R["D2"]
            if a == 1 and b == 1:
                dw += p.learning_rate * 0.5 * R["D1"]
            if a == 1 and b == -1:
                dw -= p.learning_rate * 0.5 * R["D2"]
            if a == 0 and b == 0:
                dw *= 0.1
            for o in groups[(s.post_id, s.branch_id)]:
                if o is not s:
                    dw += p.associative_alpha * o.f["recent_delta_w"] / (abs(o.branch_index - s.branch_index) + 1.0)
            f["recent_delta_w"] = dw
            f["w_fast"] = clip(f["w_fast"] + dt / p.tau_fast * (-f["w_fast"] + 0.3 * dw), -1.0, 1.0)
            f["w_slow"] = clip(f["w_slow"] + dt / p.tau_slow * (-f["w_slow"] + 0.1 * dw), -1.0, 1.0)
            f["w_meta"] = clip(f["w_meta"] + dt / p.tau_meta * (-f["w_meta"] + 0.05 * dw * ser), -0.5, 0.5)
            if abs(f["w_fast"]) < 0.01 and abs(f["w_slow"]) < 0.01:
                f["integrity"] -= p.synapse_death_prob * dt
            else:
                f["integrity"] = min(1.0, f["integrity"] + 0.001 * dt)
            if s.is_silent and a == 1 and b == 1 and self.rng.random() < 0.05:
                s.is_silent = False
                s.synapse_type = label(s)
            if p.agmp_enabled:
                psi = 1.0 if (a, b) == (1, 1) else -0.5 if (a, b) == (1, -1) else -0.3 if (a, b) == (-1, 1) else 0.0
                f["eligibility"] = p.agmp_lambda_e * f["eligibility"] + psi
                delta = p.agmp_eta * self.levels["DA"]["phasic"] * post.f["astrocyte_state"] * f["eligibility"]
                f["w_fast"] = clip(f["w_fast"] + delta * 0.3, -1.0, 1.0)
                f["w_slow"] = clip(f["w_slow"] + delta * 0.1, -1.0, 1.0)
        for s in self.synapses:
            post = self.neurons[s.post_id]
            if post.is_active and post.type != "input" and s.f["integrity"] > 0:
                scale = 1.0 + p.homeostatic_rate * (p.target_firing_rate - post.f["firing_rate_avg"]) \
                    * post.f["medium_gain"]
                s.f["w_fast"] = clip(s.f["w_fast"] * scale, -1.0, 1.0)
                s.f["w_slow"] = clip(s.f["w_slow"] * scale, -1.0, 1.0)

    def _structure(self) -> None:
        p = self.p
        self.synapses = [s for s in self.synapses if s.f["integrity"] > p.synapse_integrity_threshold]
        hidden = [n for n in self.neurons if n.type == "hidden"]
        for n in hidden:
            if n.is_active and n.f["health"] < p.neuron_death_threshold and self.rng.random() < 0.001:
                n.is_active = False
        alive = [n for n in hidden if n.is_active]
        avg = fsum_left([n.f["slow_structural"] for n in alive]) / len(alive) if alive else 0.0
        if self.rng.random() < p.synapse_formation_prob * (1.0 + avg):
            active = [n for n in self.neurons if n.is_active]
            if len(active) >= 2:
                a, b = self.rng.choice(active), self.rng.choice(active)
                if (a.id != b.id and not (a.type == "output" and b.type == "input")
                        and not any(s.pre_id == a.id and s.post_id == b.id for s in self.synapses)):
                    branch = self.rng.randint(0, p.num_dendritic_branches - 1)
                    self.synapses.append(self._new_synapse(a.id, b.id, branch))
        self._rank()
