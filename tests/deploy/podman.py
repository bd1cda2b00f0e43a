"""Rootful podman driven the way docs/deploy.md tells an operator to: every command is a real
``podman`` call with ``CONTAINERS_CONF`` pointing at ``docker/podman/containers.conf``.

Everything a :class:`Podman` creates (containers, volumes, image tags) carries its session prefix,
so sessions in two checkouts do not meet, and is removed by :meth:`Podman.cleanup`; the images
themselves are only untagged, so the next session's build reuses their layers.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.docker.rig import DOCKER, ROOT, wait_until

CONTAINERS_CONF = DOCKER / "podman" / "containers.conf"


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def script(name: str, *args: str, **env: str) -> str:
    """Run ``scripts/<name>`` with the podman settings; its stdout, stripped (stderr is shown on failure)."""
    result = subprocess.run([str(ROOT / "scripts" / name), *args], capture_output=True, text=True, cwd=ROOT,
                            env={**podman_env(), **env}, timeout=1800, check=False)
    assert result.returncode == 0, f"scripts/{name} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def json_lines(text: str) -> list[dict[str, object]]:
    """Each non-empty line parsed as a JSON object (raises on a line that is not one)."""
    records = []
    for line in text.splitlines():
        if line.strip():
            obj = json.loads(line)
            assert isinstance(obj, dict), line
            records.append(obj)
    return records


def events(text: str, name: str) -> list[dict[str, object]]:
    """The JSON log records with ``event == name`` among ``text``'s lines (other lines ignored)."""
    found = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("event") == name:
            found.append(obj)
    return found


@dataclass
class Podman:
    """One test session's podman: names with a unique prefix, and what to remove at the end."""

    prefix: str = field(default_factory=lambda: f"nxdeploy-{uuid.uuid4().hex[:8]}")
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = True, timeout: float = 600,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(),
                                timeout=timeout, input=input, check=False)
        if check:
            assert result.returncode == 0, f"podman {' '.join(args)} -> {result.returncode}\n{result.stderr}"
        return result

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def tag(self, repository: str) -> str:
        """``localhost/<repository>:<prefix>``, untagged again by :meth:`cleanup`."""
        tag = f"localhost/{repository}:{self.prefix}"
        self.tags.append(tag)
        return tag

    def volume(self, what: str) -> str:
        name = self.name(what)
        self("volume", "create", name)
        self.volumes.append(name)
        return name

    def volume_path(self, volume: str) -> Path:
        """Where a named volume's files are on the host (rootful podman: readable by this root process)."""
        return Path(self("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip())

    def run(self, what: str, *args: str) -> str:
        """``podman run -d --name <prefix>-<what> ARGS``; the container's name."""
        name = self.name(what)
        self.containers.append(name)
        self("run", "-d", "--name", name, *args)
        return name

    def inspect(self, container: str, template: str) -> str:
        return self("inspect", "--format", template, container).stdout.strip()

    def running(self, container: str) -> bool:
        return self("inspect", "--format", "{{.State.Running}}", container, check=False).stdout.strip() == "true"

    def logs(self, container: str) -> str:
        result = self("logs", container, check=False)
        return result.stdout + result.stderr

    def exec(self, container: str, *cmd: str, check: bool = True, user: str | None = None,
             input: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self("exec", *(["-i"] if input is not None else []), *(["--user", user] if user else []),
                    container, *cmd, check=check, input=input, timeout=timeout)

    def wait_exit(self, container: str, timeout: float) -> int:
        """The exit code once the container has stopped."""
        wait_until(lambda: not self.running(container), timeout, f"container {container} to exit")
        return int(self.inspect(container, "{{.State.ExitCode}}"))

    def remove(self, container: str) -> None:
        self("rm", "--force", "--time", "10", container, check=False, timeout=120)

    def cleanup(self) -> None:
        for container in reversed(self.containers):
            self.remove(container)
        for volume in self.volumes:
            self("volume", "rm", "--force", volume, check=False)
        for tag in self.tags:
            self("untag", tag, tag, check=False)


@contextmanager
def timed(figures: dict[str, object], key: str) -> Iterator[None]:
    """Record the wall time of the block in ``figures[key]`` (seconds; a figure for the report, never asserted)."""
    started = time.monotonic()
    yield
    figures[key] = round(time.monotonic() - started, 1)
