"""Float products that no compiler may fuse into a multiply-add, on the cpu and on CUDA alike.

A score is one integer on every machine, so a kernel that both targets compile must round every
operation the same way. numba's cpu target without ``fastmath`` never contracts ``a * b + c``
into a fused multiply-add, but NVVM does by default (its ``-fma=1``), even for kernels compiled
with ``fastmath=False``, and numba-cuda has no switch for it. A fused ``a * b + c`` is rounded once
instead of twice, so a GPU score would drift from the cpu's.

Hence every float product whose result feeds an addition or a subtraction in a kernel that CUDA
also compiles is written ``exact_mul(a, b)``: the plain product on the cpu (the same machine code
as ``a * b``), libdevice's ``__nv_dmul_rn`` on CUDA (IEEE round-to-nearest, documented never to
be merged into a multiply-add). The CUDA implementation is registered by :mod:`engine.cuda_support`
when the CUDA target is first used; ``tests/engine/test_cuda_ptx.py`` checks the generated PTX
for ``fma`` instructions.
"""

from __future__ import annotations

from typing import Any

from numba.extending import overload

__all__ = ["exact_mul"]


def exact_mul(a: Any, b: Any) -> Any:
    """``a * b`` as float64, rounded on its own (never fused into an addition that follows)."""
    return float(a) * float(b)


@overload(exact_mul, target="cpu")
def _exact_mul_cpu(a: Any, b: Any) -> Any:
    def product(a: Any, b: Any) -> Any:
        return float(a) * float(b)

    return product
