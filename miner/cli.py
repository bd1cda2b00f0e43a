"""The ``neuraxon-miner`` console command.

Each subcommand lives in its own module under :mod:`miner.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (returning an exit code).
Subcommands import their heavy dependencies (numba kernels, aiohttp) lazily so that
``--help`` and ``--version`` stay instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from miner._version import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "miner.commands.run",
    "miner.commands.bench",
    "miner.commands.healthcheck",
    "miner.commands.demo",
    "miner.commands.replay",
    "miner.commands.score",
    "miner.commands.verify_vectors",
    "miner.commands.workserver",
    "miner.commands.ledger",
)

#: Exit code for usage and configuration errors (argparse uses the same).
EXIT_USAGE = 2

#: The command used when none is given (``neuraxon-miner`` alone, or only ``run``'s flags).
DEFAULT_COMMAND = "run"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuraxon-miner",
        description="Useful-Proof-of-Work miner node that trains Neuraxon networks.",
    )
    parser.add_argument("--version", action="version", version=f"neuraxon-miner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def with_default_command(argv: Sequence[str]) -> list[str]:
    """``argv`` with :data:`DEFAULT_COMMAND` inserted when no command is named.

    ``neuraxon-miner`` and ``neuraxon-miner --threads 2`` both mean ``neuraxon-miner run ...``;
    ``--help`` and ``--version`` keep their top-level meaning.
    """
    args = list(argv)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        return [DEFAULT_COMMAND, *args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(with_default_command(sys.argv[1:] if argv is None else argv))
    func = getattr(args, "func", None)
    if func is None:
        default = getattr(args, "default_func", None)
        if default is None:
            parser.print_help()
            return EXIT_USAGE
        func = default
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
