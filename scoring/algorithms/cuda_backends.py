"""The ``cuda`` backends of the registry entries: a batch of walks per kernel launch, one CUDA block per walk.

* Neuraxon v1 (:mod:`engine.cuda_neuraxon`): each walk starts from the identity's start genome (its
  root network or the job's parent) taken from the same :class:`scoring.neuraxon.Walks` the cpu
  backend uses, so the start and its fitness are the cpu's; a block's threads live its worlds.
* bpp9000 v1.301 (:mod:`engine.cuda_bpp9000`): each walk starts from the identity's root LUT and the
  nonce's mutation seeds, computed on the host as the cpu backend computes them (they come from the
  seed's random2 pool); a block's threads grade its windows.

A bound work uploads the task's arrays to the GPU once. The integers are the cpu backend's bit for
bit (see :mod:`engine._exact`; bpp9000 has no floats). numba-cuda is optional (``pip install
'neuraxon-miner[cuda]'``) and imported only when a backend is asked whether it can run or is bound,
never with the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring import bpp9000 as BPP
from scoring import neuraxon as NX
from scoring.registry import Algorithm, Backend, BatchScorer

__all__ = ["BPP9000_CUDA", "NEURAXON_CUDA", "cuda_unavailable"]

#: Walks per launch for each streaming multiprocessor of the GPU (blocks per SM keep it busy).
WALKS_PER_SM = 4
#: Walks per launch in numba-cuda's simulator (tests: every CUDA thread is a Python thread there).
SIMULATED_BATCH = 4
#: Threads per bpp9000 block in the simulator (a GPU block has :data:`engine.cuda_bpp9000.THREADS`).
SIMULATED_BPP9000_THREADS = 8


def cuda_unavailable() -> str | None:
    """Why CUDA kernels cannot run on a GPU here, or ``None`` when one is present."""
    try:
        from engine import cuda_support  # noqa: PLC0415 - optional dependency, loaded on demand
    except ImportError as exc:
        return f"numba-cuda is not installed ({exc}; pip install 'neuraxon-miner[cuda]')"
    if cuda_support.SIMULATED:
        return "NUMBA_ENABLE_CUDASIM=1: kernels would run in numba-cuda's simulator, not on a GPU"
    try:
        if not cuda_support.cuda.is_available():
            return "no CUDA GPU (no NVIDIA driver, or it sees no device)"
    except Exception as exc:  # a broken driver install raises instead of answering
        return f"no usable CUDA GPU ({exc})"
    return None


def _batch_size() -> int:
    """Walks per launch that keep the current GPU busy (:data:`SIMULATED_BATCH` in the simulator)."""
    from engine import cuda_support  # noqa: PLC0415 - see cuda_unavailable

    if cuda_support.SIMULATED:
        return SIMULATED_BATCH
    return max(1, int(cuda_support.cuda.get_current_device().MULTIPROCESSOR_COUNT) * WALKS_PER_SM)


class _NeuraxonBatch(BatchScorer):
    def __init__(self, walks: NX.Walks) -> None:
        from engine.cuda_neuraxon import WalkBatch  # noqa: PLC0415 - see cuda_unavailable

        self.walks = walks
        prep = walks.prep
        spec = prep.spec
        self.device = WalkBatch.upload(
            terrains=prep.terrains, foods=prep.foods, starts=prep.starts, lifes=prep.life_rngs, env=prep.env,
            agent=prep.agent, params=prep.params, base=prep.base, fw=prep.fw, limits=prep.limits,
            n_hidden=spec.network.hidden, ticks=spec.lifetime_ticks, steps_per_tick=spec.steps_per_tick,
            max_syn=spec.network.max_synapses, steps=spec.walk.steps, mutations=spec.walk.mutations)
        self.batch_size = _batch_size()

    def score_batch(self, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        if not nonces:
            return []
        genome, start_score = self.walks.start(public_key)
        rngs = np.stack([self.walks.walk_rng(public_key, nonce) for nonce in nonces])
        scores, _kept = self.device.run(*genome.arrays(), genome.genes, start_score, rngs)
        return [int(s) for s in scores]


class _Bpp9000Batch(BatchScorer):
    def __init__(self, scorer: BPP.Bpp9000Scorer) -> None:
        from engine import cuda_support  # noqa: PLC0415 - see cuda_unavailable
        from engine.cuda_bpp9000 import THREADS, WindowWalks  # noqa: PLC0415

        self.scorer = scorer
        threads = SIMULATED_BPP9000_THREADS if cuda_support.SIMULATED else THREADS
        self.device = WindowWalks.upload(**scorer.device_arrays(), threads=threads)
        self.batch_size = _batch_size()

    def score_batch(self, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        if not nonces:
            return []
        starts = [self.scorer.walk_inputs(public_key, nonce) for nonce in nonces]
        scores = self.device.run(np.stack([lut for lut, _, _ in starts]), np.stack([seeds for _, seeds, _ in starts]),
                                 np.array([changes for _, _, changes in starts], dtype=np.int64))
        return [int(s) for s in scores]


class CudaBackend(Backend):
    """An entry's walks on an NVIDIA GPU, a batch of nonces per kernel launch."""

    name = "cuda"

    def __init__(self, batch: Any) -> None:
        self._batch = batch

    def unavailable(self) -> str | None:
        return cuda_unavailable()

    def bind(self, entry: Algorithm, prepared: Any) -> BatchScorer:
        scorer: BatchScorer = self._batch(prepared)
        return scorer


#: The Neuraxon v1 entry's cuda backend (binds a :class:`scoring.neuraxon.Walks`).
NEURAXON_CUDA = CudaBackend(_NeuraxonBatch)
#: The bpp9000 v1.301 entry's cuda backend (binds a :class:`scoring.bpp9000.Bpp9000Scorer`).
BPP9000_CUDA = CudaBackend(_Bpp9000Batch)
