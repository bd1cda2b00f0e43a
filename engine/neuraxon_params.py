"""Neuraxon v1 network parameters (the reference's ``NetworkParameters``), validated.

Field names, order and defaults are those of DavidVivancos/Neuraxon ``neuraxon.py`` v1.0, so a
parameters object read from a reference JSON file writes back unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from engine import neuraxon_kernels as K

__all__ = ["V1", "Extensions", "NetworkFormatError", "NetworkParameters", "check_fields", "parameters_from_dict"]


class NetworkFormatError(ValueError):
    """Malformed or inconsistent network data; the message names the offending field."""


@dataclass(frozen=True)
class Extensions:
    """Named mining-mode extensions of v1 (docs/neuraxon-task.md); :data:`V1` switches all off.

    * ``meta_gain``: synaptic updates Δ are scaled by ``1 + meta_gain · μ``, where μ is the meta
      signal (arousal) the environment raises on salient events; 0 in v1.
    * ``consolidation`` κ in [0, 1]: w_slow relaxes as ``-(1 - κ)·w_slow + 0.1Δ``, so learned slow
      weights last ``1/(1 - κ)`` times longer (κ = 1: w_slow integrates Δ and never decays); 0 in v1.
    * ``traces``: update the pre/post traces, which v1 computes but never uses; off saves time.
    """

    meta_gain: float = 0.0
    consolidation: float = 0.0
    traces: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.meta_gain) and self.meta_gain >= 0.0):
            raise ValueError(f"meta_gain must be a finite number >= 0, got {self.meta_gain!r}")
        if not 0.0 <= self.consolidation <= 1.0:
            raise ValueError(f"consolidation must be in [0, 1], got {self.consolidation!r}")


#: Exactly Neuraxon v1.
V1 = Extensions()


_P = TypeVar("_P")

_INT_FIELDS = ("num_input_neurons", "num_hidden_neurons", "num_output_neurons", "simulation_steps")


def parameters_from_dict(cls: type[_P], obj: Any) -> _P:
    """``cls(**obj)`` for a JSON ``parameters`` object: missing keys take defaults, unknown keys
    are refused with :class:`NetworkFormatError`."""
    if not isinstance(obj, dict):
        raise NetworkFormatError(f"parameters: must be an object, got {type(obj).__name__}")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(obj) - known)
    if unknown:
        raise NetworkFormatError(f"parameters.{unknown[0]}: unknown parameter")
    return cls(**obj)


def check_fields(params: Any, int_fields: Collection[str], bool_fields: Collection[str] = (),
                 skip: Collection[str] = ()) -> None:
    """Validate a frozen parameters dataclass in place: ``network_name`` a string, ``int_fields``
    integers >= 0, ``bool_fields`` booleans, every other field a finite number (stored as float).

    Raises :class:`NetworkFormatError` naming ``parameters.<field>``.
    """
    for f in fields(params):
        if f.name in skip:
            continue
        value = getattr(params, f.name)
        where = f"parameters.{f.name}"
        if f.name == "network_name":
            if not isinstance(value, str):
                raise NetworkFormatError(f"{where}: must be a string, got {type(value).__name__}")
        elif f.name in bool_fields:
            if not isinstance(value, bool):
                raise NetworkFormatError(f"{where}: must be true or false, got {value!r}")
        elif f.name in int_fields:
            if isinstance(value, bool) or not isinstance(value, int):
                raise NetworkFormatError(f"{where}: must be an integer, got {value!r}")
            if value < 0:
                raise NetworkFormatError(f"{where}: must be >= 0, got {value}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise NetworkFormatError(f"{where}: must be a number, got {value!r}")
            if not math.isfinite(value):
                raise NetworkFormatError(f"{where}: must be finite, got {value!r}")
            object.__setattr__(params, f.name, float(value))


@dataclass(frozen=True)
class NetworkParameters:
    """v1 parameters; see reference/neuraxon-model.md §1.5 for which ones the dynamics use."""

    network_name: str = "My Neuraxon Net"
    num_input_neurons: int = 5
    num_hidden_neurons: int = 20
    num_output_neurons: int = 5
    connection_probability: float = 0.05
    membrane_time_constant: float = 20.0
    firing_threshold_excitatory: float = 1.0
    firing_threshold_inhibitory: float = -1.0
    adaptation_rate: float = 0.05
    spontaneous_firing_rate: float = 0.01
    neuron_health_decay: float = 0.001
    tau_fast: float = 5.0
    w_fast_init_min: float = -1.0
    w_fast_init_max: float = 1.0
    tau_slow: float = 50.0
    w_slow_init_min: float = -0.5
    w_slow_init_max: float = 0.5
    tau_meta: float = 1000.0
    w_meta_init_min: float = -0.3
    w_meta_init_max: float = 0.3
    learning_rate: float = 0.01
    stdp_window: float = 20.0
    synapse_integrity_threshold: float = 0.1
    synapse_formation_prob: float = 0.05
    synapse_death_prob: float = 0.01
    neuron_death_threshold: float = 0.1
    dopamine_baseline: float = 0.1
    serotonin_baseline: float = 0.1
    acetylcholine_baseline: float = 0.1
    norepinephrine_baseline: float = 0.1
    neuromod_decay_rate: float = 0.1
    dt: float = 1.0
    simulation_steps: int = 100

    def __post_init__(self) -> None:
        check_fields(self, _INT_FIELDS)
        for name in ("membrane_time_constant", "tau_fast", "tau_slow", "tau_meta", "stdp_window", "dt"):
            if getattr(self, name) <= 0.0:
                raise NetworkFormatError(f"parameters.{name}: must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.connection_probability <= 1.0:
            raise NetworkFormatError(
                f"parameters.connection_probability: must be in [0, 1], got {self.connection_probability}"
            )
        for name in ("spontaneous_firing_rate", "synapse_formation_prob", "synapse_death_prob",
                     "neuron_health_decay", "neuromod_decay_rate", "learning_rate"):
            if getattr(self, name) < 0.0:
                raise NetworkFormatError(f"parameters.{name}: must be >= 0, got {getattr(self, name)}")
        for kind in ("fast", "slow", "meta"):
            lo, hi = getattr(self, f"w_{kind}_init_min"), getattr(self, f"w_{kind}_init_max")
            if lo > hi:
                raise NetworkFormatError(f"parameters.w_{kind}_init_min: {lo} exceeds w_{kind}_init_max {hi}")
        if self.n_neurons < 1:
            raise NetworkFormatError("parameters: a network needs at least one neuron")

    @property
    def n_neurons(self) -> int:
        return self.num_input_neurons + self.num_hidden_neurons + self.num_output_neurons

    @classmethod
    def from_dict(cls, obj: Any) -> NetworkParameters:
        """Parameters from a reference JSON ``parameters`` object; unknown keys are refused."""
        return parameters_from_dict(cls, obj)

    def to_dict(self) -> dict[str, Any]:
        """The reference JSON ``parameters`` object (integer fields as ints)."""
        return asdict(self)

    def replace(self, **changes: Any) -> NetworkParameters:
        return NetworkParameters(**{**asdict(self), **changes})

    def vector(self, ext: Extensions = V1, meta_level: float = 0.0) -> npt.NDArray[np.float64]:
        """The kernel parameter vector ``P`` (float64[N_PARAMS], indices ``P_*``)."""
        P = np.zeros(K.N_PARAMS)
        P[K.P_DT] = self.dt
        P[K.P_TAU_M] = self.membrane_time_constant
        P[K.P_TH_EXC] = self.firing_threshold_excitatory
        P[K.P_TH_INH] = self.firing_threshold_inhibitory
        P[K.P_SPONT] = self.spontaneous_firing_rate
        P[K.P_HEALTH_DECAY] = self.neuron_health_decay
        P[K.P_TAU_FAST] = self.tau_fast
        P[K.P_TAU_SLOW] = self.tau_slow
        P[K.P_TAU_META] = self.tau_meta
        P[K.P_LR] = self.learning_rate
        P[K.P_STDP] = self.stdp_window
        P[K.P_INTEG_TH] = self.synapse_integrity_threshold
        P[K.P_FORM_P] = self.synapse_formation_prob
        P[K.P_SYN_DEATH] = self.synapse_death_prob
        P[K.P_NEURON_DEATH_TH] = self.neuron_death_threshold
        P[K.P_NM_DECAY] = self.neuromod_decay_rate
        P[K.P_WF_MIN] = self.w_fast_init_min
        P[K.P_WF_MAX] = self.w_fast_init_max
        P[K.P_WS_MIN] = self.w_slow_init_min
        P[K.P_WS_MAX] = self.w_slow_init_max
        P[K.P_WM_MIN] = self.w_meta_init_min
        P[K.P_WM_MAX] = self.w_meta_init_max
        P[K.P_META_GAIN] = ext.meta_gain
        P[K.P_META_LEVEL] = meta_level
        P[K.P_CONSOLIDATION] = ext.consolidation
        P[K.P_TRACES] = 1.0 if ext.traces else 0.0
        return P

    def baselines(self) -> npt.NDArray[np.float64]:
        """Neuromodulator baselines float64[4] (DA, 5HT, ACh, NE)."""
        return np.array([self.dopamine_baseline, self.serotonin_baseline,
                         self.acetylcholine_baseline, self.norepinephrine_baseline])

    def deterministic(self) -> NetworkParameters:
        """The vectors' deterministic mode: no spontaneous firing, formation or neuron death."""
        return self.replace(spontaneous_firing_rate=0.0, synapse_formation_prob=0.0,
                            neuron_death_threshold=-1.0)
