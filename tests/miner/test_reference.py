"""The README's configuration and metrics references match the code."""

from __future__ import annotations

from pathlib import Path

from miner import reference
from miner.settings import MinerSettings


def test_readme_references_are_current() -> None:
    assert reference.main(["--check"]) == 0, "README.md is stale: run python -m miner.reference"


def test_every_setting_is_documented_with_its_environment_name() -> None:
    table = reference.settings_table()
    for key in MinerSettings.model_fields:
        assert f"| `{key}` |" in table
        assert f"NEURAXON_MINER_{key.upper()}" in table


def test_check_fails_on_a_stale_readme(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    text = reference.README.read_text().replace("| `api_port` |", "| `api_port_old` |")
    stale.write_text(text)
    assert reference.main(["--check", "--readme", str(stale)]) == 1
    assert reference.main(["--readme", str(stale)]) == 0
    assert reference.main(["--check", "--readme", str(stale)]) == 0
