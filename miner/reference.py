"""Operator reference generated from the code: settings (from :class:`MinerSettings`) and metrics
(from the table in :mod:`miner.metrics`), written into README.md between markers.

``python -m miner.reference`` rewrites the README sections; ``--check`` exits 1 if they are stale
(a test runs the check, so the README always matches the code).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from miner import metrics
from miner.settings import SECRET_FIELDS, MinerSettings, env_name, flag_name

README = Path(__file__).resolve().parent.parent / "README.md"
MARKERS = {
    "settings": ("<!-- settings-reference:begin -->", "<!-- settings-reference:end -->"),
    "metrics": ("<!-- metrics-reference:begin -->", "<!-- metrics-reference:end -->"),
}


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return "computed (see description)"
    if field.default is PydanticUndefined or field.default is None:
        return "unset"
    value = field.default
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _run_flags() -> dict[str, str]:
    """Settings key -> the ``run`` command's long option, read from the real parser."""
    from miner.cli import build_parser  # noqa: PLC0415 - the CLI imports every command module

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run = subparsers.choices["run"]
    return {a.dest: max(a.option_strings, key=len) for a in run._actions if a.option_strings}


def settings_table() -> str:
    flags = _run_flags()
    lines = ["| key (TOML) | environment | flag | default | meaning |", "|---|---|---|---|---|"]
    for key, field in MinerSettings.model_fields.items():
        env = f"`{env_name(key)}`" + (f", `{env_name(key)}_FILE`" if key in SECRET_FIELDS else "")
        flag = flags.get(key, flag_name(key))
        lines.append(f"| `{key}` | {env} | `{flag}` | {_default(field)} | "
                     f"{_cell(field.description or '')}{' (secret)' if key in SECRET_FIELDS else ''} |")
    return "\n".join(lines)


_ROW = re.compile(r"^``(?P<name>[^`]+)``(?:,\s*``[^`]+``)*\s{2,}(?P<type>\S+)\s{2,}(?P<text>.+)$")


def metrics_table() -> str:
    doc = metrics.__doc__ or ""
    lines = ["| metric | type | labels / meaning |", "|---|---|---|"]
    for raw in doc.splitlines():
        line = raw.strip()
        m = _ROW.match(line)
        if m is None:
            continue
        names = ", ".join(f"`{n}`" for n in re.findall(r"``([^`]+)``", line.split("  ")[0]))
        lines.append(f"| {names} | {m['type']} | {_cell(m['text'])} |")
    return "\n".join(lines)


def render(section: str) -> str:
    return settings_table() if section == "settings" else metrics_table()


def update(text: str) -> str:
    for section, (begin, end) in MARKERS.items():
        start = text.index(begin) + len(begin)
        stop = text.index(end)
        text = text[:start] + "\n" + render(section) + "\n" + text[stop:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    current = args.readme.read_text()
    fresh = update(current)
    if args.check:
        if fresh != current:
            print(f"{args.readme} is out of date: run python -m miner.reference", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
