"""Session fixtures of the deploy tests: tools, podman, the images (built once per session), the
reference work server on the host, and the figures printed at the end of the run.

The tests drive rootful podman (runc, `docker/podman/containers.conf`), mmdebstrap for registry-free
Debian base images, and a privileged container with systemd as PID 1. `.ci/run` installs the tools
and sets ``NEURAXON_REQUIRE_TOOLS=1``; elsewhere a missing tool or a non-root user skips them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.deploy.podman import Podman, script, timed
from tests.docker.rig import ROOT, WorkServer, need, workserver

#: Measured figures (seconds, MB, ...) for the closing report; printed after the run, never asserted.
FIGURES: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("deploy figures (noisy on a shared machine)")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    for tool in ("podman", "runc", "mmdebstrap"):
        need(tool)
    if os.geteuid() != 0:
        message = "the deploy tests drive rootful podman and a privileged systemd container: run them as root"
        if os.environ.get("NEURAXON_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    session = Podman()
    try:
        yield session
    finally:
        session.cleanup()


@pytest.fixture(scope="session")
def wheelhouse(podman: Podman) -> None:
    """docker/wheelhouse filled by `scripts/build-image.sh --wheels-only` with this interpreter's pip."""
    script("build-image.sh", "--wheels-only", PYTHON=sys.executable)


@pytest.fixture(scope="session")
def miner_image(podman: Podman, wheelhouse: None) -> str:
    """docker/Dockerfile built by `scripts/build-image.sh` on the local Debian base, offline."""
    base = script("debian-base.sh", "python")
    tag = podman.tag("neuraxon-miner")
    with timed(FIGURES, "image build seconds (wheels + podman build)"):
        script("build-image.sh", "--engine", "podman", "--base", base, "--tag", tag, PYTHON=sys.executable)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    FIGURES["image size MB"] = round(size / 1e6)
    FIGURES["base image"] = base
    return tag


@pytest.fixture(scope="session")
def systemd_image(podman: Podman, wheelhouse: None) -> str:
    """A bookworm machine with systemd and the miner installed under /opt/neuraxon-miner."""
    base = script("debian-base.sh", "systemd")
    tag = podman.tag("neuraxon-miner-systemd")
    podman("build", "--network", "none", "--format", "docker", "--pull=never", "--build-arg", f"BASE={base}",
           "-f", str(ROOT / "tests" / "deploy" / "systemd.Containerfile"), "-t", tag, str(ROOT), timeout=1800)
    return tag


@pytest.fixture(scope="session")
def training_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkServer]:
    """The reference work server on the host's loopback (demo task, training on)."""
    with workserver(tmp_path_factory.mktemp("workserver")) as server:
        yield server
