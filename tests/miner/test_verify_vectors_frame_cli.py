"""``neuraxon-miner verify-vectors bpp9000 --version v1.305``: solo rows, ant chains, mismatches, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from miner.cli import main
from tests.bpp9000_frame_vectors import ANT_ROWS, SOLO_ROWS, TASK


def _run(*extra: str) -> int:
    return main(["verify-vectors", "bpp9000", "--task", str(TASK), *extra])


def _subset(tmp_path: Path, source: Path, keep: list[int], edit: dict[int, tuple[int, str]] | None = None) -> Path:
    # the header and the data lines numbered in keep (0 = first data line), cells edited as asked
    lines = source.read_text().splitlines()
    out = [lines[0]]
    for i in keep:
        cells = lines[1 + i].split(",")
        if edit and i in edit:
            column, value = edit[i]
            cells[column] = " " + value
        out.append(",".join(cells))
    path = tmp_path / source.name
    path.write_text("\n".join(out) + "\n")
    return path


def test_a_matching_solo_row_and_chain_print_n_over_n_and_exit_0(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rows = _subset(tmp_path, SOLO_ROWS, [1])
    ants = _subset(tmp_path, ANT_ROWS, [12])  # chain 6, depth 0
    assert _run("--version", "v1.305", "--rows", str(rows), "--ant-rows", str(ants), "--threads", "2") == 0
    out = capsys.readouterr().out
    assert f"{rows}: 1/1 rows match" in out
    assert f"{ants}: 1/1 rows match (1 chains)" in out


def test_the_first_mismatch_names_row_field_expected_and_got_and_exits_1(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    rows = _subset(tmp_path, SOLO_ROWS, [0, 1], edit={0: (3, "7")})  # row 0's shift is really 0
    assert _run("--rows", str(rows)) == 1  # v1.305 is the default for --rows
    out = capsys.readouterr().out
    assert "MISMATCH at row 1 (line 2): field shift: expected 7, got 0" in out
    assert "rows match" not in out


@pytest.mark.parametrize(("body", "message"), [
    ("pubkey, nonce, miningseed, shift\n" + ", ".join(["00" * 32] * 3) + ", 0\n",
     "expected the header pubkey, nonce, miningseed, shift, score"),
    ("pubkey, nonce, miningseed, shift, score\n" + ", ".join(["00" * 32] * 3) + ", 0\n", "expected 5 columns"),
    ("pubkey, nonce, miningseed, shift, score\n" + ", ".join(["zz" * 32] + ["00" * 32] * 2) + ", 0, 1\n",
     "column pubkey: 'zzzzzzzzzzzzzzzzzzzz' is not hex"),
    ("pubkey, nonce, miningseed, shift, score\n" + ", ".join(["00" * 32] * 3) + ", -1, 1\n",
     "column shift: '-1' is not an unsigned 32-bit integer"),
])
def test_a_malformed_solo_file_exits_2_naming_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         body: str, message: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(body)
    assert _run("--rows", str(path)) == 2
    assert message in capsys.readouterr().err


def test_a_chain_with_a_missing_depth_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ants = _subset(tmp_path, ANT_ROWS, [0, 2])
    assert _run("--ant-rows", str(ants)) == 2
    assert "chain 5 has depths [0, 2]" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--version", "v1.305"], "needs --rows CSV and/or --ant-rows CSV"),
    (["--rows", "x.csv", "--configs", "0"], "--configs are for v1.301"),
    (["--version", "v1.301", "--rows", "x.csv"], "needs --samples and --scores"),
    (["--rows", str(Path("/nonexistent/rows.csv"))], "rows file not found"),
])
def test_inconsistent_arguments_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(*args) == 2
    assert message in capsys.readouterr().err
