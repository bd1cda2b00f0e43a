"""The shipped packaging, checked with the real tools: Prometheus, promtool, systemd-analyze,
hadolint, and the HiveOS scripts against a live miner.

Tools that come from Debian packages (prometheus, promtool, systemd-analyze, jq) are installed by
`.ci/run`, which sets ``NEURAXON_REQUIRE_TOOLS=1`` so that a missing tool fails CI instead of
skipping; on a developer machine without them those tests skip with the reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.docker.rig import (
    DOCKER,
    Rig,
    clean_env,
    cli,
    free_port,
    http_get,
    need,
    prom_query,
    prometheus,
    prometheus_dir,
    rig,
    wait_until,
)
from tests.protocol.server.dask_cluster import require_dask

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("rig")) as r:
        yield r


def _value(results: list[dict[str, object]]) -> float | None:
    if not results:
        return None
    return sum(float(r["value"][1]) for r in results)  # type: ignore[index]


def test_real_prometheus_scrapes_rising_iterations_and_accepted_solutions(live: Rig, tmp_path: Path) -> None:
    promtool = need("promtool")
    server = urllib.parse.urlsplit(live.server_http)
    prom = prometheus_dir(tmp_path, [f"127.0.0.1:{live.api_port}"], server.netloc)
    check = subprocess.run([promtool, "check", "config", str(prom / "prometheus.yml")], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with prometheus(prom) as base:
        seen: dict[str, list[float]] = {"iterations": [], "accepted": []}
        exprs = {"iterations": "neuraxon_miner_iterations_total",
                 "accepted": 'neuraxon_miner_solutions_total{result="accepted"}'}

        def rising() -> bool:
            for key, expr in exprs.items():
                value = _value(prom_query(base, expr))
                if value is not None and (not seen[key] or seen[key][-1] != value):
                    seen[key].append(value)
            return all(len(v) >= 2 and v[-1] > v[0] for v in seen.values())

        wait_until(rising, 300, "iteration and accepted-solution series present and rising in Prometheus", 2.0)
        up = prom_query(base, 'up{job="neuraxon-miner"}')
        assert up and float(up[0]["value"][1]) == 1.0  # type: ignore[index]
        wait_until(lambda: prom_query(base, "workserver_best_score"), 60, "the work server's training progress")


def test_promtool_accepts_the_live_metrics(live: Rig) -> None:
    promtool = need("promtool")
    wait_until(lambda: "neuraxon_miner_iterations_total" in live.metrics_text(), 120, "iterations in /metrics")
    for name, text in (("miner", live.metrics_text()),
                       ("work server", http_get(f"{live.server_http}/metrics").decode())):
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


_METRIC = re.compile(r"\b((?:neuraxon_miner|workserver|process)_[a-z0-9_]+)\b")


def _exported(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        # A declared family without samples yet (a labelled counter before its first event).
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_dashboard_is_valid_and_every_queried_metric_is_exported(live: Rig) -> None:
    dashboard = json.loads((DOCKER / "grafana" / "dashboards" / "neuraxon-miner.json").read_text())
    datasource = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    panels = dashboard["panels"]
    assert dashboard["uid"] and dashboard["title"] and panels
    wait_until(lambda: live.status()["iterations_total"], 120, "a first iteration")
    wait_until(lambda: live.status()["results"]["accepted"], 240, "a first accepted solution")  # type: ignore[index]
    # The training panel's parent score exists once the server has published a parent.
    wait_until(lambda: (live.status()["job"] or {}).get("parent_score"), 240, "a job with a parent")  # type: ignore[union-attr]
    exported = _exported(live.metrics_text()) | _exported(http_get(f"{live.server_http}/metrics").decode())
    queried: set[str] = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            queried.update(_METRIC.findall(target["expr"]))
    missing = sorted(queried - exported)
    assert not missing, f"dashboard queries metrics nobody exports: {missing}"
    wanted = {"neuraxon_miner_iterations_per_second", "neuraxon_miner_solutions_total", "neuraxon_miner_server_up",
              "neuraxon_miner_job_age_seconds", "neuraxon_miner_submit_latency_seconds_bucket",
              "workserver_best_score"}
    assert wanted <= queried


def test_hiveos_stats_reads_status_json(live: Rig) -> None:
    need("jq")
    need("curl")
    wait_until(lambda: (live.status()["rates"] or {}).get("10s"), 120, "a 10 s rate")  # type: ignore[union-attr]
    script = ('source "$1"; printf "%s\\n" "$khs"; printf "%s\\n" "$stats"')
    out = subprocess.run(["bash", "-c", script, "bash", str(DOCKER / "hiveos" / "h-stats.sh")], capture_output=True,
                         text=True, check=True, env=clean_env(MINER_API_PORT=str(live.api_port)))
    khs_line, stats_line = out.stdout.strip().splitlines()
    stats = json.loads(stats_line)
    assert float(khs_line) > 0
    assert stats["hs_units"] == "hs" and stats["hs"][0] > 0
    assert abs(float(khs_line) * 1000 - stats["hs"][0]) < 1e-6
    assert len(stats["ar"]) >= 2 and stats["uptime"] >= 0 and stats["ver"]
    assert stats["algo"] in ("neuraxon", "bpp9000")


def test_hiveos_stats_without_a_miner_reports_zero(tmp_path: Path) -> None:
    need("jq")
    script = 'source "$1"; printf "%s\\n%s\\n" "$khs" "$stats"'
    out = subprocess.run(["bash", "-c", script, "bash", str(DOCKER / "hiveos" / "h-stats.sh")], capture_output=True,
                         text=True, check=True, env=clean_env(MINER_API_PORT=str(free_port())))
    assert out.stdout.split() == ["0", "null"]


def test_hiveos_config_becomes_settings_the_miner_accepts(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    env = clean_env(CUSTOM_CONFIG_FILENAME=str(config), CUSTOM_URL="wss://pool.example:8443/ws, ws://backup:8080",
                    CUSTOM_TEMPLATE="WUQHZHKUBPWFQGHNPXWMIGFRODFCDXNYYOGPKRMNIDLUZQQAZAGHYBIHNPYJ.rig7",
                    CUSTOM_USER_CONFIG='threads = "50%"', WORKER_NAME="ignored")
    subprocess.run([str(DOCKER / "hiveos" / "h-config.sh")], check=True, env=env)
    printed = subprocess.run(cli("run", "--config", str(config), "--print-config"), capture_output=True, text=True,
                             env=clean_env())
    assert printed.returncode == 0, printed.stdout + printed.stderr
    text = printed.stdout
    assert "wss://pool.example:8443/ws" in text and "ws://backup:8080" in text
    assert "rig7" in text and "50%" in text and "WUQHZHKUBPWF" in text


def _unit_for_verification(tmp_path: Path) -> Path:
    unit = DOCKER / "systemd" / "neuraxon-miner.service"
    installed = Path("/opt/neuraxon-miner/bin/neuraxon-miner")
    if installed.exists():
        return unit  # verify the shipped file unchanged (.ci/run installs the package there)
    # Not installed here: point ExecStart at this checkout's console script, nothing else changes.
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(str(installed), cli()[0]))
    return copy


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    unit = _unit_for_verification(tmp_path)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    text = (DOCKER / "systemd" / "neuraxon-miner.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "StartLimitBurst=", "StateDirectory=",
                 "DynamicUser=yes", "TimeoutStopSec=", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert line in text


def test_dockerfile_passes_hadolint() -> None:
    hadolint = need("hadolint")
    result = subprocess.run([hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM .* AS build$", text, re.M) and text.count("\nFROM ") >= 1
    assert re.search(r"^USER 10001", text, re.M)
    assert 'ENTRYPOINT ["neuraxon-miner"]' in text and 'CMD ["neuraxon-miner", "healthcheck"]' in text


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"workserver", "miner", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).exists() or source.endswith("miner_api_token"), f"{name}: {source}"
    miner_env = services["miner"]["environment"]
    assert miner_env["NEURAXON_MINER_SERVERS"].startswith("ws://workserver:")
    assert miner_env["NEURAXON_MINER_API_TOKEN_FILE"].startswith("/run/secrets/")
    build = compose["x-image"]["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == (DOCKER / "Dockerfile").resolve()
    targets = yaml.safe_load((DOCKER / "prometheus" / "targets" / "miner.yml").read_text())
    assert targets[0]["targets"] == ["miner:9850"]


POOL_SERVICES = {"pool-db", "dask-scheduler", "dask-worker", "frontend-1", "frontend-2", "pool-miner"}


def _secret_path(service: dict[str, object], compose: dict[str, object], path: str) -> Path:
    """The host file behind ``/run/secrets/<name>`` of a service (which must list the secret)."""
    name = path.removeprefix("/run/secrets/")
    assert path.startswith("/run/secrets/") and name in service.get("secrets", []), path  # type: ignore[operator]
    return DOCKER / compose["secrets"][name]["file"]  # type: ignore[index]


def test_compose_pool_profile_runs_commands_the_clis_accept(tmp_path: Path) -> None:
    """The ``pool`` profile: PostgreSQL, a Dask scheduler and workers, two front-ends and a miner listing
    both; each command list goes through the parser of the CLI that runs it (ours and Dask's), and what
    the services name (hosts, ports, secrets, the database) exists. Without the profile nothing changes."""
    require_dask()  # the pool extra (Dask distributed, psycopg)
    from distributed.cli.dask_scheduler import main as dask_scheduler
    from distributed.cli.dask_worker import main as dask_worker

    from miner.cli import build_parser
    from miner.commands.workserver import _config
    from miner.settings import load_settings

    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {name for name, s in services.items() if "profiles" not in s} == {"workserver", "miner", "prometheus",
                                                                          "grafana"}
    assert {name for name, s in services.items() if s.get("profiles") == ["pool"]} == POOL_SERVICES
    pyproject = (DOCKER.parent / "pyproject.toml").read_text()
    for name in POOL_SERVICES - {"pool-db"}:
        build = services[name]["build"]
        assert services[name]["image"] == "neuraxon-miner:pool" and build["args"] == {"EXTRAS": "pool"}, name
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == (DOCKER / "Dockerfile").resolve()
        for dependency in services[name].get("depends_on", {}):
            assert dependency in POOL_SERVICES, (name, dependency)
    assert re.search(r"^pool = \[", pyproject, re.M) and 'ARG EXTRAS=""' in (DOCKER / "Dockerfile").read_text()

    db = services["pool-db"]
    password_file = _secret_path(db, compose, db["environment"]["POSTGRES_PASSWORD_FILE"])
    assert password_file.name in (password_file.parent / ".gitignore").read_text().split()  # never committed

    # Dask: the scheduler listens where the front-ends look; workers preload the scorers.
    scheduler = dask_scheduler.make_context("scheduler", services["dask-scheduler"]["command"][1:]).params
    assert services["dask-scheduler"]["entrypoint"] == services["dask-worker"]["entrypoint"] == ["dask"]
    assert services["dask-scheduler"]["command"][0] == "scheduler" and services["dask-worker"]["command"][0] == "worker"
    scheduler_url = f"tcp://dask-scheduler:{scheduler['port']}"
    worker = dask_worker.make_context("worker", services["dask-worker"]["command"][1:]).params
    assert worker["scheduler"] == scheduler_url and worker["preload"] == ("protocol.server.dask_verify",)
    from protocol.server import dask_verify

    assert callable(dask_verify.dask_setup)
    # Dask's commands pass options they do not know on to preload modules: check each is theirs.
    for command, name in ((dask_scheduler, "dask-scheduler"), (dask_worker, "dask-worker")):
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        flags = [arg.split("=")[0] for arg in services[name]["command"] if arg.startswith("-")]
        assert flags and set(flags) <= known, (name, set(flags) - known)

    # Front-ends: our parser and our configuration checks (the password file stands in for the secret).
    parser, ports, ids = build_parser(), {}, set()
    for name in ("frontend-1", "frontend-2"):
        service = services[name]
        args = parser.parse_args(service["command"])
        assert args.command == "workserver" and args.verifier == scheduler_url, name
        assert "pool_db_password" in service["secrets"] and "password" not in args.db.lower().split("@")[0]
        assert _secret_path(service, compose, str(args.db_password_file)) == password_file
        (tmp_path / "password").write_text("compose-test\n")
        args.db_password_file = tmp_path / "password"
        config = _config(args)
        url = config.database.url
        assert url == f"postgresql://{db['environment']['POSTGRES_USER']}@pool-db:5432/{db['environment']['POSTGRES_DB']}"
        assert config.database.password == "compose-test" and config.host == "0.0.0.0"
        ports[name] = config.port
        ids.add(config.front_end_id)
        assert set(service["depends_on"]) == {"pool-db", "dask-scheduler"}
    assert ids == {"frontend-1", "frontend-2"}

    # The miner lists both front-ends, the first as its primary.
    miner = services["pool-miner"]
    settings = load_settings(environ=miner["environment"]).settings
    assert settings.servers == [f"ws://{name}:{port}/ws" for name, port in ports.items()], settings.servers
    assert parser.parse_args(miner["command"]).command == "run"
    targets = yaml.safe_load((DOCKER / "prometheus" / "targets" / "pool.yml").read_text())
    assert targets[0]["targets"] == [f"{name}:{port}" for name, port in ports.items()]


def test_notify_socket_sees_ready_watchdog_stopping(tmp_path: Path) -> None:
    """The miner (real CLI, embedded server) speaks sd_notify: READY=1, WATCHDOG=1, STOPPING=1 on SIGTERM.

    Keep-alives may also come before READY=1 (a slow start-up, e.g. the self-test on a loaded machine):
    systemd ignores them until start-up completes, so what counts is one after READY=1."""
    import signal
    import socket

    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(1.0)
    proc = subprocess.Popen(cli("run", "--api-port", str(free_port()), "--threads", "1"),
                            stdout=(tmp_path / "miner.log").open("wb"), stderr=subprocess.STDOUT,
                            env=clean_env(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="4000000",
                                          XDG_STATE_HOME=str(tmp_path / "state")))
    messages: list[str] = []

    def receive_until(token: str, timeout: float, after: int = -1) -> int:
        """Index of the first ``token`` message after index ``after``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [i for i, m in enumerate(messages) if m == token and i > after]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {token} within {timeout} s; got {messages}")
            try:
                data = sock.recv(4096).decode()
            except TimeoutError:
                continue
            messages.extend(data.splitlines())

    try:
        ready = receive_until("READY=1", 240)
        receive_until("WATCHDOG=1", 60, after=ready)
        proc.send_signal(signal.SIGTERM)
        receive_until("STOPPING=1", 30, after=ready)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    # once each: a second READY=1 or STOPPING=1 would be a second start-up or shutdown
    assert messages.count("READY=1") == 1 and messages.count("STOPPING=1") == 1
