"""``neuraxon-miner run`` (the default command): mine until SIGTERM/SIGINT.

Every setting of :class:`miner.settings.MinerSettings` is a flag here (``--api-port``, ``--threads``,
``--server URL`` repeatable, ...), generated from the model; ``--config FILE`` adds a TOML file;
``NEURAXON_MINER_*`` environment variables sit between the two. ``--print-config`` shows the
effective settings (secrets redacted, origin of each value) and exits; ``--dry-run`` validates,
self-tests, connects once and exits. Exit codes: :mod:`miner.exit_codes`.
"""

from __future__ import annotations

import argparse
import os
import sys
import typing
from pathlib import Path
from typing import Any

_SHORT = {"threads": "-t"}


def _metavar(name: str, annotation: Any) -> str:
    if name == "threads":
        return "N|P%|auto"
    if "Path" in repr(annotation):
        return "PATH"
    if "Literal" in repr(annotation):
        return "{" + ",".join(str(a) for a in typing.get_args(annotation) if a is not None) + "}"
    if "int" in repr(annotation):
        return "N"
    if "float" in repr(annotation):
        return "SECONDS"
    return name.rsplit("_", maxsplit=1)[-1].upper()


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per settings field (value given = value used; absent flags leave the lower layers alone)."""
    from miner.settings import MinerSettings, env_name, flag_name

    group = parser.add_argument_group("settings (each also NEURAXON_MINER_<KEY> or a key in the --config file)")
    for name, field in MinerSettings.model_fields.items():
        default = "" if field.default_factory is not None or field.default is None else f" Default: {field.default}."
        help_text = f"{field.description}{default} [{env_name(name)}]".replace("%", "%%")
        if name == "servers":
            group.add_argument("--server", dest="servers", action="append", metavar="URL", default=argparse.SUPPRESS,
                               help=f"{field.description} Repeat for backups. [{env_name(name)}, comma-separated]"
                               .replace("%", "%%"))
            continue
        flags = [flag_name(name)] + ([_SHORT[name]] if name in _SHORT else [])
        if field.annotation is bool:
            group.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
        else:
            group.add_argument(*flags, dest=name, default=argparse.SUPPRESS,
                               metavar=_metavar(name, field.annotation), help=help_text)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="mine (the default command): embedded demo server unless --server is given",
        description="Mine: pull jobs from the work servers (or, with none configured, from an embedded demo "
                    "work server on loopback), compute on every allowed core, journal and submit results, "
                    "serve /metrics /healthz /readyz /status. Settings: defaults < --config TOML file < "
                    "NEURAXON_MINER_* environment < flags.")
    p.add_argument("-c", "--config", metavar="FILE", help="TOML settings file (read only, never written; "
                                                          "default: $NEURAXON_MINER_CONFIG)")
    p.add_argument("--print-config", action="store_true", help="print the effective settings (secrets redacted, "
                                                               "origin of each value) and exit")
    p.add_argument("--dry-run", action="store_true", help="validate the settings, self-test, connect once, exit")
    add_settings_flags(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~miner.settings.LoadedSettings` for parsed ``args`` (raises ``SettingsError``)."""
    from miner.settings import MinerSettings, load_settings

    cli = {name: getattr(args, name) for name in MinerSettings.model_fields if hasattr(args, name)}
    return load_settings(cli, config_file=Path(args.config) if getattr(args, "config", None) else None)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from miner.exit_codes import EXIT_CONFIG, EXIT_STALLED
    from miner.logs import configure_logging
    from miner.settings import SettingsError, render_settings

    try:
        loaded = settings_from_args(args)
    except SettingsError as exc:
        print(f"neuraxon-miner: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.print_config:
        sys.stdout.write(render_settings(loaded))
        return 0
    settings = loaded.settings
    configure_logging(settings.log_format, settings.log_level)
    from miner.daemon import MinerDaemon

    daemon = MinerDaemon(settings)
    if args.dry_run:
        code, report = asyncio.run(daemon.dry_run())
        print(report)
        print("dry run: ok" if code == 0 else f"dry run: FAILED (exit code {code})")
        return code
    code = asyncio.run(daemon.run())
    if code == EXIT_STALLED:
        # A hung worker thread may never return from native code: leave without joining it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
