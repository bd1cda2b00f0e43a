"""Reading and writing Neuraxon v2 JSON; malformed input and parameters are refused by field name."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from engine.neuraxon_v2 import NetworkFormatError, NetworkParametersV2, NetworkV2
from tests.engine.test_neuraxon_v2_twin import bits

INIT = json.loads((Path(__file__).resolve().parent.parent / "data" / "neuraxon-v2" / "v2_det_small_init.json")
                  .read_text())


def _broken(edit: Any) -> dict[str, Any]:
    obj = copy.deepcopy(INIT)
    edit(obj)
    return obj


def test_dump_layout_round_trips_exactly() -> None:
    assert bits(json.loads(json.dumps(NetworkV2.from_reference_json(INIT).to_reference_json("dump")))) == bits(INIT)


def test_save_network_layout_is_upstreams_and_round_trips() -> None:
    net = NetworkV2.build(NetworkParametersV2(), rng=11)
    net.run(30, inputs=[[1, -1, 0, 1, -1]] * 30)
    saved = json.loads(json.dumps(net.to_reference_json("save_network")))
    assert set(saved["neurons"]) == {"input", "hidden", "output"}
    assert set(saved["neuromodulator_system"]) == {"levels", "receptors"}
    assert "membrane_potential" in saved["neurons"]["hidden"][0]
    again = NetworkV2.from_reference_json(saved)
    assert bits(again.to_reference_json("save_network")) == bits(saved)


def test_upstream_to_dict_without_carried_extras_loads() -> None:
    """upstream's to_dict lacks recent_delta_w, branch_potentials and the _last_* values: a fresh
    object's values are used."""
    obj = NetworkV2.build(NetworkParametersV2(), rng=2).to_reference_json("save_network")
    for group in obj["neurons"].values():
        for n in group:
            for key in ("branch_potentials", "_dsn_last_x", "_ctsn_last_x", "_ctsn_last_phi"):
                del n[key]
    for s in obj["synapses"]:
        del s["recent_delta_w"]
    net = NetworkV2.from_reference_json(obj)
    assert net.n_synapses == len(obj["synapses"])
    assert not net.bpot.any()


@pytest.mark.parametrize(("edit", "field"), [
    (lambda o: o["synapses"][3].__setitem__("w_fast", float("nan")), "synapses[3].w_fast"),
    (lambda o: o["synapses"][0].__setitem__("post_id", 99), "synapses[0].post_id: unknown neuron id 99"),
    (lambda o: o["synapses"][5].__setitem__("branch_id", -1), "synapses[5].branch_id"),
    (lambda o: o["synapses"][1].__setitem__("is_modulatory", 1), "synapses[1].is_modulatory"),
    (lambda o: o["synapses"][2].__setitem__("synapse_type", "fast"), "synapses[2].synapse_type"),
    (lambda o: o["neurons"][4].__setitem__("trinary_state", 2), "neurons[4].trinary_state"),
    (lambda o: o["neurons"][6].__setitem__("dsn_input_buffer", [0.0] * 3), "neurons[6].dsn_input_buffer"),
    (lambda o: o["neurons"][6].__setitem__("branch_potentials", "x"), "neurons[6].branch_potentials"),
    (lambda o: o["neurons"][2]["msth"].__setitem__("medium_gain", None), "neurons[2].msth.medium_gain"),
    (lambda o: o["neurons"].pop(), "neurons:"),
    (lambda o: o["receptors"]["D1"].__setitem__("parent_modulator", "GABA"), "receptors.D1.parent_modulator"),
    (lambda o: o["receptors"].__setitem__("H1", {}), "receptors.H1: unknown receptor"),
    (lambda o: o["neuromodulator_levels"]["DA"].pop("phasic"), "neuromodulator_levels.DA.phasic"),
    (lambda o: o["oscillators"]["bands"].pop("theta"), "oscillators.bands.theta"),
    (lambda o: o.pop("oscillators"), "oscillators: missing"),
    (lambda o: o.__setitem__("version", "1.0"), "version"),
    (lambda o: o["parameters"].__setitem__("ws_k", 2.5), "parameters.ws_k: must be an integer"),
    (lambda o: o["parameters"].__setitem__("tau_fast", 0), "parameters.tau_fast: must be > 0"),
    (lambda o: o["parameters"].__setitem__("dsn_enabled", "yes"), "parameters.dsn_enabled: must be true or false"),
    (lambda o: o["parameters"].__setitem__("dsn_kernel_weights", [1, "a"]), "parameters.dsn_kernel_weights"),
    (lambda o: o["parameters"].__setitem__("num_dendritic_branches", 0), "parameters.num_dendritic_branches"),
    (lambda o: o["parameters"].__setitem__("connection_probability", 0.1), "parameters.connection_probability"),
])
def test_malformed_network_names_the_field(edit: Any, field: str) -> None:
    with pytest.raises(NetworkFormatError, match=field.replace("[", r"\[").replace("]", r"\]")):
        NetworkV2.from_reference_json(_broken(edit))


def test_parameters_normalise_the_dsn_kernel_like_upstream() -> None:
    assert NetworkParametersV2().kernel == (0.1, 0.2, 0.3, 0.4)
    p = NetworkParametersV2(dsn_kernel_size=3, dsn_kernel_weights=[2.0, -2.0])  # padded with the last weight
    assert p.kernel == (2.0 / 6.0, -2.0 / 6.0, -2.0 / 6.0)
    assert p.replace(dt=0.5).kernel == p.kernel  # re-creating does not normalise twice
    assert NetworkParametersV2.from_dict(p.to_dict()).to_dict() == p.to_dict()
    assert p.deterministic().spontaneous_firing_rate == -1.0


def test_modulate_sets_the_tonic_level_clamped() -> None:
    net = NetworkV2.from_reference_json(INIT)
    net.modulate("dopamine", 3.0)
    net.modulate("5HT", -1.0)
    assert net.neuromodulator_levels["DA"]["tonic"] == 1.0
    assert net.neuromodulator_levels["5HT"]["tonic"] == 0.0
    with pytest.raises(ValueError, match="unknown neuromodulator"):
        net.modulate("gaba", 0.5)
