"""How many CPUs this process may really use, and what ``--threads`` means on this machine.

``os.cpu_count()`` reports the host's CPUs, not what a container or a systemd ``CPUQuota=`` allows.
:func:`available_cpus` takes the smallest of the affinity mask (``taskset``, ``CPUAffinity=``,
``docker --cpuset-cpus``) and the cgroup CPU quota (``docker --cpus``, ``CPUQuota=``): cgroup v2
``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, on the process's own cgroup and
each of its ancestors, rounded up to whole CPUs.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

__all__ = ["ThreadSpecError", "available_cpus", "cgroup_cpu_limit", "parse_thread_spec", "resolve_threads"]

_SPEC_RE = re.compile(r"(?:(auto)|(\d+)|(\d+(?:\.\d+)?)%)")


class ThreadSpecError(ValueError):
    """A ``threads`` value that is neither ``auto``, a count, nor a percentage."""


def parse_thread_spec(value: object) -> str:
    """Normalise a thread setting to ``"auto"``, ``"<n>"`` (n >= 1) or ``"<p>%"`` (0 < p <= 100)."""
    if isinstance(value, bool):
        raise ThreadSpecError("must be 'auto', a count like 4, or a percentage like 50%")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().lower()
    else:
        raise ThreadSpecError("must be 'auto', a count like 4, or a percentage like 50%")
    match = _SPEC_RE.fullmatch(text)
    if match is None:
        raise ThreadSpecError(f"{value!r} is not 'auto', a count like 4, or a percentage like 50%")
    if match.group(2) is not None:
        count = int(match.group(2))
        if not 1 <= count <= 4096:
            raise ThreadSpecError(f"a thread count must be 1..4096, got {count}")
        return str(count)
    if match.group(3) is not None:
        percent = float(match.group(3))
        if not 0 < percent <= 100:
            raise ThreadSpecError(f"a thread percentage must be above 0 and at most 100, got {percent:g}%")
        return f"{percent:g}%"
    return "auto"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_limit(directory: Path) -> float | None:
    text = _read(directory / "cpu.max")
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_limit(directory: Path) -> float | None:
    quota_text, period_text = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    try:
        quota, period = int(quota_text or ""), int(period_text or "")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _ancestors(root: Path, relative: str) -> list[Path]:
    parts = [p for p in relative.strip("/").split("/") if p]
    return [root.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def cgroup_cpu_limit(proc_cgroup: Path = Path("/proc/self/cgroup"),
                     root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. ``1.5``), or ``None`` when unlimited.

    The tightest quota of the cgroup and its ancestors wins (a parent's limit applies to its
    children). Inside a container the cgroup file often names a path that is not mounted; then the
    mount root itself (the container's own cgroup) is read.
    """
    text = _read(proc_cgroup)
    if text is None:
        return None
    limits: list[float] = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, relative = fields
        if controllers == "":  # cgroup v2 unified hierarchy
            for directory in _ancestors(root, relative):
                found = _v2_limit(directory)
                if found is not None:
                    limits.append(found)
        elif "cpu" in controllers.split(","):
            for base in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                if base.is_dir():
                    for directory in _ancestors(base, relative):
                        found = _v1_limit(directory)
                        if found is not None:
                            limits.append(found)
                    break
    return min(limits) if limits else None


def _affinity_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def available_cpus(*, affinity: int | None = None, quota: float | None = None, use_cgroup: bool = True) -> int:
    """Whole CPUs this process may use: min(affinity mask, ceil(cgroup quota)), at least 1."""
    count = _affinity_count() if affinity is None else affinity
    limit = quota if quota is not None else (cgroup_cpu_limit() if use_cgroup else None)
    if limit is not None:
        count = min(count, max(1, math.ceil(limit - 1e-9)))
    return max(1, count)


def resolve_threads(spec: str, cpus: int | None = None) -> int:
    """Worker threads for a normalised spec: ``auto`` = all available CPUs, ``p%`` of them (at least 1)."""
    spec = parse_thread_spec(spec)
    total = available_cpus() if cpus is None else cpus
    if spec == "auto":
        return total
    if spec.endswith("%"):
        return max(1, round(total * float(spec[:-1]) / 100))
    return int(spec)
