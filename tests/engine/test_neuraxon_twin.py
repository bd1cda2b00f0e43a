"""Property tests: the numba kernels agree with the plain-Python twin on random networks."""

from __future__ import annotations

import random as pyrandom
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import neuraxon_kernels as K
from engine.neuraxon import Network, NetworkParameters
from engine.rng import seed_state
from tests.naive.neuraxon_v1 import NaiveNetwork, er_pairs
from tests.naive.rng import Xoshiro


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    params = NetworkParameters(
        num_input_neurons=draw(st.integers(1, 6)),
        num_hidden_neurons=draw(st.integers(0, 14)),
        num_output_neurons=draw(st.integers(1, 5)),
        connection_probability=draw(st.floats(0.0, 0.7)),
        membrane_time_constant=draw(st.floats(1.0, 40.0)),
        firing_threshold_excitatory=draw(st.floats(0.05, 1.5)),
        firing_threshold_inhibitory=draw(st.floats(-1.5, -0.05)),
        spontaneous_firing_rate=draw(st.sampled_from([0.0, 0.05, 0.3])),
        neuron_health_decay=draw(st.sampled_from([0.001, 0.05])),
        tau_fast=draw(st.floats(1.0, 10.0)),
        tau_slow=draw(st.floats(5.0, 100.0)),
        learning_rate=draw(st.floats(0.0, 0.5)),
        synapse_integrity_threshold=draw(st.floats(0.0, 0.9)),
        synapse_formation_prob=draw(st.sampled_from([0.0, 0.3, 1.0])),
        synapse_death_prob=draw(st.floats(0.0, 0.2)),
        neuron_death_threshold=draw(st.sampled_from([-1.0, 0.5, 1.01])),
        dopamine_baseline=draw(st.floats(0.0, 1.0)),
        acetylcholine_baseline=draw(st.floats(0.0, 1.0)),
        neuromod_decay_rate=draw(st.floats(0.0, 0.5)),
        dt=draw(st.sampled_from([1.0, 0.5, 2.0])),
    )
    obj = Network.random(params, seed=draw(st.integers(0, 2**32))).to_reference_json("dump")
    shuffle = pyrandom.Random(draw(st.integers(0, 2**32)))
    for n in obj["neurons"]:
        n["membrane_potential"] = shuffle.uniform(-2, 2)
        n["trinary_state"] = shuffle.choice((-1, 0, 1))
        n["adaptation"] = shuffle.uniform(0, 0.2)
        n["autoreceptor"] = shuffle.uniform(-0.2, 0.2)
        n["health"] = shuffle.uniform(0.0, 1.0)
        if n["type"] == "hidden" and shuffle.random() < 0.15:
            n["is_active"] = False
    for sy in obj["synapses"]:
        sy["integrity"] = shuffle.choice((1.0, shuffle.uniform(0.0, 1.0)))
        sy["w_fast"] = shuffle.choice((sy["w_fast"], shuffle.uniform(-0.02, 0.02)))
    steps = draw(st.integers(1, 30))
    n_in, N = params.num_input_neurons, params.n_neurons
    inputs = [[shuffle.choice((-1, 0, 1)) for _ in range(n_in)] for _ in range(steps)]
    ext = [{i: shuffle.uniform(-3, 3) for i in shuffle.sample(range(N), min(N, 3))}
           if shuffle.random() < 0.5 else {} for _ in range(steps)]
    return {"obj": obj, "inputs": inputs, "ext": ext, "seed": draw(st.integers(0, 2**63))}


def _assert_same(net: Network, twin: NaiveNetwork, where: str) -> None:
    assert net.states.tolist() == twin.states, where
    np.testing.assert_allclose(net.potentials, twin.potentials, rtol=0, atol=1e-12, err_msg=where)
    syn = net.synapses()
    assert syn["pre"].tolist() == [s.pre for s in twin.synapses], where
    assert syn["post"].tolist() == [s.post for s in twin.synapses], where
    np.testing.assert_allclose(syn["wf"], [s.wf for s in twin.synapses], rtol=0, atol=1e-12)
    np.testing.assert_allclose(syn["integ"], [s.integ for s in twin.synapses], rtol=0, atol=1e-12)
    assert syn["silent"].tolist() == [s.silent for s in twin.synapses], where
    for name, level in net.neuromodulators.items():
        assert abs(level - twin.nm[name]) <= 1e-12


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_stepwise_kernel_equals_twin(sc: dict[str, Any]) -> None:
    net = Network.from_reference_json(sc["obj"], rng=sc["seed"])
    twin = NaiveNetwork(sc["obj"], seed_state(sc["seed"]).tolist())
    for t, (row, ext) in enumerate(zip(sc["inputs"], sc["ext"], strict=True)):
        net.set_input_states(row)
        twin.set_input_states(row)
        net.step(ext)
        twin.step(ext)
        _assert_same(net, twin, f"step {t}")
    assert net.to_reference_json("dump")["neurons"] == [
        {"id": n.id, "membrane_potential": n.V, "trinary_state": n.s, "adaptation": n.a,
         "autoreceptor": n.r, "health": n.h, "is_active": n.active, "type": n.type} for n in twin.neurons]


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_fused_batched_run_equals_twin(sc: dict[str, Any]) -> None:
    net = Network.from_reference_json(sc["obj"], rng=sc["seed"])
    twin = NaiveNetwork(sc["obj"], seed_state(sc["seed"]).tolist())
    rec = net.run(len(sc["inputs"]), inputs=sc["inputs"], external=sc["ext"],
                  record=("states", "potentials", "n_syn", "counts"))
    for t, (row, ext) in enumerate(zip(sc["inputs"], sc["ext"], strict=True)):
        twin.set_input_states(row)
        twin.step(ext)
        assert rec.states[t].tolist() == twin.states, f"step {t}"
        np.testing.assert_allclose(rec.potentials[t], twin.potentials, rtol=0, atol=1e-12)
        assert rec.n_syn[t] == len(twin.synapses)
        assert rec.counts[t, 2] >= sum(1 for n in twin.neurons if n.active)
    _assert_same(net, twin, "end")
    assert net.rng.tolist() == twin.rng.s, "both consumed the same random draws"


@given(st.integers(0, 2**64 - 1), st.integers(1, 200))
def test_rng_matches_twin(seed: int, n: int) -> None:
    from engine import rng as R

    state = R.seed_state(seed)
    twin = Xoshiro(state.tolist())
    for _ in range(n):
        assert int(R.next_u64(state)) == twin.next_u64()
    assert R.random(state) == twin.random()
    assert R.uniform(state, -0.5, 0.5) == twin.uniform(-0.5, 0.5)
    assert R.below(state, 7) == twin.below(7)


@given(st.integers(0, 6), st.integers(0, 12), st.integers(0, 5), st.floats(0.0, 1.0), st.integers(0, 2**40))
def test_er_topology_matches_twin(n_in: int, n_hid: int, n_out: int, p: float, seed: int) -> None:
    if n_in + n_hid + n_out == 0:
        return
    state = seed_state(seed)
    pre, post = K.random_er_topology(n_in, n_hid, n_out, p, state)
    assert list(zip(pre.tolist(), post.tolist(), strict=True)) == er_pairs(
        n_in, n_hid, n_out, p, Xoshiro(seed_state(seed).tolist()))


def test_er_topology_density_and_rules() -> None:
    pre, post = K.random_er_topology(50, 300, 50, 0.05, seed_state(1))
    N = 400
    pairs = N * (N - 1) - 50 * 50
    assert abs(len(pre) - 0.05 * pairs) < 4 * (0.05 * 0.95 * pairs) ** 0.5
    assert not ((pre >= 350) & (post < 50)).any() and not (pre == post).any()
    assert len(set(zip(pre.tolist(), post.tolist(), strict=True))) == len(pre)
