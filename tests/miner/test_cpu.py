"""Thread counts follow the CPUs the process may really use (cgroup quota, affinity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from miner.cpu import ThreadSpecError, available_cpus, cgroup_cpu_limit, parse_thread_spec, resolve_threads


def _tree(tmp_path: Path, cgroup_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc = tmp_path / "cgroup"
    proc.write_text(cgroup_line + "\n")
    root = tmp_path / "fs"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return proc, root


def test_cgroup_v2_quota_of_the_process_cgroup(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "0::/system.slice/miner.service",
                       {"system.slice/miner.service/cpu.max": "150000 100000", "system.slice/cpu.max": "max 100000"})
    assert cgroup_cpu_limit(proc, root) == 1.5


def test_cgroup_v2_parent_limit_applies(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "0::/a/b", {"a/b/cpu.max": "max 100000", "a/cpu.max": "50000 100000"})
    assert cgroup_cpu_limit(proc, root) == 0.5


def test_cgroup_v2_container_root(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "0::/", {"cpu.max": "200000 100000"})
    assert cgroup_cpu_limit(proc, root) == 2.0


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "4:cpu,cpuacct:/docker/abc",
                       {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "250000",
                        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"})
    assert cgroup_cpu_limit(proc, root) == 2.5


def test_unlimited_and_missing(tmp_path: Path) -> None:
    proc, root = _tree(tmp_path, "0::/", {"cpu.max": "max 100000"})
    assert cgroup_cpu_limit(proc, root) is None
    assert cgroup_cpu_limit(tmp_path / "absent", root) is None


def test_available_is_min_of_affinity_and_rounded_up_quota() -> None:
    assert available_cpus(affinity=8, quota=1.5) == 2
    assert available_cpus(affinity=2, quota=6.0) == 2
    assert available_cpus(affinity=4, quota=0.2) == 1
    assert available_cpus(affinity=3, use_cgroup=False) == 3


@pytest.mark.parametrize(("spec", "cpus", "threads"), [
    ("auto", 6, 6), ("4", 2, 4), ("50%", 6, 3), ("10%", 2, 1), ("100%", 3, 3), (" 75% ", 4, 3)])
def test_thread_specs(spec: str, cpus: int, threads: int) -> None:
    assert resolve_threads(spec, cpus) == threads


@pytest.mark.parametrize("bad", ["0", "-1", "0%", "101%", "many", "", True, 2.5])
def test_bad_thread_specs(bad: object) -> None:
    with pytest.raises(ThreadSpecError):
        parse_thread_spec(bad)
