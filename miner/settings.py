"""The miner's settings: one pydantic model, four layers, every value traceable to where it came from.

Precedence, lowest first: the model's defaults < a TOML file (``--config FILE`` or
``NEURAXON_MINER_CONFIG``) < environment variables ``NEURAXON_MINER_<KEY>`` (``<KEY>_FILE`` reads a
secret from a file, e.g. a Docker secret) < command-line flags (``--<key-with-dashes>``). Lists
(``servers``) replace, never merge. The user's file is only read, never written.

:class:`MinerSettings` is the single source of the keys: the ``run`` command's flags, the
environment names, ``--print-config`` and the README's configuration reference are all generated
from its fields, so each field carries a description.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from miner.cpu import ThreadSpecError, parse_thread_spec
from protocol.identity import IdentityError, normalize_identity

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "SECRET_FIELDS",
    "LoadedSettings",
    "MinerSettings",
    "SettingsError",
    "env_name",
    "flag_name",
    "load_settings",
    "render_settings",
]

#: Prefix of every environment variable the miner reads.
ENV_PREFIX = "NEURAXON_MINER_"
#: Environment variable naming the TOML file when ``--config`` is not given.
CONFIG_ENV = "NEURAXON_MINER_CONFIG"

_URL_RE = re.compile(r"(wss?|https?)://[^\s/?#]+(/[^\s?#]*)?")
_WORKER_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


def _default_worker() -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", socket.gethostname())[:64]
    return name or "miner"


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; otherwise the XDG state home.
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "neuraxon-miner"


Seconds = Annotated[float, Field(gt=0, le=86400 * 7, allow_inf_nan=False)]


class MinerSettings(BaseModel):
    """Everything ``neuraxon-miner run`` can be told. Field names are the TOML keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- where the work comes from --------------------------------------------------------------
    servers: list[str] = Field(
        default_factory=list,
        description="Work servers in priority order (ws://, wss://, http:// or https:// URL of the server; "
                    "a path such as /ws is optional). The first is the primary: the miner fails over down the "
                    "list and returns to the primary when it is back. Empty: start the embedded demo work "
                    "server on loopback and mine against it.")
    transport: Literal["auto", "websocket", "pull"] = Field(
        "auto", description="auto: WebSocket push, falling back to HTTP pull when the server refuses the "
                            "WebSocket upgrade; websocket or pull: only that one.")
    wallet: str | None = Field(
        None, description="Qubic identity (60 letters) or 64-hex public key to mine for; with a server, "
                          "give exactly one of wallet and access_token.")
    access_token: SecretStr | None = Field(
        None, description="Bearer token for the work server (secret; prefer NEURAXON_MINER_ACCESS_TOKEN_FILE).")
    worker: str = Field(default_factory=_default_worker,
                        description="Name of this rig on the server (1-64 characters; default: the host name).")

    # -- compute ---------------------------------------------------------------------------------
    threads: str = Field(
        "auto", description="Worker threads: 'auto' (the CPUs this process may use: affinity mask and "
                            "cgroup CPU quota), a count such as 4, or a percentage such as 50%.")
    worker_nice: int = Field(0, ge=0, le=19,
                             description="Nice increment of the worker threads (0 = same priority as the rest).")
    backend: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where scores are computed: cpu (numba kernels on the worker threads), cuda (a GPU; "
                            "exit 2 when no algorithm can use one), or auto (cuda only when a GPU is present "
                            "and its self-test passes, else cpu; the log says which and why).")
    self_test: bool = Field(True, description="Run the known-answer self-test and JIT warm-up of every scorer "
                                              "before taking work.")
    worker_error_limit: int = Field(
        10, ge=1, le=1_000_000,
        description="Failed iterations in a row (the scorer raised) of one worker thread after which the miner "
                    "reports itself unhealthy (/readyz 503, systemd STATUS); workers keep restarting with a "
                    "backoff, and one good iteration makes the miner healthy again.")
    algo: Literal["neuraxon", "bpp9000", "bpp9000-v1301"] = Field(
        "neuraxon", description="What the embedded demo work server offers (without servers): neuraxon, bpp9000 "
                                "(the current version, qubic/core v1.305: a chain on the production task) or "
                                "bpp9000-v1301. With servers, the servers choose the work.")
    bpp9000_changes: int = Field(10, ge=1, le=10,
                                 description="bpp9000 jobs: L, the LUT entries changed per walk step "
                                             "(nonce byte 1).")

    # -- results ---------------------------------------------------------------------------------
    state_dir: Path = Field(default_factory=_default_state_dir,
                            description="Directory for the result journal (default: $STATE_DIRECTORY, else "
                                        "$XDG_STATE_HOME/neuraxon-miner, else ~/.local/state/neuraxon-miner).")
    journal_file: Path | None = Field(None, description="Result journal file (default: <state_dir>/journal.jsonl).")
    stale_result_seconds: Seconds = Field(
        600.0, description="A found result whose server stays unreachable this long is recorded as stale.")
    submit_attempts: int = Field(8, ge=1, le=1000,
                                 description="Answers asking to retry later (busy, rate limited, internal "
                                             "error) before a result is given up as an error.")

    # -- connection policy -----------------------------------------------------------------------
    retries: int = Field(3, ge=1, le=1000,
                         description="Consecutive failures of one server before failing over to the next.")
    backoff_initial_seconds: Seconds = Field(1.0, description="First reconnect delay bound; each failure doubles "
                                                              "it (full jitter: the delay is uniform in [0, bound]).")
    backoff_max_seconds: Seconds = Field(60.0, description="Cap of the reconnect delay bound.")
    primary_retry_seconds: Seconds = Field(60.0, description="While on a backup server, try the primary this often "
                                                             "and return to it when it answers.")
    connect_timeout_seconds: Seconds = Field(10.0, description="Connect, login and first job must complete within "
                                                               "this time.")
    submit_timeout_seconds: Seconds = Field(30.0, description="A submit without an answer this long marks the "
                                                              "connection dead; the result is sent again on the next "
                                                              "session, no sooner than this long after its last send.")
    heartbeat_seconds: Seconds = Field(20.0, description="WebSocket ping interval; no pong within half of it "
                                                         "closes the connection.")
    job_timeout_seconds: Seconds = Field(90.0, description="No message from the server this long (it pushes a "
                                                           "job every 30 s) reconnects.")
    pull_interval_seconds: Seconds = Field(5.0, description="HTTP pull mode: seconds between job polls.")
    stats_interval_seconds: Seconds = Field(30.0, description="Seconds between speed reports to the server.")

    # -- API and logs ----------------------------------------------------------------------------
    api_enabled: bool = Field(True, description="Serve /metrics, /healthz, /readyz and /status.")
    api_host: str = Field("127.0.0.1", description="Address of the API; any non-loopback address requires "
                                                   "api_token.")
    api_port: int = Field(9850, ge=0, le=65535, description="Port of the API (0: any free port, logged at start).")
    api_token: SecretStr | None = Field(
        None, description="Bearer token the API requires when set (secret; prefer NEURAXON_MINER_API_TOKEN_FILE).")
    log_format: Literal["auto", "text", "json"] = Field(
        "auto", description="auto: readable lines on a terminal, JSON lines otherwise.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    print_interval_seconds: Seconds = Field(30.0, description="Seconds between status lines (rate, solutions, "
                                                              "server, uptime).")

    # -- lifecycle -------------------------------------------------------------------------------
    stall_timeout_seconds: Seconds = Field(
        300.0, description="With work to do and no iteration finished this long, exit with code 42 so the "
                           "supervisor restarts the miner.")
    shutdown_timeout_seconds: Seconds = Field(10.0, description="On SIGTERM/SIGINT: time to submit pending "
                                                                "results before exiting.")
    ready_timeout_seconds: Seconds = Field(60.0, description="Report READY to systemd after this long even when "
                                                             "no server answered yet, so boot does not block.")
    embedded_port: int = Field(0, ge=0, le=65535, description="Port of the embedded work server (0: any free "
                                                              "port; loopback only).")

    @field_validator("servers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("servers")
    @classmethod
    def _check_servers(cls, value: list[str]) -> list[str]:
        for url in value:
            if _URL_RE.fullmatch(url) is None:
                raise ValueError(f"{url!r} is not a ws://, wss://, http:// or https:// URL")
        if len(set(value)) != len(value):
            raise ValueError("a server is listed twice")
        return value

    @field_validator("wallet")
    @classmethod
    def _check_wallet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_identity(value.strip())
        except IdentityError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("worker")
    @classmethod
    def _check_worker(cls, value: str) -> str:
        if _WORKER_RE.fullmatch(value) is None:
            raise ValueError("must be 1-64 characters without control characters")
        return value

    @field_validator("threads", mode="before")
    @classmethod
    def _check_threads(cls, value: Any) -> str:
        try:
            return parse_thread_spec(value)
        except ThreadSpecError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("api_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError("must be a host name or an IP address")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MinerSettings:
        if self.servers and (self.wallet is None) == (self.access_token is None):
            raise _KeyedError("wallet", "with a work server, give exactly one of wallet and access_token")
        if self.api_enabled and not self.api_is_loopback and self.api_token is None:
            raise _KeyedError("api_token", f"required because api_host {self.api_host!r} is not a loopback "
                                           "address (the API would be open to the network)")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise _KeyedError("backoff_max_seconds", "must be at least backoff_initial_seconds")
        return self

    @property
    def api_is_loopback(self) -> bool:
        """Whether ``api_host`` only accepts connections from this machine."""
        if self.api_host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.api_host).is_loopback
        except ValueError:
            return False

    @property
    def embedded(self) -> bool:
        """True when no server is configured: mine against the embedded demo work server."""
        return not self.servers

    @property
    def journal_path(self) -> Path:
        """Where the result journal lives."""
        return self.journal_file if self.journal_file is not None else self.state_dir / "journal.jsonl"


class _KeyedError(ValueError):
    """A cross-field error that names the key it belongs to."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


#: Fields whose values are secrets: redacted in ``--print-config``, readable from ``<ENV>_FILE``.
SECRET_FIELDS = frozenset(name for name, f in MinerSettings.model_fields.items()
                          if f.annotation is not None and "SecretStr" in repr(f.annotation))


class SettingsError(Exception):
    """A setting that cannot be used: names the key, where its value came from, and why."""

    def __init__(self, key: str | None, reason: str, origin: str | None = None) -> None:
        where = f" (from {origin})" if origin else ""
        super().__init__(f"{key}{where}: {reason}" if key else reason)
        self.key = key
        self.reason = reason
        self.origin = origin


def env_name(key: str) -> str:
    """Environment variable of a settings key: ``api_port`` → ``NEURAXON_MINER_API_PORT``."""
    return ENV_PREFIX + key.upper()


def flag_name(key: str) -> str:
    """Command-line flag of a settings key: ``api_port`` → ``--api-port``."""
    return "--" + key.replace("_", "-")


@dataclass(frozen=True)
class LoadedSettings:
    """The validated settings and, per key, where its value came from (``default``, ``file …``, …)."""

    settings: MinerSettings
    origins: dict[str, str]
    config_file: Path | None


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(MinerSettings.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError("config", f"file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError("config", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("config", f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8 text; a binary file fails before parsing
        raise SettingsError("config", f"{path} is not a TOML file: not UTF-8 text (byte {exc.start})") from None
    for key, value in data.items():
        if key not in MinerSettings.model_fields:
            raise SettingsError(key, f"unknown key in {path}{_suggest(key)}")
        if isinstance(value, dict):
            raise SettingsError(key, f"tables are not used in {path}; write '{key} = value' at the top level")
    return data


def _read_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key.endswith("_file") and key[:-5] in SECRET_FIELDS:
            secret_key = key[:-5]
            try:
                values[secret_key] = Path(raw).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(secret_key, f"cannot read {raw}: {exc.strerror}", f"environment {name}") from None
            except UnicodeDecodeError:
                raise SettingsError(secret_key, f"{raw} is not UTF-8 text", f"environment {name}") from None
            origins[secret_key] = f"environment {name}"
            continue
        if key not in MinerSettings.model_fields:
            raise SettingsError(key, f"unknown environment variable {name}{_suggest(key)}")
        if env_name(key) + "_FILE" in environ and key in SECRET_FIELDS:
            raise SettingsError(key, f"set either {name} or {name}_FILE, not both")
        values[key] = raw
        origins[key] = f"environment {name}"
    return values, origins


def _pydantic_error(exc: ValidationError, origins: Mapping[str, str]) -> SettingsError:
    error = exc.errors(include_url=False, include_input=False)[0]
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _KeyedError):
        return SettingsError(ctx_error.key, ctx_error.reason, origins.get(ctx_error.key))
    key = str(error["loc"][0]) if error["loc"] else None
    reason = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden" and key:
        reason = f"unknown setting{_suggest(key)}"
    return SettingsError(key, reason, origins.get(key) if key else None)


def load_settings(cli: Mapping[str, Any] | None = None, *, config_file: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> LoadedSettings:
    """Merge defaults < TOML file < environment < ``cli`` (already-parsed flag values by key).

    ``config_file`` defaults to ``$NEURAXON_MINER_CONFIG`` when set. Raises :class:`SettingsError`
    naming the first bad key.
    """
    environ = os.environ if environ is None else environ
    cli = dict(cli or {})
    if config_file is None and environ.get(CONFIG_ENV):
        config_file = Path(environ[CONFIG_ENV])
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if config_file is not None:
        for key, value in _read_toml(config_file).items():
            merged[key] = value
            origins[key] = f"file {config_file}"
    env_values, env_origins = _read_environment(environ)
    merged.update(env_values)
    origins.update(env_origins)
    for key, value in cli.items():
        if key not in MinerSettings.model_fields:
            raise SettingsError(key, "unknown setting")
        merged[key] = value
        origins[key] = f"command line {flag_name(key) if key != 'servers' else '--server'}"
    try:
        settings = MinerSettings.model_validate(merged)
    except ValidationError as exc:
        raise _pydantic_error(exc, origins) from None
    for key in MinerSettings.model_fields:
        origins.setdefault(key, "default")
    return LoadedSettings(settings, origins, config_file)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_settings(loaded: LoadedSettings) -> str:
    """The effective settings as TOML, secrets redacted, each line commented with its origin.

    Unset optional keys are shown commented out, so the output is itself a valid config file.
    """
    lines = ["# neuraxon-miner effective settings (precedence: default < file < environment < command line)"]
    if loaded.config_file is not None:
        lines.append(f"# config file: {loaded.config_file}")
    for key in MinerSettings.model_fields:
        value = getattr(loaded.settings, key)
        origin = loaded.origins.get(key, "default")
        if value is None:
            lines.append(f"# {key} = (unset)  # {origin}")
            continue
        shown = '"***"' if key in SECRET_FIELDS else _toml_value(value)
        lines.append(f"{key} = {shown}  # {origin}")
    return "\n".join(lines) + "\n"
