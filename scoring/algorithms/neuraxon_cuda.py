"""The ``cuda`` backend of the Neuraxon v1 entry: a batch of walks per launch (:mod:`engine.cuda_neuraxon`).

A bound work uploads the task's worlds and vectors to the GPU once; each
:meth:`~scoring.registry.BatchScorer.score_batch` call walks its nonces side by side, one CUDA block
per walk, all from the identity's start genome (its root network or the job's parent, from the
same :class:`scoring.neuraxon.Walks` the cpu backend uses, so the start and its fitness are the
cpu's). The integers are the cpu backend's bit for bit (see :mod:`engine._exact`).

numba-cuda is optional (``pip install 'neuraxon-miner[cuda]'``) and imported only when this backend
is asked whether it can run or is bound, never with the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring import neuraxon as NX
from scoring.registry import Algorithm, Backend, BatchScorer

__all__ = ["CUDA", "NeuraxonCudaBackend"]

#: Walks per launch for each streaming multiprocessor of the GPU (blocks per SM keep it busy).
WALKS_PER_SM = 4
#: Walks per launch in numba-cuda's simulator (tests: every walk is a Python thread there).
SIMULATED_BATCH = 4


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


class _NeuraxonCudaBatch(BatchScorer):
    def __init__(self, walks: NX.Walks) -> None:
        from engine import cuda_support  # noqa: PLC0415 - see cuda_unavailable
        from engine.cuda_neuraxon import WalkBatch  # noqa: PLC0415

        self.walks = walks
        prep = walks.prep
        spec = prep.spec
        self.device = WalkBatch.upload(
            terrains=prep.terrains, foods=prep.foods, starts=prep.starts, lifes=prep.life_rngs, env=prep.env,
            agent=prep.agent, params=prep.params, base=prep.base, fw=prep.fw, limits=prep.limits,
            n_hidden=spec.network.hidden, ticks=spec.lifetime_ticks, steps_per_tick=spec.steps_per_tick,
            max_syn=spec.network.max_synapses, steps=spec.walk.steps, mutations=spec.walk.mutations)
        if cuda_support.SIMULATED:
            self.batch_size = SIMULATED_BATCH
        else:
            sms = int(cuda_support.cuda.get_current_device().MULTIPROCESSOR_COUNT)
            self.batch_size = max(1, sms * WALKS_PER_SM)

    def score_batch(self, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        if not nonces:
            return []
        genome, start_score = self.walks.start(public_key)
        rngs = np.stack([self.walks.walk_rng(public_key, nonce) for nonce in nonces])
        scores, _kept = self.device.run(*genome.arrays(), genome.genes, start_score, rngs)
        return [int(s) for s in scores]


class NeuraxonCudaBackend(Backend):
    """Neuraxon v1 walks on an NVIDIA GPU, a batch of nonces per kernel launch."""

    name = "cuda"

    def unavailable(self) -> str | None:
        return cuda_unavailable()

    def bind(self, entry: Algorithm, prepared: Any) -> BatchScorer:
        return _NeuraxonCudaBatch(prepared)


CUDA = NeuraxonCudaBackend()
