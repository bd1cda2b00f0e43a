"""The exported JSON Schema matches the models (snapshot) and describes the wire names."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.messages import StratumJob
from protocol.schema import DEFAULT_SCHEMA_DIR, main, message_schemas, stale_schema_files, write_schemas


def test_docs_schema_is_up_to_date_with_the_models() -> None:
    stale = stale_schema_files(DEFAULT_SCHEMA_DIR)
    assert not stale, f"docs/schema is stale for {stale}; run: python -m protocol.schema"


def test_schema_uses_wire_names_and_requires_the_envelope() -> None:
    job = message_schemas()["StratumJob.json"]
    assert job["required"][:3] == ["Method", "MessageVersion", "MessageType"]
    assert set(job["properties"]) == {f.alias for f in StratumJob.model_fields.values()}
    assert job["additionalProperties"] is False
    union = message_schemas()["Message.json"]
    assert union["discriminator"]["propertyName"] == "Method"
    assert set(union["discriminator"]["mapping"]) == {
        "StratumLogin", "StratumJob", "StratumSubmit", "StratumAck", "StratumStats",
    }


def test_cli_writes_then_checks(tmp_path: Path) -> None:
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    written = write_schemas(tmp_path)
    assert {p.name for p in written} == set(message_schemas())
    (tmp_path / "StratumAck.json").write_text(json.dumps({}))
    assert stale_schema_files(tmp_path) == ["StratumAck.json"]
