"""docker/Dockerfile built and run for real under podman, against the reference work server on the host.

The image is built once per session (``miner_image``: ``scripts/build-image.sh`` on a local Debian
bookworm base, network off). Containers use ``--network host`` so that they reach the work server
on the host's loopback and the host reaches their API; they share one numba cache volume, so only
the first one compiles the kernels. The commands are the ones docs/deploy.md gives an operator.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import FIGURES
from tests.deploy.podman import Podman, events, json_lines
from tests.docker.rig import (
    API_TOKEN,
    DOCKER,
    WALLET,
    WorkServer,
    free_port,
    http_get,
    prom_query,
    prometheus,
    prometheus_dir,
    wait_until,
    workserver,
)
from tests.miner.harness import journal_pending, ledger_accepted

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

#: Hardening an operator can add to `podman run` / `docker run`; the miner needs none of what it removes.
#: No tmpfs on /tmp either (podman adds one under --read-only, Docker does not).
HARDENED = ("--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")


@dataclass
class Miner:
    """A miner container and its API (token-protected, on the host's network)."""

    name: str
    api_port: int
    state: str

    def get(self, path: str) -> bytes:
        return http_get(f"http://127.0.0.1:{self.api_port}{path}", token=API_TOKEN)

    def status(self) -> dict[str, object]:
        return json.loads(self.get("/status"))  # type: ignore[no-any-return]

    def accepted(self) -> int:
        return int(self.status()["results"]["accepted"])  # type: ignore[index]


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "miner_api_token"
    path.write_text(API_TOKEN)
    return path


@pytest.fixture(scope="module")
def numba_cache(podman: Podman) -> str:
    return podman.volume("numba-cache")


def miner_options(server: WorkServer, token_file: Path, cache: str, state: str, api_port: int,
                  worker: str) -> list[str]:
    """The `podman run` options docs/deploy.md gives: host network, two volumes, settings, API token file."""
    return ["--network", "host", "--stop-timeout", "60",
            "-v", f"{state}:/var/lib/neuraxon-miner", "-v", f"{cache}:/var/cache/neuraxon-miner",
            "-v", f"{token_file}:/run/secrets/miner_api_token:ro",
            "-e", f"NEURAXON_MINER_SERVERS={server.ws_url}", "-e", f"NEURAXON_MINER_WALLET={WALLET}",
            "-e", f"NEURAXON_MINER_WORKER={worker}",
            "-e", "NEURAXON_MINER_API_HOST=0.0.0.0", "-e", f"NEURAXON_MINER_API_PORT={api_port}",
            "-e", "NEURAXON_MINER_API_TOKEN_FILE=/run/secrets/miner_api_token"]


def start_miner(podman: Podman, image: str, what: str, server: WorkServer, token_file: Path, cache: str, *,
                worker: str | None = None, state: str | None = None, options: tuple[str, ...] = ()) -> Miner:
    """`podman run -d` of the image (API on 0.0.0.0 of the host, so with a token)."""
    state = state or podman.volume(f"{what}-state")
    port = free_port()
    name = podman.run(what, *miner_options(server, token_file, cache, state, port, worker or f"deploy-{what}"),
                      *options, image)
    return Miner(name, port, state)


def wait_accepted(podman: Podman, miner: Miner, count: int = 1, timeout: float = 900) -> None:
    def accepted() -> bool:
        assert podman.running(miner.name), f"{miner.name} exited:\n{podman.logs(miner.name)[-3000:]}"
        return miner.accepted() >= count

    wait_until(accepted, timeout, f"{count} accepted solution(s) from {miner.name}", 1.0)


@pytest.fixture(scope="module")
def mining(podman: Podman, miner_image: str, training_server: WorkServer, token_file: Path,
           numba_cache: str) -> Miner:
    """A miner limited to one CPU, mining on the host's work server (first start: cold numba cache)."""
    started = time.monotonic()
    miner = start_miner(podman, miner_image, "mining", training_server, token_file, numba_cache,
                        options=("--cpus", "1"))
    wait_accepted(podman, miner)
    FIGURES["podman run to first accepted solution seconds (cold numba cache)"] = round(time.monotonic() - started, 1)
    return miner


def test_1_runs_as_non_root_and_writes_only_to_its_volumes(podman: Podman, miner_image: str, mining: Miner,
                                                           training_server: WorkServer, token_file: Path,
                                                           numba_cache: str) -> None:
    status = podman.exec(mining.name, "cat", "/proc/1/status").stdout
    assert re.search(r"^Uid:\s+10001\s+10001\s+10001\s+10001$", status, re.M), status
    assert re.search(r"^Gid:\s+10001\s+10001\s+10001\s+10001$", status, re.M), status
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status
    probe = 'touch "$1/.deploy-probe" && rm "$1/.deploy-probe"'
    for path in ("/", "/etc", "/opt/neuraxon-miner", "/opt/neuraxon-miner/bin", "/usr/local/bin", "/var/lib"):
        denied = podman.exec(mining.name, "sh", "-c", probe, "sh", path, check=False)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, (path, denied.stderr)
    for path in ("/var/lib/neuraxon-miner", "/var/cache/neuraxon-miner"):
        assert podman.exec(mining.name, "sh", "-c", probe, "sh", path, check=False).returncode == 0, path
    # What the miner itself wrote: its journal and the compiled kernels, both in the volumes, and
    # nothing in the container's own file system beyond what podman changes in any container.
    journal = podman.volume_path(mining.state) / "journal.jsonl"
    assert journal.exists() and journal.stat().st_uid == 10001
    assert any(podman.volume_path(podman.name("numba-cache")).rglob("*.nbi")), "no numba cache in the volume"
    options = miner_options(training_server, token_file, numba_cache, podman.volume("baseline-state"), free_port(),
                            "baseline")
    baseline = podman.run("diff-baseline", *options, "--entrypoint", "true", miner_image)
    podman.wait_exit(baseline, 120)
    changed = set(podman("diff", mining.name).stdout.split("\n"))
    assert changed <= set(podman("diff", baseline).stdout.split("\n")), changed


def test_2_cpu_quota_gives_one_worker_thread(podman: Podman, miner_image: str, mining: Miner) -> None:
    host_cpus = len(os.sched_getaffinity(0))
    if host_cpus < 2:
        pytest.skip("needs a machine with at least 2 CPUs to tell --cpus 1 apart")
    assert mining.status()["threads"] == 1
    metrics = {s.name: s.value for f in text_string_to_metric_families(mining.get("/metrics").decode())
               for s in f.samples}
    assert metrics["neuraxon_miner_worker_threads"] == 1
    starting = events(podman.logs(mining.name), "miner_starting")
    assert starting and starting[0]["threads"] == 1 and starting[0]["cpus_available"] == 1, starting
    # The same image without the quota sees every CPU, so the 1 above comes from the cgroup.
    probe = ("run", "--rm", "--entrypoint", "python3")
    code = "from miner.cpu import available_cpus; print(available_cpus())"
    assert podman(*probe, "--cpus", "1", miner_image, "-c", code).stdout.strip() == "1"
    assert podman(*probe, miner_image, "-c", code).stdout.strip() == str(host_cpus)


def test_3_mines_on_the_host_work_server_and_turns_healthy(podman: Podman, miner_image: str, mining: Miner,
                                                           training_server: WorkServer) -> None:
    healthcheck = json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}",
                                    miner_image).stdout)
    assert healthcheck and healthcheck["Test"] == ["CMD", "neuraxon-miner", "healthcheck"], healthcheck
    assert mining.accepted() >= 1
    assert ledger_accepted(training_server.db, "deploy-mining"), "the work server's ledger has none of its results"
    wait_until(lambda: podman("healthcheck", "run", mining.name, check=False).returncode == 0, 300,
               "`podman healthcheck run` to pass", 5.0)
    assert podman.inspect(mining.name, "{{.State.Health.Status}}") == "healthy"


def test_4_podman_stop_exits_0_and_logs_stopping_as_json(podman: Podman, miner_image: str,
                                                         training_server: WorkServer, token_file: Path,
                                                         numba_cache: str) -> None:
    miner = start_miner(podman, miner_image, "stop", training_server, token_file, numba_cache, options=HARDENED)
    wait_until(lambda: miner.status()["iterations_total"], 600, "the hardened container to mine", 1.0)
    podman("stop", miner.name, timeout=120)  # the container's stop timeout: 60 s, then SIGKILL (exit 137)
    assert podman.inspect(miner.name, "{{.State.ExitCode}}") == "0"
    records = json_lines(podman("logs", miner.name).stdout)  # every line of the miner's output is JSON
    names = [r["event"] for r in records]
    assert "miner_stopping" in names and "miner_stopped" in names, names[-5:]
    assert names.index("miner_stopping") < names.index("miner_stopped")
    assert records[names.index("miner_stopping")]["reason"] == "signal SIGTERM"


def test_5_kill9_then_a_new_container_resubmits_each_result_once(podman: Podman, miner_image: str,
                                                                 token_file: Path, numba_cache: str,
                                                                 tmp_path: Path) -> None:
    # --no-training: the work stays the same, so results found during the outage are still current.
    with workserver(tmp_path, "--no-training") as server:
        # One rig restarted: the same worker name, so the server knows the jobs the results are for.
        first = start_miner(podman, miner_image, "kill9-a", server, token_file, numba_cache, worker="deploy-kill9")
        journal = podman.volume_path(first.state) / "journal.jsonl"
        wait_accepted(podman, first)
        server.pause()
        wait_until(lambda: len(journal_pending(journal)) >= 2, 600, "unsent results in the journal", 1.0)
        podman("kill", "--signal", "KILL", first.name)
        assert podman.wait_exit(first.name, 60) == 137
        unsent = journal_pending(journal)
        server.resume()
        second = start_miner(podman, miner_image, "kill9-b", server, token_file, numba_cache, worker="deploy-kill9",
                             state=first.state)
        wait_until(lambda: not set(journal_pending(journal)) & set(unsent), 600,
                   "the new container to resubmit the unsent results", 1.0)
        # The verdict of each, from the new container's log (the journal forgets finished results).
        accepted = {r["id"] for r in events(podman.logs(second.name), "result_accepted")}
        assert {i[:12] for i in unsent} <= accepted, (unsent, accepted)
        assert second.status()["resubmitted"] == len(unsent)
        ledger = [nonce for _, nonce in ledger_accepted(server.db, "deploy-kill9")]
        for nonce in unsent.values():
            assert ledger.count(nonce) == 1, nonce
        podman("stop", second.name, timeout=120)


def _grafana_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every dashboard target, template variables replaced by their values."""
    dashboard = json.loads((DOCKER / "grafana" / "dashboards" / "neuraxon-miner.json").read_text())
    values = {"__rate_interval": "1m", "__interval": "10s", "__range": "15m"}
    for var in dashboard.get("templating", {}).get("list", []):
        current = var.get("current", {}).get("value", ".*")
        values[var["name"]] = ".*" if current in ("$__all", ["$__all"]) else str(current)

    def substitute(expr: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)

    def panels(items: list[dict[str, object]]) -> Iterator[dict[str, object]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))  # type: ignore[arg-type]

    return [(str(p["title"]), substitute(t["expr"])) for p in panels(dashboard["panels"])
            for t in p.get("targets", [])]  # type: ignore[attr-defined]


def test_6_prometheus_scrapes_the_container_and_every_panel_has_data(
        podman: Podman, mining: Miner, training_server: WorkServer, tmp_path: Path) -> None:
    listening = events(podman.logs(mining.name), "api_listening")
    assert listening and str(listening[0]["url"]).startswith("http://0.0.0.0:") and listening[0]["token_required"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_get(f"http://127.0.0.1:{mining.api_port}/metrics")
    assert refused.value.code == 401
    prom = prometheus_dir(tmp_path, [f"127.0.0.1:{mining.api_port}"], f"127.0.0.1:{training_server.port}")
    queries = _grafana_queries()
    assert len(queries) >= 10
    with prometheus(prom) as base:
        def miner_up() -> bool:
            targets = json.loads(http_get(f"{base}/api/v1/targets"))["data"]["activeTargets"]
            return any(t["labels"]["job"] == "neuraxon-miner" and t["health"] == "up" for t in targets)

        wait_until(miner_up, 120, "Prometheus to scrape the container's /metrics with the token", 2.0)
        empty: list[tuple[str, str]] = []

        def all_have_series() -> bool:
            empty[:] = [(title, expr) for title, expr in queries if not prom_query(base, expr)]
            return not empty

        try:
            wait_until(all_have_series, 300, "every dashboard query to return a series", 5.0)
        except AssertionError:
            pytest.fail(f"dashboard queries without any series: {empty}")
        up = prom_query(base, 'up{job="neuraxon-miner"}')
        assert [float(r["value"][1]) for r in up] == [1.0]  # type: ignore[index]
