"""The numba cache: no file is touched when the engine is imported, and compiled kernels are kept on disk
in a directory keyed by every engine source (so an edit anywhere never reuses stale machine code)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent.parent / "engine"
ROOT = ENGINE.parent

# Imports every engine module with an audit hook on, then reports the file events it saw.
_IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
import numba, numba.core.caching  # numba's own start-up is not ours
events = []
WATCHED = {"open", "os.mkdir", "os.scandir", "os.utime", "os.rename", "os.remove", "shutil.rmtree"}  # listdir: imports
sys.addaudithook(lambda event, args: events.append((event, str(args[0]))) if event in WATCHED else None)
import engine
for module in pkgutil.iter_modules(engine.__path__):
    importlib.import_module("engine." + module.name)
imported = list(events)
from engine import _jit
_jit.cache_dir()
print(json.dumps({"import": imported, "cache_dir": events[len(imported):]}))
"""


def _run(code: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout


def test_importing_the_engine_touches_no_file_until_a_kernel_needs_the_cache(tmp_path: Path) -> None:
    events = json.loads(_run(_IMPORT_ALL, tmp_path / "numba"))
    engine_files = [path for event, path in events["import"] if event == "open" and path.startswith(str(ENGINE))]
    # each engine module's own file is read once, by the import itself; nothing else is touched
    assert len(engine_files) == len(set(engine_files))
    assert not [e for e in events["import"] if e[0] != "open"]
    assert not [path for _, path in events["import"] if path.startswith(str(tmp_path))]
    # the deferred work does happen once the cache is needed: every source digested, the directory made
    digested = {path for event, path in events["cache_dir"] if event == "open" and path.startswith(str(ENGINE))}
    assert digested == {str(p) for p in ENGINE.glob("*.py")}
    assert any(event == "os.mkdir" for event, _ in events["cache_dir"])
    assert (tmp_path / "numba").is_dir()


def test_a_kernel_compiles_once_into_the_cache_and_loads_from_it_later(tmp_path: Path) -> None:
    code = ("from engine import rng; import numpy as np; s = rng.seed_state(5); rng.next_u64(s);"
            "print(sum(rng.next_u64.stats.cache_hits.values()), sum(rng.next_u64.stats.cache_misses.values()))")
    assert _run(code, tmp_path).split() == ["0", "1"]
    (keyed,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(keyed.name) == 16 and list(keyed.rglob("*.nbi"))
    assert _run(code, tmp_path).split() == ["1", "0"]


def _digest_of(engine_dir: Path) -> str:
    spec = importlib.util.spec_from_file_location(f"engine_copy_{abs(hash(engine_dir))}", engine_dir / "_jit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._source_digest())


def test_cache_directory_is_keyed_by_every_engine_source(tmp_path: Path) -> None:
    copy = tmp_path / "engine"
    shutil.copytree(ENGINE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = _digest_of(copy)
    assert before == _digest_of(copy)
    for name in ("foraging.py", "_simd.py"):  # a kernel file and a building block compiled into others
        source = copy / name
        original = source.read_text()
        source.write_text(original + "\n# edited\n")
        assert _digest_of(copy) != before
        source.write_text(original)
    assert _digest_of(copy) == before
