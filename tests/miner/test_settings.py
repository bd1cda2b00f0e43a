"""Settings as an operator meets them: precedence, secrets from files, errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from miner.cli import main, with_default_command
from miner.settings import MinerSettings, SettingsError, load_settings, render_settings

WALLET = "YQGBOXZMWNVOGEUJDGDQASDMZRHEORCLIEKPEQDWFBAJUKNQLDACMHIDQJLL"


def test_precedence_default_file_env_cli(tmp_path: Path) -> None:
    config = tmp_path / "miner.toml"
    config.write_text('threads = "50%"\napi_port = 1111\nworker = "from-file"\nretries = 7\n')
    env = {"NEURAXON_MINER_API_PORT": "2222", "NEURAXON_MINER_WORKER": "from-env"}
    loaded = load_settings({"worker": "from-cli"}, config_file=config, environ=env)
    s = loaded.settings
    assert (s.threads, s.api_port, s.worker, s.retries, s.backoff_max_seconds) == ("50%", 2222, "from-cli", 7, 60.0)
    assert loaded.origins["threads"] == f"file {config}"
    assert loaded.origins["api_port"] == "environment NEURAXON_MINER_API_PORT"
    assert loaded.origins["worker"] == "command line --worker"
    assert loaded.origins["retries"] == f"file {config}"
    assert loaded.origins["transport"] == "default"


def test_config_file_from_environment_and_never_written(tmp_path: Path) -> None:
    config = tmp_path / "miner.toml"
    text = f'servers = ["ws://a.example:8080/ws", "http://b.example:8080"]\nwallet = "{WALLET}"\n'
    config.write_text(text)
    before = config.stat().st_mtime_ns
    s = load_settings({}, environ={"NEURAXON_MINER_CONFIG": str(config)}).settings
    assert s.servers == ["ws://a.example:8080/ws", "http://b.example:8080"]
    assert config.read_text() == text and config.stat().st_mtime_ns == before


def test_servers_from_environment_are_comma_separated_and_cli_replaces_them() -> None:
    env = {"NEURAXON_MINER_SERVERS": "ws://a:1/ws, ws://b:2/ws", "NEURAXON_MINER_WALLET": WALLET}
    assert load_settings({}, environ=env).settings.servers == ["ws://a:1/ws", "ws://b:2/ws"]
    assert load_settings({"servers": ["ws://c:3/ws"]}, environ=env).settings.servers == ["ws://c:3/ws"]


def test_secret_from_file_and_redacted_in_print_config(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token\n")
    env = {"NEURAXON_MINER_ACCESS_TOKEN_FILE": str(secret), "NEURAXON_MINER_SERVERS": "wss://pool.example/ws"}
    loaded = load_settings({}, environ=env)
    assert loaded.settings.access_token is not None
    assert loaded.settings.access_token.get_secret_value() == "s3cr3t-token"
    text = render_settings(loaded)
    assert "s3cr3t" not in text
    assert 'access_token = "***"  # environment NEURAXON_MINER_ACCESS_TOKEN_FILE' in text


@pytest.mark.parametrize(("cli", "env", "key", "words"), [
    ({"threads": "lots"}, {}, "threads", "percentage"),
    ({"api_port": "70000"}, {}, "api_port", "65535"),
    ({}, {"NEURAXON_MINER_RETRIES": "0"}, "retries", "environment NEURAXON_MINER_RETRIES"),
    ({"worker_error_limit": "0"}, {}, "worker_error_limit", "greater than or equal to 1"),
    ({}, {"NEURAXON_MINER_WORKER_ERROR_LIMIT": "many"}, "worker_error_limit", "integer"),
    ({"servers": ["ftp://x"]}, {}, "servers", "URL"),
    ({"servers": ["ws://x:1/ws"]}, {}, "wallet", "exactly one of wallet and access_token"),
    ({"wallet": "NOTANIDENTITY"}, {}, "wallet", ""),
    ({"api_host": "0.0.0.0"}, {}, "api_token", "not a loopback"),
    ({}, {"NEURAXON_MINER_THREAD": "2"}, "thread", "did you mean 'threads'"),
    ({"backoff_initial_seconds": "10", "backoff_max_seconds": "5"}, {}, "backoff_max_seconds", "at least"),
])
def test_bad_values_name_the_key_and_the_reason(cli: dict[str, object], env: dict[str, str], key: str,
                                                 words: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(cli, environ=env)
    assert err.value.key == key
    assert words in str(err.value)


def test_unknown_key_in_the_file_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "miner.toml"
    config.write_text("api_prot = 1\n")
    with pytest.raises(SettingsError, match="did you mean 'api_port'"):
        load_settings({}, config_file=config, environ={})


def test_non_loopback_api_with_token_is_accepted() -> None:
    s = load_settings({"api_host": "0.0.0.0", "api_token": "t"}, environ={}).settings
    assert not s.api_is_loopback
    assert load_settings({"api_host": "::1"}, environ={}).settings.api_is_loopback


def test_every_field_is_documented() -> None:
    for name, field in MinerSettings.model_fields.items():
        assert field.description, name


def test_bad_flag_value_exits_2_with_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--threads", "0", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "threads (from command line --threads)" in err and "1..4096" in err


def test_print_config_shows_origins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--print-config", "--api-port", "1234", "--no-self-test"]) == 0
    out = capsys.readouterr().out
    assert "api_port = 1234  # command line --api-port" in out
    assert "self_test = false  # command line --self-test" in out


def test_no_command_means_run() -> None:
    assert with_default_command([]) == ["run"]
    assert with_default_command(["--threads", "2"]) == ["run", "--threads", "2"]
    assert with_default_command(["--version"]) == ["--version"]
    assert with_default_command(["bench"]) == ["bench"]


def test_help_of_run_lists_environment_names() -> None:
    out = subprocess.run([sys.executable, "-m", "miner", "run", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--api-port" in out and "NEURAXON_MINER_API_PORT" in out and "--server URL" in out


@pytest.mark.parametrize("content, why", [
    (bytes(range(256)) * 4, "not UTF-8"),  # a binary file given by mistake
    (b"\xef\xbb\xbfthreads = 2\nwallet = \"\xff\"\n", "not UTF-8"),
    (b"threads = = 2\n", "not valid TOML"),
])
def test_a_config_file_that_is_not_toml_exits_2_naming_the_file(
        content: bytes, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "miner.toml"
    path.write_bytes(content)
    assert main(["run", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and why in err


def test_a_secret_file_that_is_not_text_is_a_configuration_error(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_bytes(b"\xff\xfe\x00token")
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings({}, environ={"NEURAXON_MINER_ACCESS_TOKEN_FILE": str(secret)})
