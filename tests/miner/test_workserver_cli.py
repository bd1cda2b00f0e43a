"""``neuraxon-miner workserver``: flags and input errors (the server itself is tested in tests/protocol/server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from miner.cli import build_parser, main


def test_workserver_is_a_subcommand_with_its_flags() -> None:
    args = build_parser().parse_args(["workserver", "--host", "0.0.0.0", "--port", "0", "--db", "x.sqlite",
                                      "--token", "a", "--token", "b", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
    assert (args.host, args.port, args.db, args.token) == ("0.0.0.0", 0, "x.sqlite", ["a", "b"])
    assert args.tls_cert == Path("c.pem") and callable(args.func)


@pytest.mark.parametrize("argv, message", [
    (["--idle-schedule", "5"], "--idle-schedule"),
    (["--identity", "NOTANIDENTITY"], "invalid identity"),
    (["--task", "/nonexistent/task.json"], "cannot read task"),
    (["--tls-cert", "cert.pem"], "TLS needs both"),
])
def test_bad_input_exits_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workserver", "--db", ":memory:", *argv]) == 2
    assert message in capsys.readouterr().err
