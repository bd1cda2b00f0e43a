"""The Neuraxon task's training walk on CUDA (docs/neuraxon-task.md §6-7): one block per walk.

A launch walks a batch of independent nonces, block ``b`` the ``b``-th. A walk's steps are
sequential: thread 0 copies the genome into the trial and applies the step's mutations (the walk's
RNG, drawn in order), every thread of the block then lives the trial's lifetimes in its worlds
(world ``w`` on thread ``w mod blockDim``), and thread 0 takes the lower median and keeps or drops
the trial. The code each thread runs is the cpu's own: :func:`engine.foraging.lifetime`,
:func:`engine.neuraxon_genome.mutate`, :func:`engine.neuraxon_walk.world_fitness` and
:func:`~engine.neuraxon_walk.lower_median`, compiled for CUDA, with every product that feeds a sum
rounded on its own (:mod:`engine._exact`) and integer state where the cpu has it, so a walk's score
is the cpu's integer bit for bit. Lifetime scratch lives in global memory, one slice per (walk,
world) (:class:`WalkBatch` allocates it per call, so calls from several threads never share it).

Arrays follow :mod:`engine.foraging` and :mod:`engine.neuraxon_walk`; batch-level ones (``B`` walks):
genomes ``g_i`` int32[B, 3, S] (pre, post, dendritic branch: 0 in v1), ``g_f`` float64[B, 3, S]
(w_fast, w_slow, w_meta), ``g_b`` bool[B, 2, S] (silent, modulatory), ``genes`` float64[B, 6] (``S``
= max synapses), the same for the trial, ``n_syn`` int64[B, 2] (genome, trial), ``rngs`` uint64[B, 4] (each walk's
RNG), ``result`` int64[B, 2] (score — the start score on entry —, steps kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import foraging as F
from engine import neuraxon_genome as G
from engine import neuraxon_kernels as K
from engine import neuraxon_walk as WK
from engine._jit import njit
from engine.cuda_support import KERNEL_FLAGS, cuda, host_view

__all__ = ["WalkBatch", "walk_kernel"]

#: Threads per block at most (one warp: a block rarely has more worlds than that).
MAX_THREADS = 32


@njit
def copy_genome(n, src_i, src_f, src_b, src_genes, dst_i, dst_f, dst_b, dst_genes):  # type: ignore[no-untyped-def]
    """The first ``n`` synapses (every row of the packed ``_i``/``_f``/``_b`` arrays) and the genes of
    one genome into another's; element loops, so a CUDA kernel can run it (no array assignment)."""
    for k in range(n):
        for r in range(src_i.shape[0]):
            dst_i[r, k] = src_i[r, k]
        for r in range(src_f.shape[0]):
            dst_f[r, k] = src_f[r, k]
        for r in range(src_b.shape[0]):
            dst_b[r, k] = src_b[r, k]
    for j in range(src_genes.shape[0]):
        dst_genes[j] = src_genes[j]


@cuda.jit(**KERNEL_FLAGS)
def walk_kernel(terrains, foods, starts, lifes, env, agent, P_base, base, fw, limits,  # type: ignore[no-untyped-def]
                g_i, g_f, g_b, genes, t_i, t_f, t_b, t_genes, n_syn, rngs, result,
                P, life, values, stats, trace, food_trace,
                syn_i, syn_f, syn_b, stype, neu_f, neu_i, active, nm, ints, food_state, visited, hits_ring,
                n_hidden, ticks, steps_per_tick, max_syn, steps, mutations):
    """``steps`` steps of ``mutations`` mutations of walk ``blockIdx.x``; scratch as :func:`foraging.lifetime`'s
    with two leading axes (walk, world); ``P`` float64[B, W, N_PARAMS], ``life`` uint64[B, W, 4],
    ``values`` int64[B, W], ``stats`` int64[B, W, N_STATS]; ``trace``/``food_trace`` empty."""
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    width = cuda.blockDim.x
    terrains, foods, starts, lifes = host_view(terrains), host_view(foods), host_view(starts), host_view(lifes)
    env, agent, P_base, base = host_view(env), host_view(agent), host_view(P_base), host_view(base)
    fw, limits, trace, food_trace = host_view(fw), host_view(limits), host_view(trace), host_view(food_trace)
    g_i, g_f, g_b, genes = host_view(g_i[b]), host_view(g_f[b]), host_view(g_b[b]), host_view(genes[b])
    t_i, t_f, t_b, t_genes = host_view(t_i[b]), host_view(t_f[b]), host_view(t_b[b]), host_view(t_genes[b])
    n_syn, rng, result = host_view(n_syn[b]), host_view(rngs[b]), host_view(result[b])
    P, life, values, stats = host_view(P[b]), host_view(life[b]), host_view(values[b]), host_view(stats[b])
    syn_i, syn_f, syn_b, stype = host_view(syn_i[b]), host_view(syn_f[b]), host_view(syn_b[b]), host_view(stype[b])
    neu_f, neu_i, active, nm = host_view(neu_f[b]), host_view(neu_i[b]), host_view(active[b]), host_view(nm[b])
    ints, food_state = host_view(ints[b]), host_view(food_state[b])
    visited, hits_ring = host_view(visited[b]), host_view(hits_ring[b])
    W = terrains.shape[0]
    N = F.N_SENSORS + n_hidden + F.N_MOTORS
    for _ in range(steps):
        if tid == 0:
            n = n_syn[0]
            copy_genome(n, g_i, g_f, g_b, genes, t_i, t_f, t_b, t_genes)
            for _ in range(mutations):
                n = G.mutate(t_i[0], t_i[1], t_i[2], t_f[0], t_f[1], t_f[2], t_b[0], t_b[1], n, t_genes, N,
                             F.N_SENSORS, F.N_MOTORS, 1, max_syn, limits, rng)
            n_syn[1] = n
        cuda.syncthreads()  # type: ignore[call-arg]
        tn = n_syn[1]
        for w in range(tid, W, width):
            Pw = P[w]
            for j in range(Pw.shape[0]):
                Pw[j] = P_base[j]
            WK.set_genes(Pw, t_genes)
            lr = life[w]
            for j in range(4):
                lr[j] = lifes[w, j]
            F.lifetime(terrains[w], foods[w], starts[w], env, agent, lr, t_i[0, :tn], t_i[1, :tn], t_f[0, :tn],
                       t_f[1, :tn], t_f[2, :tn], t_b[0, :tn], t_b[1, :tn], n_hidden, Pw, base, ticks, steps_per_tick,
                       stats[w], trace, food_trace, syn_i[w], syn_f[w], syn_b[w], stype[w], neu_f[w], neu_i[w],
                       active[w], nm[w], ints[w], food_state[w], visited[w], hits_ring[w])
            values[w] = WK.world_fitness(stats[w], fw)
        cuda.syncthreads()
        if tid == 0:
            f = WK.lower_median(values)
            if f >= result[0]:
                result[0] = f
                result[1] += 1
                copy_genome(tn, t_i, t_f, t_b, t_genes, g_i, g_f, g_b, genes)
                n_syn[0] = tn
        cuda.syncthreads()


@dataclass(frozen=True)
class WalkBatch:
    """One task's arrays on the device, walking batches of nonces from one start genome.

    Task arrays as :class:`scoring.neuraxon.PreparedTask` holds them (``terrains`` uint8[W, H, Wd],
    ``foods`` int32[W, F, 2], ``starts`` int32[W, 2], ``lifes`` uint64[W, 4], ``env``, ``agent``,
    ``params`` float64[N_PARAMS] without the genes, ``base`` float64[4], ``fw`` int64[N_FW], ``limits``);
    uploaded once by :meth:`upload`. :meth:`run` is thread-safe (scratch and stream per call).
    """

    device: dict[str, Any]
    n_hidden: int
    ticks: int
    steps_per_tick: int
    max_syn: int
    steps: int
    mutations: int
    ring: int
    capacity: int

    @classmethod
    def upload(cls, *, terrains: npt.NDArray[Any], foods: npt.NDArray[Any], starts: npt.NDArray[Any],
               lifes: npt.NDArray[Any], env: npt.NDArray[np.int64], agent: npt.NDArray[np.float64],
               params: npt.NDArray[np.float64], base: npt.NDArray[np.float64], fw: npt.NDArray[np.int64],
               limits: npt.NDArray[np.float64], n_hidden: int, ticks: int, steps_per_tick: int, max_syn: int,
               steps: int, mutations: int) -> WalkBatch:
        """The task's arrays copied to the device."""
        arrays = {"terrains": terrains, "foods": foods, "starts": starts, "lifes": lifes, "env": env,
                  "agent": agent, "P_base": params, "base": base, "fw": fw, "limits": limits}
        device = {k: cuda.to_device(np.ascontiguousarray(v)) for k, v in arrays.items()}
        device["trace"] = cuda.to_device(np.zeros((0, F.N_TRACE), dtype=np.int64))
        device["food_trace"] = cuda.to_device(np.zeros((0, 0), dtype=np.int32))
        capacity = int(F.synapse_capacity(max_syn, ticks, steps_per_tick, float(params[K.P_FORM_P])))
        return cls(device, int(n_hidden), int(ticks), int(steps_per_tick), int(max_syn), int(steps), int(mutations),
                   max(int(env[F.E_BLOCKED_WINDOW]), 1), capacity)

    def run(self, pre: npt.NDArray[np.int32], post: npt.NDArray[np.int32], wf: npt.NDArray[np.float64],
            ws: npt.NDArray[np.float64], wm: npt.NDArray[np.float64], silent: npt.NDArray[np.bool_],
            modul: npt.NDArray[np.bool_], genes: npt.NDArray[np.float64], start_score: int,
            rngs: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Walk ``len(rngs)`` nonces from one start genome (its synapses as 1-D arrays of length
        ``n_syn <= max_syn``, ``genes`` float64[6]) whose fitness is ``start_score``; ``rngs``
        uint64[B, 4] are the walks' RNG states. Returns (scores int64[B], steps kept int64[B])."""
        d = self.device
        B = rngs.shape[0]
        S = self.max_syn
        n = pre.shape[0]
        W, H, Wd = d["terrains"].shape
        n_food = d["foods"].shape[1]
        N = F.N_SENSORS + self.n_hidden + F.N_MOTORS
        cap = self.capacity
        g_i = np.zeros((B, 3, S), dtype=np.int32)  # pre, post, branch (v1: always branch 0)
        g_f = np.zeros((B, 3, S))
        g_b = np.zeros((B, 2, S), dtype=np.bool_)
        g_i[:, 0, :n], g_i[:, 1, :n] = pre, post
        g_f[:, 0, :n], g_f[:, 1, :n], g_f[:, 2, :n] = wf, ws, wm
        g_b[:, 0, :n], g_b[:, 1, :n] = silent, modul
        n_syn = np.full((B, 2), n, dtype=np.int64)
        result = np.zeros((B, 2), dtype=np.int64)
        result[:, 0] = start_score
        stream = cuda.stream()
        up = {"g_i": g_i, "g_f": g_f, "g_b": g_b, "genes": np.repeat(genes[None, :], B, axis=0), "n_syn": n_syn,
              "rngs": np.ascontiguousarray(rngs, dtype=np.uint64), "result": result}
        dev = {k: cuda.to_device(v, stream=stream) for k, v in up.items()}

        def scratch(shape: tuple[int, ...], dtype: Any) -> Any:
            return cuda.device_array((B, W, *shape), dtype=dtype, stream=stream)

        threads = min(W, MAX_THREADS)
        walk_kernel[B, threads, stream](
            d["terrains"], d["foods"], d["starts"], d["lifes"], d["env"], d["agent"], d["P_base"], d["base"],
            d["fw"], d["limits"], dev["g_i"], dev["g_f"], dev["g_b"], dev["genes"],
            cuda.device_array((B, 3, S), dtype=np.int32, stream=stream),
            cuda.device_array((B, 3, S), dtype=np.float64, stream=stream),
            cuda.device_array((B, 2, S), dtype=np.bool_, stream=stream),
            cuda.device_array((B, G.N_GENES), dtype=np.float64, stream=stream),
            dev["n_syn"], dev["rngs"], dev["result"],
            scratch((K.N_PARAMS,), np.float64), scratch((4,), np.uint64),
            cuda.device_array((B, W), dtype=np.int64, stream=stream), scratch((F.N_STATS,), np.int64),
            d["trace"], d["food_trace"],
            scratch((2, cap), np.int32), scratch((F.N_SYN_F, cap), np.float64), scratch((2, cap), np.bool_),
            scratch((cap,), np.int8), scratch((F.N_NEU_F, N), np.float64), scratch((2, N), np.int8),
            scratch((N,), np.bool_), scratch((F.N_NEUROMODULATORS,), np.float64), scratch((F.N_LIFE_INTS,), np.int64),
            scratch((2, n_food), np.int64), scratch((H, Wd), np.bool_), scratch((self.ring,), np.int64),
            self.n_hidden, self.ticks, self.steps_per_tick, S, self.steps, self.mutations)
        out = dev["result"].copy_to_host(stream=stream)
        stream.synchronize()
        return out[:, 0].copy(), out[:, 1].copy()
