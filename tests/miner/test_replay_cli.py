"""``neuraxon-miner replay`` as an operator uses it."""

from __future__ import annotations

import json
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
