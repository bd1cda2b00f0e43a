"""``neuraxon-miner score`` / ``verify`` as an operator or a verifier uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miner.cli import main
from scoring import neuraxon as NX
from scoring.neuraxon_task import TaskSpec

SMALL = Path(__file__).resolve().parent.parent / "data" / "neuraxon-task" / "small.json"
PK = bytes(range(32)).hex()
NONCE = "ab" * 32


def test_score_prints_the_integer_and_exports_the_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "best.json"
    assert main(["score", "--task", str(SMALL), "--identity", PK, "--nonce", NONCE, "--export", str(out_file)]) == 0
    value = int(capsys.readouterr().out.strip())
    task = TaskSpec.from_dict(json.loads(SMALL.read_text()))
    assert value == NX.score(task, PK, NONCE)
    network = json.loads(out_file.read_text())
    assert NX.evaluate(NX.prepare(task), NX.genome_from_network(NX.prepare(task), network)) == value


def test_verify_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    task = TaskSpec.from_dict(json.loads(SMALL.read_text()))
    value = NX.score(task, PK, NONCE)
    base = ["verify", "--task", str(SMALL), "--identity", PK, "--nonce", NONCE]
    assert main([*base, "--claimed", str(value)]) == 0
    assert main([*base, "--claimed", str(value + 1)]) == 1
    assert f"recomputed {value}" in capsys.readouterr().out


def test_parent_walk_and_forged_parent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parent_file = tmp_path / "parent.json"
    assert main(["score", "--task", str(SMALL), "--identity", PK, "--nonce", "01" * 32,
                 "--export", str(parent_file)]) == 0
    parent_score = int(capsys.readouterr().out.strip())
    args = ["--task", str(SMALL), "--identity", PK, "--nonce", NONCE, "--parent", str(parent_file)]
    assert main(["score", *args, "--parent-score", str(parent_score)]) == 0
    child = int(capsys.readouterr().out.strip())
    assert child >= parent_score
    assert main(["verify", *args, "--parent-score", str(parent_score), "--claimed", str(child)]) == 0
    assert main(["verify", *args, "--parent-score", str(parent_score + 7), "--claimed", str(child)]) == 1
    assert "forged" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--identity", PK, "--nonce", "zz"], "nonce"),
    (["--identity", "NOPE", "--nonce", NONCE], "--identity"),
    (["--identity", PK, "--nonce", NONCE, "--threads", "0"], "--threads"),
    (["--identity", PK, "--nonce", NONCE, "--task", "/nonexistent.json"], "cannot read task"),
    (["--identity", PK, "--nonce", NONCE, "--parent-score", "3"], "--parent"),
])
def test_bad_input_is_exit_2_with_a_message(argv: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", *argv]) == 2
    assert message in capsys.readouterr().err


def test_invalid_task_file_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "task.json"
    bad.write_text(json.dumps({"environment": {"kind": "maze"}}))
    assert main(["score", "--task", str(bad), "--identity", PK, "--nonce", NONCE]) == 2
    assert "task.environment.kind" in capsys.readouterr().err


def test_bpp9000_through_the_same_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.bpp9000_vectors import TASK, vector_seed

    base = ["--algo", "bpp9000", "--identity", PK, "--nonce", "01030000" + "ab" * 28]
    # Without --task: the current version (v1.305) on its shipped production task; mode 0 is not canonical there.
    assert main(["score", *base, "--seed", vector_seed().hex()]) == 0
    out = capsys.readouterr()
    assert out.out.split()[0] == "4294967295" and "void Rating" in out.err
    assert main(["score", *base, "--task", str(TASK)]) == 2
    assert "--seed is required" in capsys.readouterr().err
    assert main(["score", *base, "--task", str(TASK), "--seed", vector_seed().hex(), "--export", "x.json"]) == 2
    assert "export no network" in capsys.readouterr().err
    non_canonical = ["--algo", "bpp9000", "--identity", PK, "--nonce", "01030100" + "ab" * 28, "--task", str(TASK),
                     "--seed", vector_seed().hex(), "--claimed", "5"]
    assert main(["verify", *non_canonical]) == 1  # K (byte 2) must be 0: the server would refuse the nonce
    assert "not canonical" in capsys.readouterr().out
