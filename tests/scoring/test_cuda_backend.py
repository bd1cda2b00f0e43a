"""The cuda backends (Neuraxon v1, bpp9000 v1.301): their kernels in numba-cuda's simulator give the
cpu backend's integers; they compile to PTX, the Neuraxon walk without a fused multiply-add; ``auto``
picks the cpu here and says why.

The simulator runs each CUDA thread as a Python thread calling the cpu-compiled engine functions, so
these tests check the kernel's own logic (the walk's order of steps, the block's split of worlds,
the batch layout, the start genomes); the PTX test checks what a GPU would round differently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from engine import cuda_support
from miner.selftest import check_backend
from scoring import neuraxon as NX
from scoring import registry
from scoring.algorithms import cuda_backends
from scoring.algorithms.bpp9000_v1301 import BPP9000_CASES, BPP9000_CONFIGS, BPP9000_SEED, BPP9000_TASK_FILE
from scoring.algorithms.neuraxon_v1 import NEURAXON_CASES, PARENT_CASE, SMALL_TASK
from scoring.bpp9000 import Bpp9000Config, Bpp9000Spec, canonical_nonce, parse_task
from scoring.neuraxon_task import TaskSpec
from tests.miner.harness import ROOT

pytestmark = pytest.mark.skipif(not cuda_support.SIMULATED and cuda_backends.cuda_unavailable() is not None,
                                reason="no GPU and NUMBA_ENABLE_CUDASIM is not set")

ENTRY = registry.entry("neuraxon")
CUDA = ENTRY.backends["cuda"]


def _nonces(count: int, salt: int) -> list[bytes]:
    return [bytes([salt, i]) * 16 for i in range(count)]


@pytest.mark.parametrize("row", [0, 1])
def test_cuda_scores_equal_cpu_scores_for_a_batch_of_nonces(row: int) -> None:
    _task, identity, known_nonce, known = NEURAXON_CASES[row]
    pk = NX.public_key(identity)
    prepared = ENTRY.prepare(TaskSpec.from_dict(SMALL_TASK))
    nonces = [bytes.fromhex(known_nonce), *_nonces(5, row)]  # 6 walks: more than one launch of 4
    scorer = CUDA.bind(ENTRY, prepared)
    got = [s for i in range(0, len(nonces), scorer.batch_size)
           for s in scorer.score_batch(pk, nonces[i:i + scorer.batch_size])]
    assert got == ENTRY.score_batch(prepared, pk, nonces)
    assert got[0] == known  # the golden vector, through the cuda backend
    assert len(set(got)) > 1  # different nonces, different walks: the batch is not one walk repeated


def test_cuda_walks_from_a_parent_equal_cpu_walks() -> None:
    identity, parent_nonce, parent_score, nonce, score = PARENT_CASE
    pk = bytes.fromhex(identity)
    task = TaskSpec.from_dict(SMALL_TASK)
    root = ENTRY.prepare(task)
    walk = ENTRY.walk(root, pk, bytes.fromhex(parent_nonce))
    parent = registry.Parent(ENTRY.export_network(root, walk), parent_score)
    prepared = ENTRY.prepare(task, parent=parent)
    nonces = [bytes.fromhex(nonce), *_nonces(3, 7)]
    got = CUDA.bind(ENTRY, prepared).score_batch(pk, nonces)
    assert got == ENTRY.score_batch(prepared, pk, nonces) and got[0] == score


def test_cuda_backend_passes_the_self_test_and_auto_would_pick_it_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    check_backend(ENTRY, CUDA)  # every known answer (both tasks, a parent walk) on the cuda kernels
    monkeypatch.setattr(cuda_backends, "cuda_unavailable", lambda: None)  # as if the simulator were a GPU
    choice = registry.choose_backend(ENTRY, "auto", check_backend)
    assert (choice.backend.name, choice.reason) == ("cuda", "GPU present and its self-test passed")


def test_auto_picks_the_cpu_without_a_gpu_and_says_why() -> None:
    why = cuda_backends.cuda_unavailable()
    assert why is not None and ("simulator" in why or "GPU" in why or "numba-cuda" in why)
    choice = registry.choose_backend(ENTRY, "auto", check_backend)
    assert (choice.backend.name, choice.reason) == ("cpu", why)
    with pytest.raises(registry.BackendUnavailableError, match="cuda backend unavailable for neuraxon"):
        registry.choose_backend(ENTRY, "cuda", check_backend)
    bpp = registry.entry("bpp9000-v1301")
    assert registry.choose_backend(bpp, "auto").reason == why


def test_bpp9000_cuda_scores_equal_cpu_scores() -> None:
    bpp = registry.entry("bpp9000-v1301")
    task = parse_task(BPP9000_TASK_FILE.read_bytes())
    spec = Bpp9000Spec.of(task, Bpp9000Config.parse(BPP9000_CONFIGS[0]))  # the small config: 96 windows, 10 steps
    prepared = bpp.prepare(spec, seed=bytes.fromhex(BPP9000_SEED))  # the seed's pool: built once per process
    scorer = bpp.backends["cuda"].bind(bpp, prepared)
    (pk, nonce, (known, _)), (void_pk, void_nonce, (void, _)) = BPP9000_CASES[0], BPP9000_CASES[2]
    nonces = [bytes.fromhex(nonce), canonical_nonce(1, bytes(29)), canonical_nonce(10, b"\x07" * 29),
              canonical_nonce(4, b"\x09" * 29)]  # L = 1, 10, 4: different mutation counts in one launch
    got = scorer.score_batch(bytes.fromhex(pk), nonces)
    assert got == bpp.score_batch(prepared, bytes.fromhex(pk), nonces) and got[0] == known
    assert len(set(got)) > 1
    # an identity whose windows time out: the evaluation is void (INFINITE_ERROR), on the GPU as on the cpu
    assert scorer.score_batch(bytes.fromhex(void_pk), [bytes.fromhex(void_nonce)]) == [void]


def _ptx(which: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-m", "tests.engine.cuda_ptx_probe", which], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode == 3:
        if os.environ.get("NEURAXON_REQUIRE_TOOLS"):
            pytest.fail(f"NVVM is required here (NEURAXON_REQUIRE_TOOLS is set): {proc.stderr.strip()}")
        pytest.skip(f"cannot compile to PTX: {proc.stderr.strip()} (pip install nvidia-nvvm nvidia-cuda-nvrtc)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _fma(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if line.strip().startswith("fma.")]


def _fusable(ptx: str) -> list[str]:
    """Plain ``add``/``sub.f64`` reading a register some plain ``mul.f64`` writes: ptxas may still fuse
    such a pair into an fma (only instructions with an explicit rounding mode, ``mul.rn``, are safe).
    By register name, so conservative: a register reused across a loop counts too."""
    products = set(re.findall(r"^\s*mul\.f64\s+(%fd\d+)", ptx, re.M))
    return [m.group(0).strip() for m in re.finditer(r"^\s*(?:add|sub)\.f64\s+%fd\d+,\s*([^;]+);", ptx, re.M)
            if products & {op.strip() for op in m.group(1).split(",")}]


def test_the_walk_kernel_compiles_to_ptx_without_fused_multiply_add() -> None:
    control = _ptx("control")
    assert _fma(control), "a plain a * b + c must show up as an fma (else this check sees nothing)"
    pair = "\tmul{}.f64 \t%fd3, %fd1, %fd2;\n\tadd.f64 \t%fd4, %fd0, %fd3;\n"
    assert _fusable(pair.format("")) != [] and _fusable(pair.format(".rn")) == []  # the check sees a fusable pair
    ptx = _ptx("walk")
    assert ".entry" in ptx and "mul.rn.f64" in ptx  # the kernel, with exact_mul's separately rounded products
    assert _fma(ptx) == []
    assert _fusable(ptx) == []
    assert ".approx" not in ptx and ".ftz" not in ptx  # no fast-math division, square root or flush-to-zero


def test_the_bpp9000_kernel_compiles_to_ptx() -> None:
    ptx = _ptx("bpp9000")  # integers only (nothing to fuse); the simulator alone would not prove it compiles
    assert ".entry" in ptx and "atom.global.add" in ptx and ".f64" not in ptx.split(".entry", 1)[1]
