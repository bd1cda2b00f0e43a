"""Property tests: the v2 numba engine agrees bit for bit with the plain-Python twin.

Random small networks with every switch of upstream's parameters exercised (DSN/CTSN learning,
chrono/AGMP off, stochastic spontaneous kicks, formation and neuron death on, odd clips and slopes),
built from a seed by both (the twin with a real ``set`` and ``random.Random``), then perturbed
and stepped with random input trits and external currents. After every step the whole state
(every float compared by its bit pattern), the synapse order and the generator state must match.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import neuraxon_v2_layout as L
from engine.neuraxon_v2 import NetworkParametersV2, NetworkV2
from tests.naive.neuraxon_v2 import NaiveV2

pytestmark = pytest.mark.skipif(sys.implementation.name != "cpython",
                                reason="the twin builds with the interpreter's own set; its order is CPython's")


def bits(obj: Any) -> Any:
    """``obj`` with every number replaced by its exact float hex form (so -0.0 != 0.0).

    Numbers compare as floats: upstream writes an empty branch sum as the int 0 (``sum([])``),
    which is the same value as our 0.0.
    """
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return float(obj).hex()
    if isinstance(obj, dict):
        return {k: bits(v) for k, v in obj.items() if k != "parameters"}
    if isinstance(obj, list | tuple):
        return [bits(v) for v in obj]
    return obj


@st.composite
def parameters(draw: st.DrawFn) -> NetworkParametersV2:
    flag = st.booleans()
    omin, omax = draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))
    return NetworkParametersV2(
        num_input_neurons=draw(st.integers(1, 4)), num_hidden_neurons=draw(st.integers(0, 8)),
        num_output_neurons=draw(st.integers(1, 3)), num_dendritic_branches=draw(st.integers(1, 4)),
        dendritic_spike_threshold=draw(st.sampled_from([0.4, 0.05, 2.0])),
        dendritic_supralinear_gamma=draw(st.sampled_from([1.3, 0.7, 2.0])),
        ws_k=draw(st.integers(0, 8)), ws_beta=draw(st.sampled_from([0.0, 0.3, 1.0])),
        firing_threshold_excitatory=draw(st.floats(0.05, 0.8)),
        firing_threshold_inhibitory=draw(st.floats(-0.8, -0.05)),
        adaptation_tau=draw(st.sampled_from([100.0, 5.0])),
        spontaneous_firing_rate=draw(st.sampled_from([-1.0, 0.02, 0.3])),
        neuron_health_decay=draw(st.sampled_from([0.001, 0.2])),
        homeostatic_rate=draw(st.sampled_from([0.0005, 0.05])),
        firing_rate_alpha=draw(st.sampled_from([0.01, 0.3])),
        msth_ultrafast_ceiling=draw(st.sampled_from([2.0, 0.3])),
        msth_fast_tau=draw(st.sampled_from([2000.0, 20.0])),
        msth_medium_tau=draw(st.sampled_from([300000.0, 10.0])),
        msth_medium_gain=draw(st.sampled_from([0.001, 0.5])),
        dsn_kernel_size=draw(st.integers(1, 5)), dsn_enabled=draw(flag), dsn_bias=draw(st.sampled_from([0.0, 0.3])),
        dsn_kernel_weights=draw(st.sampled_from([None, [1.0, -0.5, 2.0], [0.0], [0.3, 0.3, 0.3, 0.3, 0.3]])),
        dsn_learn_enabled=draw(flag), dsn_learn_lr=draw(st.sampled_from([0.01, 0.5])),
        dsn_kernel_clip=draw(st.sampled_from([5.0, 0.2])),
        ctsn_enabled=draw(flag), ctsn_learn_enabled=draw(flag), ctsn_learn_lr=draw(st.sampled_from([0.005, 2.0])),
        ctsn_phi_gain_clip=draw(st.sampled_from([5.0, 0.6])), ctsn_rho=draw(st.sampled_from([0.9, 0.5])),
        tau_fast=draw(st.sampled_from([5.0, 2.0])), tau_slow=draw(st.sampled_from([50.0, 3.0])),
        chrono_enabled=draw(flag), chrono_trace_clip=draw(st.sampled_from([10.0, 1.5, 0.0])),
        chrono_gate_norm=draw(st.sampled_from([10.0, 0.0, 2.0])),
        chrono_raw_clip=draw(st.sampled_from([8.0, 0.0, 0.5])),
        chrono_omega_min=omin, chrono_omega_max=omax,
        chrono_omega_smoothing=draw(st.sampled_from([0.2, -0.5, 1.5])),
        agmp_enabled=draw(flag), agmp_eta=draw(st.sampled_from([0.005, 0.5])),
        learning_rate=draw(st.sampled_from([0.01, 0.3])), associative_alpha=draw(st.sampled_from([0.005, 0.5])),
        synapse_integrity_threshold=draw(st.sampled_from([0.1, 0.6, 0.0])),
        synapse_formation_prob=draw(st.sampled_from([0.0, 0.3, 1.0])),
        synapse_death_prob=draw(st.sampled_from([0.01, 0.2])),
        neuron_death_threshold=draw(st.sampled_from([-1.0, 0.1, 1.01])),
        dopamine_baseline=draw(st.floats(0.0, 1.0)), acetylcholine_baseline=draw(st.floats(0.0, 1.0)),
        tau_phasic=draw(st.sampled_from([200.0, 3.0])),
        neuromod_release_rate=draw(st.sampled_from([0.02, 0.4])),
        receptor_concentration_cap=draw(st.sampled_from([1.0, 0.0, 0.4])),
        receptor_slope_tonic=draw(st.sampled_from([4.0, 0.0])), receptor_slope_phasic=draw(st.sampled_from([3.0, 0.0])),
        oscillator_coupling=draw(st.sampled_from([0.1, 1.0])), dt=draw(st.sampled_from([1.0, 0.5, 2.0])),
    )


def perturb(obj: dict[str, Any], r: random.Random) -> None:
    """Random but valid state: trits, potentials, traces, integrities near the thresholds."""
    for n in obj["neurons"]:
        n["trinary_state"] = r.choice((-1, 0, 1))
        n["prev_state"] = r.choice((-1, 0, 1))
        n["state"] = r.uniform(-1.5, 1.5)
        n["complement_h"] = r.uniform(-0.3, 0.3)
        n["adaptation"] = r.uniform(0.0, 0.2)
        n["autoreceptor"] = r.uniform(-0.2, 0.2)
        n["health"] = r.uniform(0.0, 1.0)
        n["firing_rate_avg"] = r.uniform(0.0, 1.0)
        n["astrocyte_state"] = r.uniform(0.0, 1.0)
        n["dsn_input_buffer"] = [r.uniform(-1, 1) for _ in n["dsn_input_buffer"]]
        if n["type"] == "hidden" and r.random() < 0.15:
            n["is_active"] = False
    for s in obj["synapses"]:
        s["integrity"] = r.choice((1.0, r.uniform(-0.1, 1.0)))
        s["w_fast"] = r.choice((s["w_fast"], r.uniform(-0.02, 0.02)))
        s["pre_trace"] = r.uniform(0.0, 2.0)
        s["post_trace"] = r.uniform(0.0, 2.0)
        s["recent_delta_w"] = r.uniform(-0.05, 0.05)
        s["chrono_fast_trace"] = r.uniform(-12, 12)
        s["chrono_slow_trace"] = r.uniform(-12, 12)
        s["eligibility"] = r.uniform(-1, 1)
        s["branch_index"] = r.randrange(4)  # stale positions: both re-rank at the end of the step
    levels = obj["neuromodulator_levels"]
    for m in levels.values():
        m["phasic"] = r.uniform(0.0, 0.5)


def assert_same(net: NetworkV2, twin: NaiveV2, where: str) -> None:
    assert bits(net.to_reference_json("dump")) == bits(twin.to_json()), where
    assert net.python_random().getstate() == twin.rng.getstate(), f"{where}: generator state"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=parameters(), seed=st.integers(0, 2**40))
def test_build_equals_twin(params: NetworkParametersV2, seed: int) -> None:
    net = NetworkV2.build(params, rng=seed)
    twin = NaiveV2.build(params.to_dict(), random.Random(seed))
    assert_same(net, twin, "after construction")


def check_steps(params: NetworkParametersV2, seed: int, data: st.DataObject) -> None:
    r = random.Random(data.draw(st.integers(0, 2**32), label="perturbation"))
    obj = NetworkV2.build(params, rng=seed).to_reference_json("dump")
    perturb(obj, r)
    net = NetworkV2.from_reference_json(obj, rng=seed + 1)
    twin = NaiveV2.from_json(obj, random.Random(seed + 1))
    N = params.n_neurons
    for t in range(data.draw(st.integers(1, 25), label="steps")):
        if r.random() < 0.8:
            trits = [r.choice((-1, 0, 1)) for _ in range(r.randint(0, params.num_input_neurons))]
            net.set_input_states(trits)
            twin.set_input_states(trits)
        ext = {i: r.choice((0.0, 0.5, -0.5, 1.49, r.uniform(-3, 3))) for i in r.sample(range(N), min(N, 3))} \
            if r.random() < 0.5 else None
        net.step(ext)
        twin.step(ext)
        assert_same(net, twin, f"step {t}")
        assert net.output_states == twin.output_states()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=parameters(), seed=st.integers(0, 2**40), data=st.data())
def test_steps_equal_twin(params: NetworkParametersV2, seed: int, data: st.DataObject) -> None:
    check_steps(params, seed, data)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=parameters(), seed=st.integers(0, 2**40), data=st.data())
def test_steps_equal_twin_many(params: NetworkParametersV2, seed: int, data: st.DataObject) -> None:
    check_steps(params, seed, data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=parameters(), seed=st.integers(0, 2**40), steps=st.integers(1, 30))
def test_run_equals_stepwise(params: NetworkParametersV2, seed: int, steps: int) -> None:
    """One batched ``run`` (clamp + currents per step) equals set_input_states + step per step."""
    r = random.Random(seed)
    n_in, N = params.num_input_neurons, params.n_neurons
    inputs = np.array([[r.choice((-1, 0, 1)) for _ in range(n_in)] for _ in range(steps)], dtype=np.int8)
    ext = np.array([[r.uniform(-1, 1) if r.random() < 0.2 else 0.0 for _ in range(N)] for _ in range(steps)])
    batched = NetworkV2.build(params, rng=seed)
    rec = batched.run(steps, inputs=inputs, external=ext, record=("states", "potentials", "state_tilde", "n_syn",
                                                                  "neuromod", "counts"))
    stepped = NetworkV2.build(params, rng=seed)
    for t in range(steps):
        alive = stepped.ni[L.NI_ACTIVE] != 0
        stepped.set_input_states(inputs[t].tolist())
        stepped.step(dict(enumerate(ext[t].tolist())))
        assert rec.states[t].tolist() == stepped.states.tolist()
        assert rec.potentials[t].tobytes() == stepped.potentials.tobytes()
        assert rec.state_tilde[t].tobytes() == stepped.state_tilde.tobytes()
        assert rec.n_syn[t] == stepped.n_synapses
        assert rec.neuromod[t].tolist() == list(stepped.neuromodulators.values())
        if (alive == (stepped.ni[L.NI_ACTIVE] != 0)).all():  # no neuron died in this step
            s = stepped.states
            inner = alive & (stepped.ni[L.NI_TYPE] != L.INPUT)
            expected = [(s[alive] == 1).sum(), (s[alive] == -1).sum(), alive.sum(),
                        (s[inner] == 1).sum(), (s[inner] == -1).sum(), inner.sum()]
            assert rec.counts[t].tolist() == [int(x) for x in expected]
    assert bits(batched.to_reference_json()) == bits(stepped.to_reference_json())


@pytest.mark.slow
@pytest.mark.parametrize(("hidden", "ws_k"), [(10_000, 6), (3_000, 40)])
def test_large_build_equals_twin(hidden: int, ws_k: int) -> None:
    """Above 50,000 edges CPython's set grows by 2x instead of 4x; construction still agrees."""
    params = NetworkParametersV2(num_hidden_neurons=hidden, ws_k=ws_k)
    net = NetworkV2.build(params, rng=7)
    twin = NaiveV2.build(params.to_dict(), random.Random(7))
    assert net.n_synapses > 50_000
    assert_same(net, twin, "after construction")
