"""The shipped unit under a real systemd: a Debian bookworm container booted with /sbin/init
(`podman run --privileged --systemd=always --network host`), the miner installed under
/opt/neuraxon-miner as README says, docker/systemd/neuraxon-miner.service copied unchanged.

The miner mines on the reference work server on the host (``--no-training``, so results found
while it is paused are still current afterwards). The tests run in file order on one machine; each
brings the unit to the state it needs first.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import FIGURES
from tests.deploy.podman import Podman, events, json_lines
from tests.docker.rig import DOCKER, WALLET, WorkServer, free_port, http_get, wait_until, workserver
from tests.miner.harness import journal_pending, ledger_accepted

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

UNIT = "neuraxon-miner.service"
UNIT_FILE = DOCKER / "systemd" / UNIT
WORKER = "deploy-systemd"
#: DynamicUser=yes keeps StateDirectory= under /var/lib/private (/var/lib/neuraxon-miner links there).
STATE_DIR = "/var/lib/private/neuraxon-miner"


def unit_setting(key: str) -> str:
    match = re.search(rf"^{key}=(.*)$", UNIT_FILE.read_text(), re.M)
    assert match, key
    return match.group(1)


@dataclass
class Machine:
    podman: Podman
    name: str
    root: Path  # the container's file system, mounted on the host (`podman mount`)
    config: str
    api_port: int

    def sh(self, *cmd: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.podman.exec(self.name, *cmd, check=check, timeout=timeout)

    def show(self, *props: str) -> dict[str, str]:
        out = self.sh("systemctl", "show", UNIT, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, invocation: str) -> str:
        """The unit's own output in one invocation (`journalctl -u ... -o cat`, without systemd's lines)."""
        return self.sh("journalctl", "--no-pager", "-o", "cat", "-u", UNIT,
                       f"_SYSTEMD_INVOCATION_ID={invocation}").stdout

    def write_config(self, text: str) -> None:
        self.podman.exec(self.name, "sh", "-c", "cat > /etc/neuraxon-miner/config.toml", input=text)

    def stop(self) -> None:
        self.sh("systemctl", "stop", UNIT)
        self.sh("systemctl", "reset-failed", UNIT, check=False)  # also resets the start rate limit

    def ensure_running(self) -> None:
        if self.show("ActiveState")["ActiveState"] != "active":
            self.sh("systemctl", "reset-failed", UNIT, check=False)
            self.sh("systemctl", "start", UNIT)

    def status(self) -> dict[str, object]:
        return json.loads(http_get(f"http://127.0.0.1:{self.api_port}/status"))  # type: ignore[no-any-return]

    @property
    def journal_file(self) -> Path:
        return self.root / STATE_DIR.lstrip("/") / "journal.jsonl"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkServer]:
    with workserver(tmp_path_factory.mktemp("systemd-ws"), "--no-training") as ws:
        yield ws


@pytest.fixture(scope="module")
def machine(podman: Podman, systemd_image: str, server: WorkServer) -> Machine:
    name = podman.run("systemd", "--privileged", "--systemd=always", "--network", "host", systemd_image, "/sbin/init")

    def booted() -> str:  # "Failed to connect to bus" (empty stdout) until systemd is up
        return podman.exec(name, "systemctl", "is-system-running", "--wait", check=False, timeout=300).stdout.strip()

    state = wait_until(booted, 300, "systemd to finish booting", 1.0)
    failed = podman.exec(name, "systemctl", "--failed", "--no-pager", check=False).stdout
    assert state == "running", f"{state}\n{failed}"
    api_port = free_port()
    config = (f'servers = ["{server.ws_url}"]\nwallet = "{WALLET}"\nworker = "{WORKER}"\n'
              f"api_port = {api_port}\n")
    root = Path(podman("mount", name).stdout.strip())
    box = Machine(podman, name, root, config, api_port)
    box.write_config(config)
    return box


def test_1_start_returns_after_ready_and_status_shows_the_miners_status(machine: Machine) -> None:
    assert machine.sh("cat", f"/etc/systemd/system/{UNIT}").stdout == UNIT_FILE.read_text()  # unchanged
    started = time.monotonic()
    machine.sh("systemctl", "start", UNIT)
    FIGURES["systemctl start until READY=1 seconds (cold numba cache)"] = round(time.monotonic() - started, 1)
    # Type=notify: the unit is "activating" until READY=1; start returned, so it came.
    props = machine.show("ActiveState", "SubState", "StatusText", "Type")
    assert (props["Type"], props["ActiveState"], props["SubState"]) == ("notify", "active", "running"), props
    status = machine.sh("systemctl", "status", "--no-pager", UNIT).stdout
    match = re.search(r'^\s*Status: "(.*)"$', status, re.M)
    assert match and "it/s" in match.group(1) and "server ws://" in match.group(1), status


def test_2_journal_lines_are_json(machine: Machine) -> None:
    machine.ensure_running()
    invocation = machine.show("InvocationID")["InvocationID"]
    wait_until(lambda: events(machine.journal(invocation), "miner_ready"), 120, "miner_ready in the journal")
    records = json_lines(machine.journal(invocation))
    names = [r["event"] for r in records]
    for event in ("miner_starting", "self_test_passed", "server_connected", "miner_ready"):
        assert event in names, names


def test_3_watchdog_restarts_a_stopped_miner(machine: Machine) -> None:
    machine.ensure_running()
    before = machine.show("MainPID", "NRestarts")
    machine.sh("sh", "-c", 'kill -STOP "$1"', "sh", before["MainPID"])  # a hung miner (no procps in minbase)
    stopped = time.monotonic()
    limit = int(unit_setting("WatchdogSec")) + int(unit_setting("RestartSec")) + 180
    wait_until(lambda: int(machine.show("NRestarts")["NRestarts"]) > int(before["NRestarts"]), limit,
               "the watchdog to restart the stopped miner", 2.0)
    FIGURES["watchdog: SIGSTOP to restart seconds"] = round(time.monotonic() - stopped, 1)
    log = machine.sh("journalctl", "--no-pager", "-o", "cat", "-u", UNIT).stdout
    assert "Watchdog timeout" in log, log[-2000:]

    def restarted() -> bool:
        now = machine.show("ActiveState", "MainPID")
        return now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])

    wait_until(restarted, 600, "the restarted miner to be ready again", 2.0)


def test_4_bad_config_exits_2_and_is_not_restarted(machine: Machine) -> None:
    machine.stop()
    machine.write_config(machine.config + 'threads = "many"\n')
    try:
        assert machine.sh("systemctl", "start", UNIT, check=False).returncode != 0
        props = machine.show("ActiveState", "SubState", "Result", "ExecMainStatus", "InvocationID")
        # Restart=on-failure would leave it "activating (auto-restart)"; RestartPreventExitStatus=2 fails it.
        assert (props["ActiveState"], props["SubState"], props["Result"], props["ExecMainStatus"]) == \
            ("failed", "failed", "exit-code", "2"), props
        message = machine.journal(props["InvocationID"])
        assert "configuration error" in message and "threads" in message, message
    finally:
        machine.write_config(machine.config)
        machine.sh("systemctl", "reset-failed", UNIT, check=False)


def test_5_stop_exits_0_and_the_state_directory_keeps_the_journal(machine: Machine, server: WorkServer) -> None:
    machine.ensure_running()
    wait_until(lambda: machine.status()["results"]["accepted"], 600, "a first accepted solution", 2.0)  # type: ignore[index]
    server.pause()
    try:
        wait_until(lambda: journal_pending(machine.journal_file), 600, "unsent results in the journal", 1.0)
        invocation = machine.show("InvocationID")["InvocationID"]
        machine.sh("systemctl", "stop", UNIT)
        props = machine.show("ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
        assert (props["ActiveState"], props["Result"], props["ExecMainStatus"]) == ("inactive", "success", "0"), props
        stopped = events(machine.journal(invocation), "miner_stopped")
        assert stopped and int(stopped[0]["pending_kept"]) >= 1, stopped  # type: ignore[call-overload]
        kept = journal_pending(machine.journal_file)
        assert kept
        owner = machine.journal_file.stat().st_uid
        assert 61184 <= owner <= 65519, f"journal owned by uid {owner}, not a DynamicUser uid"
    finally:
        server.resume()
    machine.sh("systemctl", "start", UNIT)
    wait_until(lambda: not set(journal_pending(machine.journal_file)) & set(kept), 600,
               "the restarted miner to resubmit the kept results", 2.0)
    invocation = machine.show("InvocationID")["InvocationID"]
    accepted = {r["id"] for r in events(machine.journal(invocation), "result_accepted")}
    assert {i[:12] for i in kept} <= accepted, (kept, accepted)
    ledger = [nonce for _, nonce in ledger_accepted(server.db, WORKER)]
    for nonce in kept.values():
        assert ledger.count(nonce) == 1, nonce


def test_6_security_exposure_is_ok(machine: Machine) -> None:
    out = machine.sh("systemd-analyze", "security", "--no-pager", UNIT).stdout
    match = re.search(rf"Overall exposure level for {re.escape(UNIT)}: (\d+\.\d+) (\S+)", out)
    assert match, out[-2000:]
    FIGURES["systemd-analyze security exposure"] = f"{match.group(1)} {match.group(2)}"
    print(f"systemd-analyze security {UNIT}: {match.group(1)} {match.group(2)}")
    assert float(match.group(1)) <= 2.0 and match.group(2) == "OK"
