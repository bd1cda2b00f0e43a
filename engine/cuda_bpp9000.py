"""bpp9000 (qubic/core v1.301) mutation walks on CUDA: one block per walk, its threads over the windows.

A launch walks a batch of independent nonces, block ``b`` the ``b``-th. A walk's steps are
sequential: thread 0 saves the LUT and applies the step's ``L`` mutations, every thread of the block
then grades windows ``tid, tid + blockDim, ...`` with the cpu's own
:func:`engine._bpp9000_window.window_error` (integer trits only: nothing to round), the block sums
the wrong predictions and notes a timeout with integer atomics (exact in any order), and thread 0
keeps the step or restores the saved LUT, as :func:`engine._bpp9000_window.walk_per_window` does.
The first evaluation (the root network) is step -1 without mutations.

Arrays follow :mod:`engine._bpp9000_window`; batch-level ones (``B`` walks): ``luts`` uint8[B, P, 27]
(each walk's root, ends as its last kept network), ``saved`` uint8[B, P, 27] scratch, ``seeds``
uint64[B, >= S*10], ``changes`` int64[B] (L of each nonce), ``tally`` int64[B, 2] scratch (wrong
predictions, timeouts), ``result`` int64[B] (the score), ``state`` uint8[B, threads, P] and ``nxt``
uint8[B, threads, U] per-thread scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine._bpp9000_window import INFINITE_ERROR, LUT_SIZE, MAX_CHANGES_PER_STEP, apply_mutation, window_error
from engine.cuda_support import KERNEL_FLAGS, cuda, host_view

__all__ = ["THREADS", "WindowWalks", "walk_kernel"]

#: Threads per block on a GPU (windows graded side by side in one walk).
THREADS = 128


@cuda.jit(**KERNEL_FLAGS)
def walk_kernel(luts, saved, seeds, changes, steps, nbr, updated, input_idx, signal, output,  # type: ignore[no-untyped-def]
                inputs, targets, window_width, max_ticks, tally, result, state, nxt):
    """``steps`` steps of walk ``blockIdx.x``; arrays as in the module docstring."""
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    width = cuda.blockDim.x
    lut, keep, walk_seeds, count = host_view(luts[b]), host_view(saved[b]), host_view(seeds[b]), host_view(tally[b])
    nbr, updated, input_idx = host_view(nbr), host_view(updated), host_view(input_idx)
    inputs, targets = host_view(inputs), host_view(targets)
    my_state, my_nxt = host_view(state[b, tid]), host_view(nxt[b, tid])
    n_windows = inputs.shape[0] - window_width
    cur = np.int64(INFINITE_ERROR)
    best = np.int64(INFINITE_ERROR)
    for s in range(-1, steps):
        if tid == 0:
            count[0] = 0
            count[1] = 0
            if s >= 0:
                for n in range(lut.shape[0]):
                    for k in range(LUT_SIZE):
                        keep[n, k] = lut[n, k]
                for i in range(changes[b]):
                    apply_mutation(lut, updated, walk_seeds[s * MAX_CHANGES_PER_STEP + i])
        cuda.syncthreads()  # type: ignore[call-arg]
        for w in range(tid, n_windows, width):
            e = window_error(lut, nbr, updated, input_idx, signal, output, inputs, targets, w, window_width,
                             max_ticks, my_state, my_nxt)
            if e < 0:
                cuda.atomic.add(tally, (b, 1), 1)
                break  # the whole evaluation is void: this thread's other windows do not matter
            if e > 0:
                cuda.atomic.add(tally, (b, 0), 1)
        cuda.syncthreads()
        # every thread takes the same decision (thread 0 alone writes), so cur and best stay per thread
        r = np.int64(INFINITE_ERROR) if count[1] > 0 else count[0]
        if s < 0 or r <= cur:
            cur = r
        elif tid == 0:
            for n in range(lut.shape[0]):
                for k in range(LUT_SIZE):
                    lut[n, k] = keep[n, k]
        best = min(best, cur)
        cuda.syncthreads()
    if tid == 0:
        result[b] = best


@dataclass(frozen=True)
class WindowWalks:
    """One bpp9000 task's wiring and sequence on the device, walking batches of nonces.

    ``nbr`` int32[P, 3], ``updated`` int32[U], ``input_idx`` int32[N], ``inputs`` uint8[T, N],
    ``targets`` uint8[T] (as :class:`scoring.bpp9000.Bpp9000Scorer` holds them); uploaded once by
    :meth:`upload`. :meth:`run` is thread-safe (scratch and stream per call). ``threads`` per block:
    :data:`THREADS` on a GPU, fewer in the simulator (each is a Python thread there).
    """

    device: dict[str, Any]
    signal: int
    output: int
    window_width: int
    max_ticks: int
    steps: int
    threads: int

    @classmethod
    def upload(cls, *, nbr: npt.NDArray[np.int32], updated: npt.NDArray[np.int32], input_idx: npt.NDArray[np.int32],
               signal: int, output: int, inputs: npt.NDArray[np.uint8], targets: npt.NDArray[np.uint8],
               window_width: int, max_ticks: int, steps: int, threads: int = THREADS) -> WindowWalks:
        """The task's arrays copied to the device."""
        arrays = {"nbr": nbr, "updated": updated, "input_idx": input_idx, "inputs": inputs, "targets": targets}
        device = {k: cuda.to_device(np.ascontiguousarray(v)) for k, v in arrays.items()}
        return cls(device, int(signal), int(output), int(window_width), int(max_ticks), int(steps), int(threads))

    def run(self, luts: npt.NDArray[np.uint8], seeds: npt.NDArray[np.uint64],
            changes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Walk ``B = len(luts)`` nonces from their roots ``luts`` uint8[B, P, 27] with mutation ``seeds``
        uint64[B, >= S*10] and ``changes`` int64[B]. Returns the scores int64[B]."""
        d = self.device
        B, P = luts.shape[0], luts.shape[1]
        U = d["updated"].shape[0]
        stream = cuda.stream()
        dev_luts = cuda.to_device(np.ascontiguousarray(luts, dtype=np.uint8), stream=stream)
        dev_seeds = cuda.to_device(np.ascontiguousarray(seeds, dtype=np.uint64), stream=stream)
        dev_changes = cuda.to_device(np.ascontiguousarray(changes, dtype=np.int64), stream=stream)
        result = cuda.device_array(B, dtype=np.int64, stream=stream)
        T = self.threads
        walk_kernel[B, T, stream](
            dev_luts, cuda.device_array((B, P, LUT_SIZE), dtype=np.uint8, stream=stream), dev_seeds, dev_changes,
            self.steps, d["nbr"], d["updated"], d["input_idx"], self.signal, self.output, d["inputs"], d["targets"],
            self.window_width, self.max_ticks, cuda.to_device(np.zeros((B, 2), dtype=np.int64), stream=stream), result,
            cuda.device_array((B, T, P), dtype=np.uint8, stream=stream),
            cuda.device_array((B, T, max(U, 1)), dtype=np.uint8, stream=stream))
        out: npt.NDArray[np.int64] = result.copy_to_host(stream=stream)
        stream.synchronize()
        return out
