"""Input clamps and external currents, as both engines take them (engine/neuraxon_drive.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.neuraxon import Network, NetworkParameters
from engine.neuraxon_v2 import NetworkParametersV2, NetworkV2


@pytest.mark.parametrize("make", [
    lambda: Network.random(NetworkParameters(num_input_neurons=5), seed=3),
    lambda: NetworkV2.build(NetworkParametersV2(num_input_neurons=5), rng=3),
])
def test_fewer_trits_than_inputs_leave_the_rest_alone(make) -> None:  # type: ignore[no-untyped-def]
    net = make()
    net.set_input_states([1, -1, 0, 1, -1])
    net.set_input_states([-1, 1])
    assert net.states[:5].tolist() == [-1, 1, 0, 1, -1]


@pytest.mark.parametrize("make", [
    lambda: Network.random(NetworkParameters(num_input_neurons=3), seed=1),
    lambda: NetworkV2.build(NetworkParametersV2(num_input_neurons=3), rng=1),
])
def test_bad_drive_is_refused_with_the_reason(make) -> None:  # type: ignore[no-untyped-def]
    net = make()
    with pytest.raises(ValueError, match="got 4 trits for 3 input neurons"):
        net.set_input_states([1, 0, 0, 1])
    with pytest.raises(ValueError, match="trit 0 must be -1, 0 or 1"):
        net.set_input_states([True])
    with pytest.raises(ValueError, match="unknown neuron id 99"):
        net.step({99: 1.0})
    with pytest.raises(ValueError, match="must be a finite number"):
        net.step({4: float("nan")})
    with pytest.raises(ValueError, match=r"inputs must have shape \(2, k\)"):
        net.run(2, inputs=np.zeros((3, 3), dtype=np.int8))
    with pytest.raises(ValueError, match="external needs 2 entries"):
        net.run(2, external=[{}])
    with pytest.raises(ValueError, match="n_steps must be a non-negative integer"):
        net.run(-1)


def test_v2_inputs_hold_and_external_current_sets_an_input() -> None:
    """v2 inputs keep their trit through steps; an external current on an input re-sets it."""
    net = NetworkV2.build(NetworkParametersV2(num_input_neurons=3, num_hidden_neurons=4, num_output_neurons=2),
                          rng=5)
    net.set_input_states([1, -1, 0])
    for _ in range(5):
        net.step()
    assert net.states[:3].tolist() == [1, -1, 0]
    net.step({2: 0.6, 1: 0.5, 0: -7.5})  # round(0.6) = 1; round(0.5) = 0 (half to even); clipped to -1
    assert net.states[:3].tolist() == [-1, 0, 1]
    assert net.potentials[:3].tolist() == [-0.4, 0.0, 0.4]
