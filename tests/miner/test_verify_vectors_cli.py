"""``neuraxon-miner verify-vectors bpp9000``: what an operator sees for good, bad and broken inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from miner.cli import main
from tests.bpp9000_vectors import SAMPLES, SCORES, TASK, vector_pool


@pytest.fixture(scope="module", autouse=True)
def _shared_pool() -> None:
    vector_pool()  # the CLI takes the process-wide pool, already built for the session


def _run(*extra: str, task: Path = TASK, samples: Path = SAMPLES, scores: Path = SCORES) -> int:
    return main(["verify-vectors", "bpp9000", "--task", str(task), "--samples", str(samples),
                 "--scores", str(scores), *extra])


def test_matching_rows_print_matched_over_total_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--rows", "8", "--configs", "0,1", "--threads", "2") == 0
    out = capsys.readouterr().out
    assert "config 0 (18-1-128-32-5000-3-64-10-76): 8/8 matched" in out
    assert "config 1 (18-1-512-128-20000-3-64-15-306): 8/8 matched" in out
    assert "all rows matched" in out


def test_a_wrong_expected_score_is_reported_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = SCORES.read_text().splitlines()
    cells = lines[3].split(",")
    cells[0] = " 12345"
    lines[3] = ",".join(cells)
    scores = tmp_path / "scores.csv"
    scores.write_text("\n".join(lines) + "\n")
    assert _run("--rows", "4", "--configs", "0", scores=scores) == 1
    out = capsys.readouterr().out
    assert "3/4 matched" in out
    assert "row 2: got 4294967295, expected 12345" in out
    assert "MISMATCH" in out


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(samples=tmp_path / "absent.csv") == 2
    assert f"samples file not found: {tmp_path / 'absent.csv'}" in capsys.readouterr().err


@pytest.mark.parametrize(("row", "message"), [
    ("aa, bb", "expected 3 columns"),
    ("zz" * 32 + ", " + "00" * 32 + ", " + "00" * 32, "is not hex"),
    ("00" * 31 + ", " + "00" * 32 + ", " + "00" * 32, "expected 32 bytes"),
])
def test_a_malformed_samples_row_is_pinpointed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               row: str, message: str) -> None:
    samples = tmp_path / "samples.csv"
    samples.write_text("seed, publickey, nonce\n" + row + "\n")
    assert _run(samples=samples) == 2
    err = capsys.readouterr().err
    assert f"{samples}:2" in err and message in err


def test_a_malformed_scores_header_or_row_is_pinpointed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "scores.csv"
    scores.write_text("18-1-128-32\n1\n")
    assert _run(scores=scores) == 2
    assert f"{scores}:1 column 1" in capsys.readouterr().err
    scores.write_text(SCORES.read_text().splitlines()[0] + "\n1, 2, x, 4\n")
    assert _run(scores=scores) == 2
    assert f"{scores}:2: expected 4 non-negative integers" in capsys.readouterr().err


def test_a_damaged_task_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = tmp_path / "task.bin"
    task.write_bytes(TASK.read_bytes()[:-10])
    assert _run(task=task) == 2
    assert "truncated" in capsys.readouterr().err


def test_unknown_config_columns_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--configs", "0,7") == 2
    assert "--configs: columns must be in 0..3" in capsys.readouterr().err


def test_help_lists_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "verify-vectors" in capsys.readouterr().out


@pytest.mark.slow
def test_every_golden_row_of_every_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--threads", "2") == 0
    out = capsys.readouterr().out
    assert out.count("256/256 matched") == 4
