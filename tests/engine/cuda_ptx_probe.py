"""Compile the engine's score-feeding CUDA kernels to PTX without a GPU and print it (run as a script).

``python -m tests.engine.cuda_ptx_probe [walk|bpp9000|control]``: ``walk`` is
:func:`engine.cuda_neuraxon.walk_kernel` typed for the small Neuraxon task; ``bpp9000``
:func:`engine.cuda_bpp9000.walk_kernel`; ``control`` a kernel computing ``a * b + c`` with a plain product
(NVVM fuses it: proves the check can see an fma). Needs numba-cuda, NVVM and NVRTC (the test extra),
no GPU and no driver, and must run without ``NUMBA_ENABLE_CUDASIM`` (the simulator has no compiler).
Exit 3 with a message when NVVM is missing.

numba-cuda asks the current device for its compute capability when it compiles a device function
(the cpu kernels the CUDA kernel calls); with no device, the probe answers 7.5 for it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numba
import numpy as np

CC = (7, 5)


def _array(shape: tuple[int, ...], dtype: Any) -> Any:
    return numba.typeof(np.zeros(shape, dtype=dtype))


def walk_signature() -> tuple[Any, ...]:
    """The argument types of ``walk_kernel`` launched on the small task (shapes do not matter, ranks do)."""
    from engine import foraging as F
    from engine import neuraxon_genome as G
    from scoring import neuraxon as NX
    from scoring.algorithms.neuraxon_v1 import SMALL_TASK

    prep = NX.prepare(SMALL_TASK)
    task = [numba.typeof(np.ascontiguousarray(a)) for a in (
        prep.terrains, prep.foods, prep.starts, prep.life_rngs, prep.env, prep.agent, prep.params, prep.base, prep.fw,
        prep.limits)]
    genome = [_array((1, 2, 1), np.int32), _array((1, 3, 1), np.float64), _array((1, 2, 1), np.bool_),
              _array((1, G.N_GENES), np.float64)]
    walk = [_array((1, 2), np.int64), _array((1, 4), np.uint64), _array((1, 2), np.int64)]

    def scratch(rank: int, dtype: Any) -> Any:
        return _array((1,) * (2 + rank), dtype)

    per_world = [scratch(1, np.float64), scratch(1, np.uint64), _array((1, 1), np.int64), scratch(1, np.int64),
                 _array((0, F.N_TRACE), np.int64), _array((0, 0), np.int32)]
    lifetime = [scratch(2, np.int32), scratch(2, np.float64), scratch(2, np.bool_), scratch(1, np.int8),
                scratch(2, np.float64), scratch(2, np.int8), scratch(1, np.bool_), scratch(1, np.float64),
                scratch(1, np.int64), scratch(2, np.int64), scratch(2, np.bool_), scratch(1, np.int64)]
    return (*task, *genome, *genome, *walk, *per_world, *lifetime, *([numba.int64] * 6))


def bpp9000_signature() -> tuple[Any, ...]:
    """The argument types of the bpp9000 ``walk_kernel`` (arrays of the module docstring's ranks)."""
    i64 = numba.int64
    u8_3, u8_2, u8_1 = _array((1, 1, 1), np.uint8), _array((1, 1), np.uint8), _array((1,), np.uint8)
    i32_2, i32_1 = _array((1, 1), np.int32), _array((1,), np.int32)
    return (u8_3, u8_3, _array((1, 1), np.uint64), _array((1,), np.int64), i64, i32_2, i32_1, i32_1, i64, i64,
            u8_2, u8_1, i64, i64, _array((1, 1), np.int64), _array((1,), np.int64), u8_3, u8_3)


def _control(out: Any, a: Any, b: Any, c: Any) -> None:
    out[0] = a[0] * b[0] + c[0]


def main(which: str) -> int:
    from numba import cuda
    from numba.cuda import dispatcher

    if cuda.config.ENABLE_CUDASIM:
        print("run without NUMBA_ENABLE_CUDASIM: the simulator compiles nothing", file=sys.stderr)
        return 2
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=CC)  # type: ignore[attr-defined]
    try:
        if which == "control":
            f64 = _array((1,), np.float64)
            ptx, _ = cuda.compile_ptx(_control, (f64, f64, f64, f64), cc=CC)
        elif which == "bpp9000":
            from engine import cuda_bpp9000

            ptx, _ = cuda.compile_ptx(cuda_bpp9000.walk_kernel.py_func, bpp9000_signature(), cc=CC)
        else:
            from engine.cuda_neuraxon import walk_kernel

            ptx, _ = cuda.compile_ptx(walk_kernel.py_func, walk_signature(), cc=CC)
    except Exception as exc:
        if "nvvm" in str(exc).lower() or "libnvvm" in repr(exc).lower():
            print(f"NVVM not found: {exc}", file=sys.stderr)
            return 3
        raise
    sys.stdout.write(ptx)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "walk"))
