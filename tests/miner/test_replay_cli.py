"""``neuraxon-miner replay`` as an operator uses it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from miner.cli import main
from tests.engine.vectors import DATA, cases

REPLAY_CASES = [c for c in cases() if "_det_" in c]


@pytest.mark.parametrize("case", REPLAY_CASES)
def test_replay_reports_all_steps_match(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["replay", "--init", str(DATA / f"{case}_init.json"), "--traj", str(DATA / f"{case}_traj.json")])
    out = capsys.readouterr().out
    n = len(json.loads((DATA / f"{case}_traj.json").read_text()))
    assert rc == 0 and f"{n}/{n} steps match" in out


def test_replay_names_first_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traj = json.loads((DATA / "v1_det_active_traj.json").read_text())
    traj[17]["potential"][12] += 1e-6
    bad = tmp_path / "traj.json"
    bad.write_text(json.dumps(traj))
    rc = main(["replay", "--init", str(DATA / "v1_det_active_init.json"), "--traj", str(bad)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "step 17: mismatch in potential[12]" in out and "17/300 steps match" in out


def test_replay_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert main(["replay", "--init", str(junk), "--traj", str(junk)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["replay", "--init", str(tmp_path / "missing.json"), "--traj", str(junk)]) == 2
    assert "not found" in capsys.readouterr().err


def test_console_command_version_and_help() -> None:
    out = subprocess.run([sys.executable, "-m", "miner", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("neuraxon-miner ")
    helptext = subprocess.run([sys.executable, "-m", "miner", "--help"], capture_output=True, text=True,
                              check=True).stdout
    assert "replay" in helptext and "demo" in helptext


V2 = Path(__file__).resolve().parent.parent / "data" / "neuraxon-v2"
V2_CASES = sorted(p.name.removesuffix("_init.json") for p in V2.glob("*_init.json"))


@pytest.mark.parametrize("case", V2_CASES)
def test_replay_v2_reports_all_steps_match(case: str) -> None:
    """Through the installed console entry point, as an operator runs it."""
    out = subprocess.run([sys.executable, "-m", "miner", "replay", "--model", "v2", "--init",
                          str(V2 / f"{case}_init.json"), "--traj", str(V2 / f"{case}_traj.json")],
                         capture_output=True, text=True)
    n = len(json.loads((V2 / f"{case}_traj.json").read_text()))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{n}/{n} steps match"


@pytest.mark.parametrize(("field", "index"), [("state_tilde", 4), ("w_slow", 30), ("dsn_alpha", 7)])
def test_replay_v2_names_first_mismatch_at_one_ulp(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   field: str, index: int) -> None:
    traj = json.loads((V2 / "v2_det_small_traj.json").read_text())
    traj[57][field][index] = math.nextafter(traj[57][field][index], math.inf)
    bad = tmp_path / "traj.json"
    bad.write_text(json.dumps(traj))
    rc = main(["replay", "--model", "v2", "--init", str(V2 / "v2_det_small_init.json"), "--traj", str(bad)])
    out = capsys.readouterr().out
    assert rc == 1
    assert f"step 57: mismatch in {field}[{index}]" in out and "57/200 steps match" in out


def test_replay_v2_tolerance_accepts_small_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traj = json.loads((V2 / "v2_det_small_traj.json").read_text())
    traj[3]["potential"][5] += 1e-13
    traj[9]["receptors"]["D1"] += 1e-14
    bad = tmp_path / "traj.json"
    bad.write_text(json.dumps(traj))
    args = ["replay", "--model", "v2", "--init", str(V2 / "v2_det_small_init.json"), "--traj", str(bad)]
    assert main(args) == 1
    assert "step 3: mismatch in potential[5]" in capsys.readouterr().out
    assert main([*args, "--potential-tol", "1e-12", "--neuromod-tol", "1e-12"]) == 0
    assert "200/200 steps match" in capsys.readouterr().out


def test_replay_v2_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v2_init, v2_traj = V2 / "v2_det_small_init.json", V2 / "v2_det_small_traj.json"
    # a v1 network given as v2: the message names the field and suggests --model v1
    assert main(["replay", "--model", "v2", "--init", str(DATA / "v1_det_active_init.json"),
                 "--traj", str(v2_traj)]) == 2
    assert "use --model v1" in capsys.readouterr().err
    init = json.loads(v2_init.read_text())
    init["synapses"][3]["branch_id"] = 3
    bad = tmp_path / "init.json"
    bad.write_text(json.dumps(init))
    assert main(["replay", "--model", "v2", "--init", str(bad), "--traj", str(v2_traj)]) == 2
    assert "synapses[3].branch_id: must be in 0..2" in capsys.readouterr().err
    not_list = tmp_path / "traj.json"
    not_list.write_text('{"t": 0}')
    assert main(["replay", "--model", "v2", "--init", str(v2_init), "--traj", str(not_list)]) == 2
    assert "must hold a list of step records" in capsys.readouterr().err
    traj = json.loads(v2_traj.read_text())[:3]
    traj[1]["inputs"] = [1, 2, 0]
    bad_traj = tmp_path / "traj2.json"
    bad_traj.write_text(json.dumps(traj))
    assert main(["replay", "--model", "v2", "--init", str(v2_init), "--traj", str(bad_traj)]) == 2
    assert "step 1: set_input_states: trit 1 must be -1, 0 or 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--model", "v3", "--init", str(v2_init), "--traj", str(v2_traj)])
    assert exited.value.code == 2 and "invalid choice: 'v3'" in capsys.readouterr().err
