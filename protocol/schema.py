"""Export the JSON Schema of every wire message to ``docs/schema/``.

``python -m protocol.schema`` (re)writes the files; ``python -m protocol.schema --check`` exits 1 and
lists the stale files when the models changed without re-exporting (CI and the snapshot test use it).
The schemas describe what a receiver accepts: wire (PascalCase) names, with ``Method``,
``MessageVersion`` and ``MessageType`` required.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from protocol.messages import (
    PROTOCOL_VERSION,
    Message,
    StratumAck,
    StratumJob,
    StratumLogin,
    StratumStats,
    StratumSubmit,
    TaggedMessage,
)

__all__ = ["DEFAULT_SCHEMA_DIR", "main", "message_schemas", "stale_schema_files", "write_schemas"]

#: ``docs/schema`` of the source checkout this module lives in.
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schema"

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _with_header(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": _DIALECT,
        "$id": f"https://neuraxon-miner.invalid/protocol/v{PROTOCOL_VERSION}/{name}.json",
        **schema,
    }


def message_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, one per message plus ``Message.json`` (the union on ``Method``)."""
    out: dict[str, dict[str, Any]] = {}
    for model in (StratumLogin, StratumJob, StratumSubmit, StratumAck, StratumStats):
        out[f"{model.METHOD}.json"] = _with_header(model.METHOD, model.model_json_schema(by_alias=True))
    union: TypeAdapter[Message] = TypeAdapter(TaggedMessage)
    schema = union.json_schema(by_alias=True)
    schema["title"] = "Message"
    schema["description"] = (
        f"Any message of the neuraxon-miner wire protocol, version {PROTOCOL_VERSION}; Method selects the model."
    )
    out["Message.json"] = _with_header("Message", schema)
    return out


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path = DEFAULT_SCHEMA_DIR) -> list[Path]:
    """Write every schema into ``directory`` (created if needed); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in message_schemas().items():
        path = directory / name
        path.write_text(_render(schema), encoding="utf-8")
        written.append(path)
    return written


def stale_schema_files(directory: Path = DEFAULT_SCHEMA_DIR) -> list[str]:
    """Names of schema files in ``directory`` that are missing or differ from the models."""
    stale = []
    for name, schema in message_schemas().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != _render(schema):
            stale.append(name)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the schemas, or with ``--check`` report stale ones (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m protocol.schema", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_SCHEMA_DIR, help="directory (default: docs/schema)")
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schema_files(args.out)
        for name in stale:
            sys.stderr.write(f"stale: {args.out / name} (run: python -m protocol.schema)\n")
        return 1 if stale else 0
    for path in write_schemas(args.out):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
