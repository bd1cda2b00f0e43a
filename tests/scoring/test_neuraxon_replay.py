"""A recorded lifetime is the scored lifetime: same statistics, and its frames add up to the fitness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import foraging as F
from scoring import neuraxon as NX
from scoring.neuraxon_replay import replay, trace_lifetime
from scoring.neuraxon_task import TaskSpec
from tests.naive import neuraxon_task as naive
from tests.scoring.test_neuraxon_twin import small_tasks

SMALL = TaskSpec.from_dict(json.loads((Path(__file__).resolve().parent.parent / "data" / "neuraxon-task"
                                       / "small.json").read_text()))


@settings(max_examples=30, deadline=None)
@given(small_tasks(), st.binary(min_size=32, max_size=32), st.data())
def test_trace_equals_twin(task: TaskSpec, pk: bytes, data: st.DataObject) -> None:
    world = data.draw(st.integers(0, task.worlds - 1))
    prep = NX.prepare(task)
    got = trace_lifetime(prep, NX.root_genome(prep, pk), world)
    frames: list[tuple[list[int], list[int]]] = []
    twin_stats = naive.live(task, naive.make_world(task, world), naive.root(task, pk), frames)
    assert got.steps.tolist() == [row for row, _ in frames]
    units = [left for _, left in frames]
    assert got.food_left.tolist() == units
    assert int(got.stats[F.S_FOOD]) == twin_stats["food"] and got.ticks == twin_stats["ticks"]


def _best_network() -> tuple[dict[str, object], int]:
    """The network a walk on the small task ends with, and its score."""
    result = NX.run_walk(SMALL, bytes(range(32)), bytes(32))
    return NX.export_network(NX.prepare(SMALL), result.genome), result.score


def test_replay_frames_add_up_to_the_integer_fitness() -> None:
    network, walk_score = _best_network()
    prep = NX.prepare(SMALL)
    rec = replay(SMALL, network)
    assert rec.score == walk_score == NX.evaluate(prep, NX.genome_from_network(prep, network))
    trace = rec.trace
    # The replayed world is the median world, and its lifetime is the scored one, statistic for statistic.
    assert trace.fitness == sorted(rec.world_fitness)[(SMALL.worlds - 1) // 2]
    scored = NX.lifetime_stats(prep, NX.genome_from_network(prep, network))
    assert trace.stats.tolist() == scored[trace.world].tolist()
    steps = trace.steps
    eaten = steps[:, F.T_EATEN]
    assert trace.ticks == trace.stats[F.S_TICKS] > 0
    assert int((eaten >= 0).sum()) == trace.stats[F.S_FOOD]
    assert int(steps[:, F.T_COLLIDED].sum()) == trace.stats[F.S_COLLISIONS]
    assert steps[-1, F.T_EXPLORED] == trace.stats[F.S_EXPLORED]
    assert len({(int(x), int(y)) for x, y in steps[:, [F.T_X, F.T_Y]]} | {tuple(trace.start.tolist())}) \
        == trace.stats[F.S_EXPLORED]
    # The fitness rebuilt from the frames' counts (plus the criticality term, which the frames do not show).
    w = SMALL.fitness
    counts = (w.food * int((eaten >= 0).sum()) + w.explore * int(steps[-1, F.T_EXPLORED]) + w.survive * trace.ticks
              - w.collision * int(steps[:, F.T_COLLIDED].sum()))
    only_crit = trace.stats.copy()
    only_crit[[F.S_FOOD, F.S_EXPLORED, F.S_TICKS, F.S_COLLISIONS]] = 0
    assert counts + NX.world_fitness(prep, only_crit) == trace.fitness
    # Every move lands on land, a collision stays put, food only goes down when eaten.
    terrain = trace.terrain
    assert all(terrain[y, x] == 0 for x, y in steps[:, [F.T_X, F.T_Y]])
    previous = np.full(trace.food.shape[0], SMALL.environment.food_units)
    previous[trace.food[:, 0] < 0] = 0
    for t in range(trace.ticks):
        left = trace.food_left[t]
        if eaten[t] >= 0:
            assert left[eaten[t]] <= previous[eaten[t]]
        previous = left


def test_replay_refuses_a_network_of_another_task() -> None:
    network, _ = _best_network()
    with pytest.raises(NX.ParentError):
        replay(NX.DEFAULT_TASK, network)
