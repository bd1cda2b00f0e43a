"""Reading and writing the reference JSON layouts; malformed input is refused by field name."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from engine.neuraxon import Network, NetworkFormatError, NetworkParameters
from tests.engine.vectors import DATA, load

INIT = load(DATA / "v1_det_active_init.json")


def _broken(edit: Any) -> dict[str, Any]:
    obj = copy.deepcopy(INIT)
    edit(obj)
    return obj


def test_dump_layout_round_trips_exactly() -> None:
    out = Network.from_reference_json(INIT).to_reference_json("dump")
    assert json.loads(json.dumps(out)) == INIT


def test_save_network_layout_round_trips_and_is_grouped() -> None:
    net = Network.random(NetworkParameters(), seed=5)
    net.run(20, inputs=[[1, -1, 0, 1, -1]] * 20)
    saved = json.loads(json.dumps(net.to_reference_json()))
    assert set(saved["neurons"]) == {"input", "hidden", "output"}
    assert len(saved["neurons"]["hidden"]) == 20
    again = Network.from_reference_json(saved)
    assert again.to_reference_json() == saved
    assert again.states.tolist() == net.states.tolist()


def test_reference_save_file_without_extras_loads() -> None:
    """A file as the reference's save_network writes it: no autoreceptor, no traces."""
    obj = Network.random(NetworkParameters(), seed=1).to_reference_json()
    for group in obj["neurons"].values():
        for n in group:
            del n["autoreceptor"]
    for s in obj["synapses"]:
        del s["pre_trace"], s["post_trace"]
    net = Network.from_reference_json(obj)
    assert net.n_synapses == len(obj["synapses"])


@pytest.mark.parametrize(("edit", "field"), [
    (lambda o: o["synapses"][3].__setitem__("w_fast", float("nan")), "synapses[3].w_fast"),
    (lambda o: o["synapses"][0].__setitem__("post_id", 999), "synapses[0].post_id"),
    (lambda o: o["synapses"][1].__setitem__("is_silent", "no"), "synapses[1].is_silent"),
    (lambda o: o["synapses"].append(dict(o["synapses"][0])), "duplicate synapse"),
    (lambda o: o["synapses"][2].__setitem__("post_id", o["synapses"][2]["pre_id"]), "self-loop"),
    (lambda o: o["neurons"][4].__setitem__("trinary_state", 2), "neurons[4].trinary_state"),
    (lambda o: o["neurons"][7].__setitem__("membrane_potential", "0.1"), "neurons[7].membrane_potential"),
    (lambda o: o["neurons"][0].__setitem__("id", 3), "neurons[0].id"),
    (lambda o: o["neurons"].pop(), "neurons:"),
    (lambda o: o["parameters"].__setitem__("tau_fast", 0), "parameters.tau_fast"),
    (lambda o: o["parameters"].__setitem__("bogus", 1), "parameters.bogus"),
    (lambda o: o["parameters"].__setitem__("num_hidden_neurons", 1.5), "parameters.num_hidden_neurons"),
    (lambda o: o["neuromodulators"].pop("serotonin"), "neuromodulators.serotonin"),
    (lambda o: o.__setitem__("synapses", {}), "synapses"),
    (lambda o: o["neurons"][1].__setitem__("type", "hidden"), "neurons"),
])
def test_malformed_input_names_the_field(edit: Any, field: str) -> None:
    with pytest.raises(NetworkFormatError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Network.from_reference_json(_broken(edit))


def test_output_to_input_synapse_is_refused() -> None:
    n_in = INIT["parameters"]["num_input_neurons"]
    last = len(INIT["neurons"]) - 1

    def edit(o: dict[str, Any]) -> None:
        o["synapses"][0]["pre_id"], o["synapses"][0]["post_id"] = last, n_in - 1

    with pytest.raises(NetworkFormatError, match="output neuron"):
        Network.from_reference_json(_broken(edit))


def test_bad_driving_input_is_refused() -> None:
    net = Network.from_reference_json(INIT)
    with pytest.raises(ValueError, match="trit 1"):
        net.set_input_states([1, 5])
    with pytest.raises(ValueError, match="input neurons"):
        net.set_input_states([0] * 6)
    with pytest.raises(ValueError, match="unknown neuron id"):
        net.step({500: 1.0})
    with pytest.raises(ValueError, match="finite"):
        net.step({1: float("inf")})
    before = net.to_reference_json("dump")
    assert before == Network.from_reference_json(INIT).to_reference_json("dump")
