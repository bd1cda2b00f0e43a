"""What every CUDA kernel of the engine shares (imported only when the cuda backend is used).

* ``numba.cuda`` from numba-cuda (``pip install 'neuraxon-miner[cuda]'``); on a machine without a
  GPU the kernels run in numba-cuda's simulator when ``NUMBA_ENABLE_CUDASIM=1`` is set before
  numba is imported (the tests do).
* The CUDA implementation of :func:`engine._exact.exact_mul` (libdevice ``dmul_rn``): registered
  here, so the cpu kernels that CUDA kernels call (``foraging.lifetime``, ``neuraxon_genome.mutate``,
  the RNG...) round exactly as on the cpu.
* :func:`host_view`: in the simulator a kernel sees its arrays wrapped (``FakeCUDAArray``), which a
  cpu-compiled kernel cannot take; ``host_view`` unwraps them there and is the identity on a GPU.
* :data:`KERNEL_FLAGS`: no fast math in a kernel that feeds a score (see :mod:`engine._jit`).
"""

from __future__ import annotations

from typing import Any

from numba import cuda
from numba.core import config
from numba.extending import overload

from engine._exact import exact_mul

__all__ = ["KERNEL_FLAGS", "SIMULATED", "cuda", "host_view"]

#: Whether kernels run in numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``), not on a GPU.
SIMULATED: bool = bool(config.ENABLE_CUDASIM)  # type: ignore[attr-defined]
#: Flags of every ``cuda.jit`` kernel that feeds a score.
KERNEL_FLAGS: dict[str, Any] = {"fastmath": False}


@overload(exact_mul, target="cuda")
def _exact_mul_cuda(a: Any, b: Any) -> Any:
    from numba.cuda import libdevice  # noqa: PLC0415 - the CUDA target's math library

    def product(a: Any, b: Any) -> Any:
        return libdevice.dmul_rn(float(a), float(b))

    return product


def host_view(a: Any) -> Any:
    """The numpy array behind a simulated device array (``FakeCUDAArray``; cpu kernels cannot take
    the wrapper); on a GPU (the overload below) the array itself."""
    return getattr(a, "_ary", a)


@overload(host_view, target="cuda")
def _host_view_cuda(a: Any) -> Any:
    # An overload, not a cuda.jit device function: those need a GPU to compile, and the PTX test has none.
    def identity(a: Any) -> Any:
        return a

    return identity
