"""Neuraxon v2 network parameters (the reference's ``NetworkParameters`` in ``neuraxon2.py``).

Field names, order and defaults are those of upstream v2.0, so a ``parameters`` object read from a
reference JSON file writes back unchanged; construction normalises ``dsn_kernel_weights`` exactly
as upstream's ``__post_init__`` does. :meth:`NetworkParametersV2.vector` packs what the step kernel
reads into ``P`` (slots ``P_*`` of :mod:`engine.neuraxon_v2_layout`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import neuraxon_v2_layout as L
from engine.neuraxon_params import NetworkFormatError, check_fields, parameters_from_dict

__all__ = ["NetworkParametersV2", "default_receptors"]

_INT_FIELDS = frozenset({
    "num_input_neurons", "num_hidden_neurons", "num_output_neurons", "num_dendritic_branches", "ws_k",
    "dsn_kernel_size", "aigarth_pop_size", "aigarth_itu_size", "aigarth_tick_cap", "simulation_steps",
})
_BOOL_FIELDS = frozenset({"dsn_enabled", "dsn_learn_enabled", "ctsn_enabled", "ctsn_learn_enabled",
                          "chrono_enabled", "agmp_enabled"})
#: Divisors of the dynamics (``dt / tau``): zero would divide by zero, as upstream does.
_POSITIVE = ("adaptation_tau", "autoreceptor_tau", "msth_ultrafast_tau", "msth_fast_tau", "msth_medium_tau",
             "msth_slow_tau", "tau_fast", "tau_slow", "tau_meta", "tau_stdp", "tau_tonic", "tau_phasic", "dt")
#: (name, modulator slot, threshold, tonic?) of upstream's nine receptor subtypes, in its order.
_RECEPTOR_TABLE = (("D1", L.DA, 0.35, False), ("D2", L.DA, 0.25, True), ("5HT1A", L.SER, 0.05, True),
                   ("5HT2A", L.SER, 0.30, False), ("5HT4", L.SER, 0.20, False), ("M1", L.ACH, 0.30, False),
                   ("M2", L.ACH, 0.10, True), ("beta1", L.NA, 0.20, False), ("alpha2", L.NA, 0.08, True))


def normalised_kernel(size: int, weights: Any) -> list[float]:
    """Upstream's kernel rule: (1..k) if none given, else truncated/padded; divided by Σ|w|."""
    k = max(int(size), 1)
    w = [float(i + 1) for i in range(k)] if not weights else list(weights)[:k]
    if len(w) < k:
        w = w + [w[-1]] * (k - len(w))
    total = 0.0
    for x in w:  # left to right, as Python's sum over floats did on 3.11
        total += abs(x)
    if total <= 0:
        total = 1.0
    return [float(x) / total for x in w]


@dataclass(frozen=True)
class NetworkParametersV2:
    """v2 parameters; reference/neuraxon-model.md §2.5 says which the dynamics use."""

    network_name: str = "Neuraxon v2.0 Net"
    num_input_neurons: int = 5
    num_hidden_neurons: int = 20
    num_output_neurons: int = 5
    num_dendritic_branches: int = 3
    dendritic_spike_threshold: float = 0.4
    dendritic_supralinear_gamma: float = 1.3
    ws_k: int = 6
    ws_beta: float = 0.3
    membrane_time_constant: float = 20.0
    firing_threshold_excitatory: float = 0.4
    firing_threshold_inhibitory: float = -0.4
    adaptation_tau: float = 100.0
    autoreceptor_tau: float = 200.0
    spontaneous_firing_rate: float = 0.02
    neuron_health_decay: float = 0.001
    target_firing_rate: float = 0.2
    homeostatic_rate: float = 0.0005
    firing_rate_alpha: float = 0.01
    threshold_mod_k: float = 0.3
    msth_ultrafast_tau: float = 5.0
    msth_ultrafast_ceiling: float = 2.0
    msth_fast_tau: float = 2000.0
    msth_fast_gain: float = 0.1
    msth_medium_tau: float = 300000.0
    msth_medium_gain: float = 0.001
    msth_slow_tau: float = 3600000.0
    msth_slow_gain: float = 0.0001
    dsn_kernel_size: int = 4
    dsn_enabled: bool = True
    dsn_bias: float = 0.0
    dsn_kernel_weights: tuple[float, ...] | None = None
    dsn_learn_enabled: bool = False
    dsn_learn_lr: float = 0.01
    dsn_target_sensitivity: float = 4.0
    dsn_target_bias: float = 2.0
    dsn_kernel_clip: float = 5.0
    ctsn_rho: float = 0.9
    ctsn_enabled: bool = True
    ctsn_phi_gain: float = 0.5
    ctsn_phi_bias: float = 0.0
    ctsn_learn_enabled: bool = False
    ctsn_learn_lr: float = 0.005
    ctsn_phi_gain_clip: float = 5.0
    ctsn_phi_bias_clip: float = 5.0
    tau_fast: float = 5.0
    tau_slow: float = 50.0
    tau_meta: float = 1000.0
    tau_stdp: float = 20.0
    w_fast_init_min: float = -0.8
    w_fast_init_max: float = 0.8
    w_slow_init_min: float = -0.4
    w_slow_init_max: float = 0.4
    w_meta_init_min: float = -0.3
    w_meta_init_max: float = 0.3
    chrono_alpha_f: float = 0.95
    chrono_alpha_s: float = 0.99
    chrono_lambda_f: float = 0.15
    chrono_lambda_s: float = 0.08
    chrono_enabled: bool = True
    chrono_trace_clip: float = 10.0
    chrono_gate_norm: float = 10.0
    chrono_raw_clip: float = 8.0
    chrono_omega_min: float = 0.05
    chrono_omega_max: float = 0.95
    chrono_omega_smoothing: float = 0.2
    agmp_lambda_e: float = 0.95
    agmp_lambda_a: float = 0.999
    agmp_eta: float = 0.005
    agmp_enabled: bool = True
    learning_rate: float = 0.01
    stdp_window: float = 20.0
    associative_alpha: float = 0.005
    synapse_integrity_threshold: float = 0.1
    synapse_formation_prob: float = 0.05
    synapse_death_prob: float = 0.01
    neuron_death_threshold: float = 0.1
    dopamine_baseline: float = 0.15
    serotonin_baseline: float = 0.15
    acetylcholine_baseline: float = 0.15
    norepinephrine_baseline: float = 0.15
    tau_tonic: float = 5000.0
    tau_phasic: float = 200.0
    neuromod_release_rate: float = 0.02
    receptor_concentration_cap: float = 1.0
    receptor_slope_tonic: float = 4.0
    receptor_slope_phasic: float = 3.0
    oscillator_coupling: float = 0.1
    aigarth_pop_size: int = 10
    aigarth_itu_size: int = 12
    aigarth_tick_cap: int = 20
    aigarth_mutation_wf_prob: float = 0.3
    aigarth_mutation_ws_prob: float = 0.1
    aigarth_mutation_wm_prob: float = 0.05
    dt: float = 1.0
    simulation_steps: int = 100

    def __post_init__(self) -> None:
        raw = self.dsn_kernel_weights
        if raw is not None and (not isinstance(raw, list | tuple) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw)):
            raise NetworkFormatError("parameters.dsn_kernel_weights: must be a list of finite numbers or null")
        check_fields(self, _INT_FIELDS, _BOOL_FIELDS, skip=("dsn_kernel_weights",))
        for name in _POSITIVE:
            if getattr(self, name) <= 0.0:
                raise NetworkFormatError(f"parameters.{name}: must be > 0, got {getattr(self, name)}")
        for name in ("num_dendritic_branches", "dsn_kernel_size"):
            if getattr(self, name) < 1:
                raise NetworkFormatError(f"parameters.{name}: must be >= 1, got {getattr(self, name)}")
        if self.n_neurons < 1:
            raise NetworkFormatError("parameters: a network needs at least one neuron")
        if self.n_neurons >= 2**31:
            raise NetworkFormatError("parameters: at most 2**31 - 1 neurons")
        if raw is not None:  # keep what was given: replace() must not normalise twice
            object.__setattr__(self, "dsn_kernel_weights", tuple(float(x) for x in raw))
        object.__setattr__(self, "_kernel", tuple(normalised_kernel(self.dsn_kernel_size, raw)))

    @property
    def n_neurons(self) -> int:
        return self.num_input_neurons + self.num_hidden_neurons + self.num_output_neurons

    @property
    def kernel(self) -> tuple[float, ...]:
        """The normalised DSN kernel (``dsn_kernel_size`` weights), as upstream stores it."""
        kernel: tuple[float, ...] = getattr(self, "_kernel")  # noqa: B009 - set in __post_init__
        return kernel

    @classmethod
    def from_dict(cls, obj: Any) -> NetworkParametersV2:
        """Parameters from a reference JSON ``parameters`` object (missing keys take defaults,
        as upstream's loader does); unknown keys are refused."""
        return parameters_from_dict(cls, obj)

    def to_dict(self) -> dict[str, Any]:
        """The reference JSON ``parameters`` object."""
        out = asdict(self)
        out["dsn_kernel_weights"] = list(self.kernel)
        return out

    def replace(self, **changes: Any) -> NetworkParametersV2:
        return NetworkParametersV2(**{**asdict(self), **changes})

    def deterministic(self) -> NetworkParametersV2:
        """The vectors' deterministic mode: no spontaneous kick (−1: 0 is not enough in v2, see
        tests/data/neuraxon-v2/README.md), no formation, no neuron death. Un-silencing has no
        parameter; networks built for deterministic runs un-silence their synapses instead."""
        return self.replace(spontaneous_firing_rate=-1.0, synapse_formation_prob=0.0, neuron_death_threshold=-1.0)

    def vector(self) -> npt.NDArray[np.float64]:
        """The kernel parameter vector ``P`` (float64[N_PARAMS])."""
        P = np.zeros(L.N_PARAMS)
        slots = {
            L.P_DT: self.dt, L.P_DEND_TH: self.dendritic_spike_threshold,
            L.P_DEND_GAMMA: self.dendritic_supralinear_gamma, L.P_TH_EXC: self.firing_threshold_excitatory,
            L.P_TH_INH: self.firing_threshold_inhibitory, L.P_ADAPT_TAU: self.adaptation_tau,
            L.P_AUTO_TAU: self.autoreceptor_tau, L.P_SPONT: self.spontaneous_firing_rate,
            L.P_HEALTH_DECAY: self.neuron_health_decay, L.P_TARGET: self.target_firing_rate,
            L.P_HOMEO: self.homeostatic_rate, L.P_FR_ALPHA: self.firing_rate_alpha,
            L.P_TH_MOD_K: self.threshold_mod_k, L.P_UF_TAU: self.msth_ultrafast_tau,
            L.P_UF_CEIL: self.msth_ultrafast_ceiling, L.P_FAST_TAU: self.msth_fast_tau,
            L.P_FAST_GAIN: self.msth_fast_gain, L.P_MED_TAU: self.msth_medium_tau,
            L.P_MED_GAIN: self.msth_medium_gain, L.P_SLOW_TAU: self.msth_slow_tau,
            L.P_DSN_ON: self.dsn_enabled, L.P_DSN_BIAS: self.dsn_bias, L.P_DSN_LEARN: self.dsn_learn_enabled,
            L.P_DSN_LR: self.dsn_learn_lr, L.P_DSN_SENS: self.dsn_target_sensitivity,
            L.P_DSN_TBIAS: self.dsn_target_bias, L.P_DSN_CLIP: self.dsn_kernel_clip,
            L.P_CTSN_RHO: self.ctsn_rho, L.P_CTSN_ON: self.ctsn_enabled, L.P_CTSN_LEARN: self.ctsn_learn_enabled,
            L.P_CTSN_LR: self.ctsn_learn_lr, L.P_CTSN_GCLIP: self.ctsn_phi_gain_clip,
            L.P_CTSN_BCLIP: self.ctsn_phi_bias_clip, L.P_TAU_FAST: self.tau_fast, L.P_TAU_SLOW: self.tau_slow,
            L.P_TAU_META: self.tau_meta, L.P_TAU_STDP: self.tau_stdp, L.P_WF_MIN: self.w_fast_init_min,
            L.P_WF_MAX: self.w_fast_init_max, L.P_WS_MIN: self.w_slow_init_min, L.P_WS_MAX: self.w_slow_init_max,
            L.P_WM_MIN: self.w_meta_init_min, L.P_WM_MAX: self.w_meta_init_max, L.P_CH_AF: self.chrono_alpha_f,
            L.P_CH_AS: self.chrono_alpha_s, L.P_CH_LF: self.chrono_lambda_f, L.P_CH_LS: self.chrono_lambda_s,
            L.P_CH_ON: self.chrono_enabled, L.P_CH_TCLIP: self.chrono_trace_clip,
            L.P_CH_GNORM: self.chrono_gate_norm, L.P_CH_RCLIP: self.chrono_raw_clip,
            L.P_CH_OMIN: self.chrono_omega_min, L.P_CH_OMAX: self.chrono_omega_max,
            L.P_CH_SMOOTH: self.chrono_omega_smoothing, L.P_AG_LE: self.agmp_lambda_e,
            L.P_AG_LA: self.agmp_lambda_a, L.P_AG_ETA: self.agmp_eta, L.P_AG_ON: self.agmp_enabled,
            L.P_LR: self.learning_rate, L.P_ASSOC: self.associative_alpha,
            L.P_INTEG_TH: self.synapse_integrity_threshold, L.P_FORM_P: self.synapse_formation_prob,
            L.P_SYN_DEATH: self.synapse_death_prob, L.P_NEURON_DEATH_TH: self.neuron_death_threshold,
            L.P_TAU_TONIC: self.tau_tonic, L.P_TAU_PHASIC: self.tau_phasic,
            L.P_RELEASE: self.neuromod_release_rate, L.P_RCAP: self.receptor_concentration_cap,
        }
        for slot, value in slots.items():
            P[slot] = float(value)
        P[L.P_BASE:L.P_BASE + 4] = self.baselines()
        return P

    def baselines(self) -> npt.NDArray[np.float64]:
        """Neuromodulator baselines float64[4] (DA, 5HT, ACh, NA)."""
        return np.array([self.dopamine_baseline, self.serotonin_baseline, self.acetylcholine_baseline,
                         self.norepinephrine_baseline])


def default_receptors(params: NetworkParametersV2) -> npt.NDArray[np.float64]:
    """The receptor table ``rp`` float64[9, RP] a fresh upstream network has."""
    rp = np.zeros((len(_RECEPTOR_TABLE), L.RP))
    for r, (_, parent, threshold, tonic) in enumerate(_RECEPTOR_TABLE):
        rp[r] = (parent, threshold, 1.0, 1.0 if tonic else 0.0,
                 params.receptor_slope_tonic if tonic else params.receptor_slope_phasic)
    return rp
