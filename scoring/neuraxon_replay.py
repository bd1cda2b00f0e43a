"""A recorded lifetime of a Neuraxon network in one of its task's worlds, for replays and inspection.

:func:`replay` takes a network (reference ``save_network`` JSON, e.g. a task's best accepted
network), lives it in every world of the task exactly as the score does, and records, frame by
frame, its lifetime in the *median world* — the world whose fitness is the network's score. The
recording comes from :func:`engine.foraging.live_traced`, the very kernel every score runs, so the
trace's food count, collisions, explored cells and ticks are the integer fitness components of
that world (tests hold it to that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import foraging as F
from scoring.neuraxon import (
    Genome,
    PreparedTask,
    TaskSpec,
    aggregate,
    genome_from_network,
    lifetime_stats,
    prepare,
    world_fitness,
)

__all__ = ["LifetimeTrace", "Replay", "replay", "trace_lifetime"]


@dataclass(frozen=True)
class LifetimeTrace:
    """One lifetime, tick by tick.

    ``terrain`` uint8[H, W] (1 = rock), ``food`` int32[F, 2] (x, y; -1 = unused slot), ``start``
    int32[2]; ``steps`` int64[T, N_TRACE] with the columns ``engine.foraging.T_*``; ``food_left``
    int32[T, F] units at each source after tick t; ``stats`` int64[N_STATS] and ``fitness`` as scored.
    ``T`` = ``stats[S_TICKS]`` (the agent may starve before the lifetime's end).
    """

    world: int
    terrain: npt.NDArray[np.uint8]
    food: npt.NDArray[np.int32]
    start: npt.NDArray[np.int32]
    food_units: int
    energy_start: int
    energy_max: int
    steps: npt.NDArray[np.int64]
    food_left: npt.NDArray[np.int32]
    stats: npt.NDArray[np.int64]
    fitness: int

    @property
    def ticks(self) -> int:
        """Ticks lived (frames recorded)."""
        return int(self.steps.shape[0])


@dataclass(frozen=True)
class Replay:
    """A network's score (median over the task's worlds), each world's fitness, and the median
    world's lifetime."""

    score: int
    world_fitness: list[int]
    trace: LifetimeTrace


def trace_lifetime(prep: PreparedTask, genome: Genome, world: int) -> LifetimeTrace:
    """Record ``genome``'s lifetime in task world ``world`` (0 <= world < spec.worlds)."""
    spec = prep.spec
    if not 0 <= world < spec.worlds:
        raise ValueError(f"world {world} outside 0..{spec.worlds - 1}")
    n_food = prep.foods.shape[1]
    steps = np.zeros((spec.lifetime_ticks, F.N_TRACE), dtype=np.int64)
    food_left = np.zeros((spec.lifetime_ticks, n_food), dtype=np.int32)
    stats = np.zeros(F.N_STATS, dtype=np.int64)
    # Copies of the lifetime RNG and parameter vector, as live_many makes for a scored lifetime.
    F.live_traced(prep.terrains[world], prep.foods[world], prep.starts[world], prep.env, prep.agent,
                  prep.life_rngs[world].copy(), *genome.arrays(), spec.network.hidden,
                  prep.kernel_params(genome.genes).copy(), prep.base, spec.lifetime_ticks, spec.steps_per_tick,
                  stats, steps, food_left)
    ticks = int(stats[F.S_TICKS])
    env = spec.environment
    return LifetimeTrace(world, prep.terrains[world].copy(), prep.foods[world].copy(), prep.starts[world].copy(),
                         env.food_units, env.energy_start, env.energy_max, steps[:ticks].copy(),
                         food_left[:ticks].copy(), stats, world_fitness(prep, stats))


def replay(task: TaskSpec | dict[str, Any] | None, network: dict[str, Any]) -> Replay:
    """Live ``network`` in every world of ``task`` and record it in the median world.

    Raises :class:`scoring.neuraxon.ParentError` if the network does not belong to the task.
    """
    prep = prepare(task)
    genome = genome_from_network(prep, network)
    fitness = [world_fitness(prep, row) for row in lifetime_stats(prep, genome)]
    score = aggregate(fitness)
    # The median world: the lower median, as the score takes it (the first such world on ties).
    median = sorted(fitness)[(len(fitness) - 1) // 2]
    world = fitness.index(median)
    return Replay(score, fitness, trace_lifetime(prep, genome, world))
