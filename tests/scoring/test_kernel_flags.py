"""Kernels compiled without numba's reference counting (``@njit(alloc=False)``, see engine._jit) must
never return an array: the caller would release a reference the kernel never took, and the array's
memory could be freed under a live score. Every such kernel is compiled here the way scoring uses it
(each registry entry's first known answer), in a fresh process with an empty numba cache so that
nothing is loaded precompiled, and its compiled return types are checked (about a minute: slow)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core import types
from numba.core.registry import CPUDispatcher

import engine
from scoring import registry


def _holds_array(ty: types.Type) -> bool:
    if isinstance(ty, types.Array):
        return True
    if isinstance(ty, types.BaseTuple):
        return any(_holds_array(t) for t in ty.types)
    return False


def _alloc_free_kernels() -> dict[str, CPUDispatcher]:
    found = {}
    for info in pkgutil.iter_modules(engine.__path__):
        if info.name.startswith("cuda"):
            continue
        module = importlib.import_module("engine." + info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("_nrt") is False:
                found[f"{module.__name__}.{name}"] = obj
    return found


def check_alloc_free_kernels() -> None:
    for entry in registry.entries():
        case = entry.known_answers()[0]
        if case.parent_walk is not None:
            continue
        prepared = entry.prepare(case.task, seed=case.seed, shared=False)
        assert entry.score(prepared, case.public_key, case.nonce) == case.score, case.label
    kernels = _alloc_free_kernels()
    compiled = {name: k for name, k in kernels.items() if k.overloads}
    # the hot kernels of every algorithm are among them, and were compiled by the scores above
    for hot in ("engine.neuraxon_kernels.step_once", "engine.foraging.lifetime",
                "engine.neuraxon_v2_synapses.plasticity", "engine._bpp9000_sliced._tick_cone",
                "engine.bpp9000_frame.mutate"):
        assert hot in compiled, hot
    for name, kernel in compiled.items():
        for cres in kernel.overloads.values():
            assert not _holds_array(cres.signature.return_type), f"{name} returns {cres.signature.return_type}"


@pytest.mark.slow
def test_kernels_without_reference_counting_return_no_array(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    code = "from tests.scoring.test_kernel_flags import check_alloc_free_kernels as c; c(); print('checked')"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["checked"]
