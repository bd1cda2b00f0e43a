"""``neuraxon-miner workserver``: flags and input errors (the server itself is tested in tests/protocol/server)."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from miner.cli import build_parser, main
from tests.protocol.server.helpers import start_cli_server


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
    (["--front-end-id", "fe 1"], "front-end id 'fe 1'"),
    (["--front-end-id", ""], "front-end id ''"),
    (["--full-gc-seconds", "-1"], "--full-gc-seconds -1: must be >= 0"),
])
def test_bad_input_exits_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["workserver", "--db", ":memory:", *argv]) == 2
    assert message in capsys.readouterr().err


def _admin_status(http_url: str, token: str) -> int:
    request = urllib.request.Request(http_url + "/api/v1/admin/state", method="POST", data=b"{}",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("how", ["environment", "file"])
def test_the_admin_token_need_not_be_on_the_command_line(how: str, tmp_path: Path) -> None:
    secret = "admin-" + os.urandom(8).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURAXON_WORKSERVER_")}
    args = ["--db", ":memory:", "--demo", "--calibration-walks", "0", "--verify-workers", "1", "--verify-mode",
            "thread"]
    if how == "environment":
        env["NEURAXON_WORKSERVER_ADMIN_TOKEN"] = secret
    else:
        (tmp_path / "admin-token").write_text(secret + "\n")
        args += ["--admin-token-file", str(tmp_path / "admin-token")]
    proc, _, http_url = start_cli_server(args, tmp_path / "server.log", env=env)
    try:
        assert secret.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # not visible in ps
        assert _admin_status(http_url, secret) == 200
        assert _admin_status(http_url, "wrong") == 401
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("files, argv, env, message", [
    ({"t": b"x"}, ["--admin-token", "x", "--admin-token-file", "{t}"], {}, "not both"),
    ({"t": b"  \n"}, ["--admin-token-file", "{t}"], {}, "is empty"),
    ({"t": b"\xff\xfe\x00"}, ["--admin-token-file", "{t}"], {}, "not UTF-8"),
    ({}, ["--admin-token-file", "{dir}/missing"], {}, "cannot read --admin-token-file"),
    ({"t": b"x"}, [], {"NEURAXON_WORKSERVER_ADMIN_TOKEN": "x", "NEURAXON_WORKSERVER_ADMIN_TOKEN_FILE": "{t}"},
     "not both"),
    ({"t": b"\x00\xff binary tokens"}, ["--token-file", "{t}"], {}, "not UTF-8"),
])
def test_bad_admin_token_sources_exit_2(files: dict[str, bytes], argv: list[str], env: dict[str, str], message: str,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    names = {"dir": str(tmp_path)}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        names[name] = str(tmp_path / name)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(**names))
    assert main(["workserver", "--db", ":memory:", *(a.format(**names) for a in argv)]) == 2
    assert message in capsys.readouterr().err


def _scrape(http_url: str) -> str:
    with urllib.request.urlopen(http_url + "/metrics", timeout=10) as resp:
        return resp.read().decode()


@pytest.mark.parametrize("given", ["fe-1.pool:8081", None])
def test_the_front_end_id_is_on_every_log_line_and_on_the_metrics(given: str | None, tmp_path: Path) -> None:
    """``--front-end-id`` (or the derived HOST:PORT) names the front-end in each JSON log line, from start-up
    to shutdown, and in ``workserver_front_end_info`` (one series, value 1, to join the others on)."""
    log = tmp_path / "server.log"
    args = ["--db", ":memory:", "--demo", "--calibration-walks", "0", "--verify-workers", "1", "--verify-mode",
            "thread", *(["--front-end-id", given] if given else [])]
    proc, _, http_url = start_cli_server(args, log)
    try:
        port = int(http_url.rsplit(":", 1)[1])
        expected = given or f"{socket.gethostname()}:{port}"
        info = [line for line in _scrape(http_url).splitlines() if line.startswith("workserver_front_end_info")]
        assert info == [f'workserver_front_end_info{{front_end="{expected}"}} 1.0'], info
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert "workserver.listening" in events and "workserver.stopped" in events, events
    if given:
        assert {line.get("front_end") for line in lines} == {given}, lines
    else:  # with --port 0 the port is known once the server listens: from then on
        listening = events.index("workserver.listening")
        assert {line.get("front_end") for line in lines[listening:]} == {expected}, lines
