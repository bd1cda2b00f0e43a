"""A Neuraxon v1 network as structure-of-arrays, stepped by numba kernels.

>>> net = Network.from_reference_json(json.load(open("init.json")))
>>> net.set_input_states([1, -1, 0, 1, -1])
>>> net.step({5: 1.5})
>>> net.states, net.potentials, net.n_synapses, net.neuromodulators

``step`` is one reference ``simulate_step``. ``run`` advances many steps in one kernel call, with a
per-step input clamp (``set_input_states`` before each step) and external currents, and is the fast
path: it fuses each step's plasticity pass with the next step's gather.

Randomness (spontaneous firing, neuron death, un-silencing, formation) draws from the network's own
xoshiro256** state (:mod:`engine.rng`), seeded by the caller; never a global generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import neuraxon_kernels as K
from engine.neuraxon_drive import EMPTY_CLAMP, EMPTY_EXT, drive_arrays, external_row, trit_row
from engine.neuraxon_json import NEUROMODULATOR_NAMES, ParsedNetwork, emit_network, parse_network
from engine.neuraxon_params import V1, Extensions, NetworkFormatError, NetworkParameters
from engine.rng import seed_state

__all__ = ["V1", "Extensions", "Network", "NetworkFormatError", "NetworkParameters", "RunRecord"]

_SYN_FIELDS = ("pre", "post", "wf", "ws", "wm", "silent", "modul", "integ", "pre_tr", "post_tr", "stype")
_EMPTY_I8_1 = np.zeros(0, dtype=np.int64)


@dataclass
class RunRecord:
    """Per-step records of :meth:`Network.run` (arrays are empty when not requested).

    states int8[T, N]; potentials float64[T, N]; n_syn int64[T]; neuromod float64[T, 4] (DA, 5HT,
    ACh, NE); counts int64[T, 3] = (#neurons at +1, #at -1, #active neurons updated).
    """

    states: npt.NDArray[np.int8]
    potentials: npt.NDArray[np.float64]
    n_syn: npt.NDArray[np.int64]
    neuromod: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]


def _rng_state(rng: int | npt.NDArray[np.uint64] | None) -> npt.NDArray[np.uint64]:
    if rng is None:
        return seed_state(0)
    if isinstance(rng, np.ndarray):
        if rng.dtype != np.uint64 or rng.shape != (4,):
            raise ValueError("rng state must be a uint64[4] array")
        return rng.copy()
    return seed_state(rng)


@dataclass
class Network:
    """One network; synapse arrays hold ``n_synapses`` entries plus spare capacity."""

    params: NetworkParameters
    V: npt.NDArray[np.float64]
    s: npt.NDArray[np.int8]
    a: npt.NDArray[np.float64]
    r: npt.NDArray[np.float64]
    h: npt.NDArray[np.float64]
    active: npt.NDArray[np.bool_]
    ntype: npt.NDArray[np.int8]
    syn: dict[str, npt.NDArray[Any]]
    nm: npt.NDArray[np.float64]
    rng: npt.NDArray[np.uint64]
    clock: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(1))
    steps: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    n_syn: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    #: Mining-mode extensions (default: exactly v1) and the current meta signal μ.
    extensions: Extensions = V1
    meta_level: float = 0.0

    # ----------------------------------------------------------------- construction
    @classmethod
    def _from_parsed(cls, p: ParsedNetwork, rng: int | npt.NDArray[np.uint64] | None) -> Network:
        syn = {name: getattr(p, name).copy() for name in _SYN_FIELDS}
        net = cls(p.params, p.V, p.s, p.a, p.r, p.h, p.active, p.ntype, syn, p.nm, _rng_state(rng))
        net.clock[0] = p.time
        net.steps[0] = p.step_count
        net.n_syn[0] = p.pre.shape[0]
        return net

    @classmethod
    def from_reference_json(cls, obj: dict[str, Any], *,
                            rng: int | npt.NDArray[np.uint64] | None = None) -> Network:
        """A network from a reference JSON object (``save_network`` file or full-state dump).

        Raises :class:`NetworkFormatError` naming the field for malformed or inconsistent data.
        ``rng`` seeds the network's generator (an int, or a uint64[4] state); default seed 0.
        """
        return cls._from_parsed(parse_network(obj), rng)

    @classmethod
    def random(cls, params: NetworkParameters | None = None, *, seed: int = 0) -> Network:
        """A freshly initialised network as v1's constructor builds one (Erdős–Rényi topology).

        Topology, weights (uniform in the init ranges), silent (p=0.1) and modulatory (p=0.2) flags
        are drawn from a generator seeded with ``seed``; the same generator then drives the run.
        """
        params = params or NetworkParameters()
        rng = seed_state(seed)
        pre, post = K.random_er_topology(params.num_input_neurons, params.num_hidden_neurons,
                                         params.num_output_neurons, params.connection_probability, rng)
        S = pre.shape[0]
        wf, ws, wm = np.empty(S), np.empty(S), np.empty(S)
        silent = np.empty(S, dtype=np.bool_)
        modul = np.empty(S, dtype=np.bool_)
        stype = np.empty(S, dtype=np.int8)
        K.draw_synapses(rng, params.vector(), wf, ws, wm, silent, modul, stype)
        N = params.n_neurons
        ntype = np.repeat(np.array([K.INPUT, K.HIDDEN, K.OUTPUT], dtype=np.int8),
                          [params.num_input_neurons, params.num_hidden_neurons, params.num_output_neurons])
        parsed = ParsedNetwork(params, np.zeros(N), np.zeros(N, dtype=np.int8), np.zeros(N), np.zeros(N),
                               np.ones(N), np.ones(N, dtype=np.bool_), ntype, pre, post, wf, ws, wm,
                               silent, modul, np.ones(S), np.zeros(S), np.zeros(S), stype,
                               params.baselines(), 0.0, 0)
        return cls._from_parsed(parsed, rng)

    def copy(self) -> Network:
        return Network(self.params, self.V.copy(), self.s.copy(), self.a.copy(), self.r.copy(),
                       self.h.copy(), self.active.copy(), self.ntype.copy(),
                       {k: v.copy() for k, v in self.syn.items()}, self.nm.copy(), self.rng.copy(),
                       self.clock.copy(), self.steps.copy(), self.n_syn.copy(), self.extensions, self.meta_level)

    # ----------------------------------------------------------------- views
    @property
    def n_neurons(self) -> int:
        return int(self.V.shape[0])

    @property
    def n_inputs(self) -> int:
        return self.params.num_input_neurons

    @property
    def n_synapses(self) -> int:
        return int(self.n_syn[0])

    @property
    def states(self) -> npt.NDArray[np.int8]:
        """Trinary states int8[N] in id order (a copy)."""
        return self.s.copy()

    @property
    def potentials(self) -> npt.NDArray[np.float64]:
        """Membrane potentials float64[N] in id order (a copy)."""
        return self.V.copy()

    @property
    def neuromodulators(self) -> dict[str, float]:
        return {name: float(self.nm[x]) for x, name in enumerate(NEUROMODULATOR_NAMES)}

    @property
    def time(self) -> float:
        return float(self.clock[0])

    @property
    def step_count(self) -> int:
        return int(self.steps[0])

    def synapses(self) -> dict[str, npt.NDArray[Any]]:
        """Synapse arrays in list order, trimmed to ``n_synapses`` (copies)."""
        n = self.n_synapses
        return {k: v[:n].copy() for k, v in self.syn.items()}

    def to_parsed(self) -> ParsedNetwork:
        n = self.n_synapses
        sy = {k: v[:n] for k, v in self.syn.items()}
        return ParsedNetwork(self.params, self.V, self.s, self.a, self.r, self.h, self.active, self.ntype,
                             sy["pre"], sy["post"], sy["wf"], sy["ws"], sy["wm"], sy["silent"], sy["modul"],
                             sy["integ"], sy["pre_tr"], sy["post_tr"], sy["stype"], self.nm,
                             self.time, self.step_count)

    def to_reference_json(self, layout: str = "save_network") -> dict[str, Any]:
        """The network as a reference JSON object (``"save_network"`` or ``"dump"`` layout)."""
        return emit_network(self.to_parsed(), layout)

    # ----------------------------------------------------------------- driving
    def set_input_states(self, trits: Sequence[int] | npt.NDArray[Any]) -> None:
        """Clamp input neurons once: ``s = trit`` and ``V = trit * θ_exc`` (reference semantics)."""
        values = trit_row(trits, self.n_inputs)
        th = self.params.firing_threshold_excitatory
        for i, v in enumerate(values):
            if v == K.NO_CLAMP:
                continue
            self.s[i] = v
            self.V[i] = v * th

    def step(self, external: Mapping[int, float] | None = None) -> None:
        """One reference ``simulate_step(external)``; ``external`` maps neuron id to current."""
        ext = EMPTY_EXT
        if external:
            ext = external_row(external, self.n_neurons)[None, :]
        self._run(1, EMPTY_CLAMP, ext, record=())

    def run(self, n_steps: int, *, inputs: npt.ArrayLike | None = None,
            external: npt.ArrayLike | Sequence[Mapping[int, float] | None] | None = None,
            record: Sequence[str] = ()) -> RunRecord:
        """Advance ``n_steps`` steps; the same as ``set_input_states`` + ``step`` per step.

        ``inputs``: trits [n_steps, k] (k <= inputs; None = no clamp) applied before each step.
        ``external``: float64 [n_steps, N] currents, or one mapping (or None) per step.
        ``record``: any of ``"states"``, ``"potentials"``, ``"n_syn"``, ``"neuromod"``, ``"counts"``.
        """
        clamp, ext = drive_arrays(n_steps, inputs, external, self.n_inputs, self.n_neurons)
        return self._run(n_steps, clamp, ext, record)

    # ----------------------------------------------------------------- internals
    def _ensure_capacity(self, extra: int) -> None:
        need = self.n_synapses + extra
        cap = self.syn["pre"].shape[0]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap, 16)
        n = self.n_synapses
        for name, arr in self.syn.items():
            grown = np.zeros(new_cap, dtype=arr.dtype)
            grown[:n] = arr[:n]
            self.syn[name] = grown

    def _run(self, n_steps: int, clamp: npt.NDArray[np.int8], ext: npt.NDArray[np.float64],
             record: Sequence[str]) -> RunRecord:
        unknown = set(record) - {"states", "potentials", "n_syn", "neuromod", "counts"}
        if unknown:
            raise ValueError(f"record: unknown item(s) {sorted(unknown)}")
        N = self.n_neurons
        T = n_steps
        rec = RunRecord(
            np.zeros((T, N), dtype=np.int8) if "states" in record else EMPTY_CLAMP,
            np.zeros((T, N)) if "potentials" in record else EMPTY_EXT,
            np.zeros(T, dtype=np.int64) if "n_syn" in record else _EMPTY_I8_1,
            np.zeros((T, 4)) if "neuromod" in record else EMPTY_EXT,
            np.zeros((T, 3), dtype=np.int64) if "counts" in record else np.zeros((0, 3), dtype=np.int64),
        )
        if T == 0:
            return rec
        if self.params.synapse_formation_prob > 0.0:
            self._ensure_capacity(T)
        sy = self.syn
        P = self.params.vector(self.extensions, self.meta_level)
        K.run_v1(self.V, self.s, self.a, self.r, self.h, self.active, self.ntype,
                 sy["pre"], sy["post"], sy["wf"], sy["ws"], sy["wm"], sy["silent"], sy["modul"],
                 sy["integ"], sy["pre_tr"], sy["post_tr"], sy["stype"], self.n_syn,
                 self.nm, self.params.baselines(), P, self.rng, self.clock, self.steps,
                 clamp, ext, T, rec.states, rec.potentials, rec.n_syn, rec.neuromod, rec.counts)
        return rec

