"""The rolling-frame bpp9000 kernels against the plain-Python twin on small networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import bpp9000_frame as k
from tests.naive import bpp9000_frame as naive


@dataclass
class Problem:
    lut: np.ndarray  # uint8[27P]
    nbr: np.ndarray  # int32[3P]
    start: np.ndarray  # uint8[P]
    params: naive.Params

    def net(self) -> naive.Net:
        p = self.start.shape[0]
        return naive.Net(self.nbr.reshape(p, 3).tolist(), self.start.tolist(), self.lut.reshape(p, 27).tolist())

    def advance(self, shift: int, bound: int = k.INFINITE_ERROR) -> tuple[int, int]:
        q = self.params
        e, s = k.advance(self.lut, self.nbr, self.start, q.control, q.output, np.array(q.targets, dtype=np.uint8),
                         shift, q.shift_cap, q.window, q.window // 3, q.max_ticks, bound)
        return int(e), int(s)


@st.composite
def problems(draw: st.DrawFn, max_ticks: tuple[int, int] = (2, 120)) -> Problem:
    population = draw(st.integers(2, 40))  # 16 and up: the vector path, plus a remainder
    window = draw(st.integers(1, 9))
    cap = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # a biased LUT makes UNKNOWN-heavy (quiet, often cyclic) and emit-heavy networks both likely
    weights = rng.dirichlet([0.5, 0.5, 0.5])
    lut = rng.choice(3, size=27 * population, p=weights).astype(np.uint8)
    nbr = rng.integers(0, population, size=3 * population).astype(np.int32)
    start = rng.integers(0, 3, size=population).astype(np.uint8)
    control = draw(st.integers(0, population - 1))
    output = draw(st.integers(0, population - 1).filter(lambda o: o != control))
    lo = max(max_ticks[0], cap + window + 1)
    ticks = draw(st.integers(lo, max(lo, max_ticks[1])))
    targets = rng.integers(0, 3, size=cap + window).tolist()
    params = naive.Params(window, cap, ticks, 0, control, output, targets)
    return Problem(lut, nbr, start, params)


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(0, 5))
def test_advance_matches_the_frame_by_frame_twin(p: Problem, shift: int) -> None:
    shift = min(shift, p.params.shift_cap)
    assert p.advance(shift) == naive.advance(p.net(), p.params, shift)


@settings(max_examples=40, deadline=None)
@given(problems(max_ticks=(200, 700)))
def test_a_quiet_cycle_is_void_exactly_as_running_to_max_ticks(p: Problem) -> None:
    # tick limits beyond the cycle check's start, so Brent's search decides some of these
    assert p.advance(0) == naive.advance(p.net(), p.params, 0)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 400))
def test_a_bound_only_cuts_frames_that_hold_more_errors(p: Problem, bound: int) -> None:
    bound = max(bound, p.params.window // 3)  # the contract: a bound below the advance gate is never given
    full = p.advance(0)
    cut = p.advance(0, bound)
    if cut != full:
        # cut short: over the bound in the first frame, so the full frame is over it too
        assert cut[1] == 0 and cut[0] > bound and full[0] > bound and full[1] == 0


@settings(max_examples=120, deadline=None)
@given(problems(max_ticks=(2, 80)), st.integers(0, 40), st.integers(1, 10), st.integers(0, 45),
       st.integers(0, 3), st.integers(0, 5), st.lists(st.integers(0, 2**64 - 1), min_size=400, max_size=400))
def test_walk_matches_the_twin_in_rating_and_kept_network(p: Problem, steps: int, changes: int, explore: int,
                                                         mode: int, shift: int, seeds: list[int]) -> None:
    shift = min(shift, p.params.shift_cap)
    p.params.steps = steps
    want, want_net = naive.walk(p.net(), p.params, seeds, changes, explore, mode, shift)
    q = p.params
    lut, nbr, start = p.lut.copy(), p.nbr.copy(), p.start.copy()
    b_lut, b_nbr, b_start = np.empty_like(lut), np.empty_like(nbr), np.empty_like(start)
    e, s = k.walk(lut, nbr, start, np.array(seeds, dtype=np.uint64), changes, explore, mode, steps, shift,
                  q.control, q.output, np.array(q.targets, dtype=np.uint8), q.shift_cap, q.window, q.window // 3,
                  q.max_ticks, b_lut, b_nbr, b_start)
    assert (int(e), int(s)) == want
    population = p.start.shape[0]
    assert b_nbr.reshape(population, 3).tolist() == want_net.links
    assert b_start.tolist() == want_net.start
    assert b_lut.reshape(population, 27).tolist() == want_net.lut


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(1, 3), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_each_mutation_changes_exactly_what_the_twin_changes(population: int, mode: int, seed: int,
                                                            salt: int) -> None:
    rng = np.random.default_rng(salt)
    lut = rng.integers(0, 3, 27 * population).astype(np.uint8)
    nbr = rng.integers(0, population, 3 * population).astype(np.int32)
    start = rng.integers(0, 3, population).astype(np.uint8)
    net = naive.Net(nbr.reshape(-1, 3).tolist(), start.tolist(), lut.reshape(-1, 27).tolist())
    work_lut, links = k.work_network(lut, nbr)
    before = (work_lut.copy(), links.copy(), start.copy())
    where, old = k.mutate(mode, np.uint64(seed), work_lut, links, start)
    naive.mutate(net, mode, seed)
    assert links.reshape(3, population).T.tolist() == net.links
    assert (start.tolist(), work_lut[:27 * population].reshape(-1, 27).tolist()) == (net.start, net.lut)
    changed = [a for a, b in zip((work_lut, links, start), before, strict=True) if not np.array_equal(a, b)]
    assert len(changed) == 1 and int(before[3 - mode][where]) == old  # exactly one value always changes


def _delay_line(length: int, max_ticks: int, target: int) -> Problem:
    # neuron 0 holds a 1 for one tick, neurons 1..length copy their predecessor: the control
    # neuron (the last) emits once, after a quiet stretch of length - 1 ticks, then never again
    population = length + 2
    lut = np.full(27 * population, k.UNKNOWN, dtype=np.uint8)
    nbr = np.zeros(3 * population, dtype=np.int32)
    for n in range(1, length + 1):
        nbr[3 * n:3 * n + 3] = n - 1
        for t in range(3):
            lut[27 * n + 13 * t] = t  # index t + 3t + 9t: all three links read the same trit
    start = np.full(population, k.UNKNOWN, dtype=np.uint8)
    start[0] = 1
    params = naive.Params(1, 1, max_ticks, 0, length, length, [target, target])
    return Problem(lut, nbr, start, params)


def test_a_long_quiet_stretch_that_ends_in_an_emit_is_not_taken_for_a_cycle() -> None:
    p = _delay_line(3 * k.QUIET_TICKS, 10 * k.QUIET_TICKS, target=1)
    # the one emit is right (0 errors <= W // 3), so the frame slides on and never gets a second emit
    assert p.advance(0) == naive.advance(p.net(), p.params, 0) == (k.INFINITE_ERROR, 1)
    wrong = _delay_line(3 * k.QUIET_TICKS, 10 * k.QUIET_TICKS, target=0)
    assert wrong.advance(0) == naive.advance(wrong.net(), wrong.params, 0) == (1, 0)
