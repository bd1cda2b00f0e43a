"""Session-wide test settings.

numba-cuda decides at import whether ``numba.cuda`` is its simulator, so this is set before any
test module imports numba: the cuda backend's kernels run in the simulator here (no GPU, no driver;
tests/scoring/test_cuda_backend.py). ``NUMBA_ENABLE_CUDASIM=0 pytest ...`` runs them on a real GPU.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
