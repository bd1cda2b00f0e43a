"""The bpp9000 kernels (per-window and bit-sliced) against the pure-Python twin on small problems."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import bpp9000 as k
from tests.naive import bpp9000 as naive


@dataclass
class Problem:
    lut: np.ndarray  # uint8[P, 27]
    nbr: np.ndarray  # int32[P, 3]
    input_idx: np.ndarray  # int32[N]
    signal: int
    output: int
    inputs: np.ndarray  # uint8[T, N]
    targets: np.ndarray  # uint8[T]
    window_width: int
    max_ticks: int

    @property
    def updated(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.lut.shape[0]), self.input_idx).astype(np.int32)

    def sliced_args(self) -> dict[str, object]:
        is_input = np.zeros(self.lut.shape[0], dtype=bool)
        is_input[self.input_idx] = True
        cone = k.network_cone(self.nbr, is_input, self.signal, self.output)
        cone_pos = np.full(self.lut.shape[0], -1, dtype=np.int32)
        cone_pos[cone] = np.arange(cone.size, dtype=np.int32)
        read = set(self.nbr[cone].reshape(-1).tolist())
        cone_inputs = np.array([i for i, n in enumerate(self.input_idx) if int(n) in read], dtype=np.int32)
        return {"cone": cone, "cone_pos": cone_pos, "cone_inputs": cone_inputs, "rowcode": k.row_codes(self.inputs)}

    def naive_errors(self) -> int:
        return naive.errors(self.lut.tolist(), self.nbr.tolist(), self.input_idx.tolist(), self.signal, self.output,
                            self.inputs.tolist(), self.targets.tolist(), self.window_width, self.max_ticks)

    def per_window_errors(self) -> int:
        return int(k.errors_per_window(self.lut, self.nbr, self.updated, self.input_idx, self.signal, self.output,
                                       self.inputs, self.targets, self.window_width, self.max_ticks))

    def sliced_errors(self, n_words: int = 8, tail_lanes: int = 8) -> int:
        a = self.sliced_args()
        return int(k.errors_sliced(self.lut, self.nbr, a["cone"], self.input_idx, a["cone_inputs"], self.signal,
                                   self.output, self.inputs, self.targets, a["rowcode"], self.window_width,
                                   self.max_ticks, n_words, tail_lanes))


@st.composite
def problems(draw: st.DrawFn, max_windows: int = 60, max_ticks: int = 150) -> Problem:
    population = draw(st.integers(6, 20))
    n_in = draw(st.integers(1, min(4, population - 2)))
    width = draw(st.integers(2, 10))
    windows = draw(st.integers(1, max_windows))
    ticks = draw(st.integers(width + 1, max_ticks))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    roles = rng.permutation(population)[:n_in + 2]
    t = width + windows
    return Problem(
        lut=rng.integers(0, 3, (population, 27)).astype(np.uint8),
        nbr=rng.integers(0, population, (population, 3)).astype(np.int32),
        input_idx=np.sort(roles[:n_in]).astype(np.int32) if draw(st.booleans()) else roles[:n_in].astype(np.int32),
        signal=int(roles[n_in]), output=int(roles[n_in + 1]),
        inputs=rng.integers(0, 3, (t, n_in)).astype(np.uint8),
        targets=rng.integers(0, 3, t).astype(np.uint8),
        window_width=width, max_ticks=ticks,
    )


@settings(max_examples=60, deadline=None)
@given(problems(), st.sampled_from([0, 8, 10_000]))
def test_error_counts_agree_with_twin(p: Problem, tail_lanes: int) -> None:
    want = p.naive_errors()
    assert p.per_window_errors() == want
    assert p.sliced_errors(tail_lanes=tail_lanes) == want


@settings(max_examples=15, deadline=None)
@given(problems(max_windows=700, max_ticks=60))
def test_sliced_batches_of_1024_and_several_batches_agree(p: Problem) -> None:
    want = p.per_window_errors()
    assert p.sliced_errors(n_words=8, tail_lanes=0) == want
    assert p.sliced_errors(n_words=16, tail_lanes=0) == want


@settings(max_examples=25, deadline=None)
@given(problems(max_windows=25, max_ticks=80), st.integers(1, 10), st.integers(0, 4), st.integers(0, 2**32 - 1))
def test_walks_agree_with_twin(p: Problem, changes: int, steps: int, seed: int) -> None:
    seeds = np.random.default_rng(seed).integers(0, 2**63, 10 * max(steps, 1), dtype=np.int64).astype(np.uint64)
    seeds[::3] |= np.uint64(1 << 63)  # exercise the top bit of the entry choice
    want = naive.walk(p.lut.tolist(), seeds.tolist(), changes, steps, p.nbr.tolist(), p.input_idx.tolist(),
                      p.signal, p.output, p.inputs.tolist(), p.targets.tolist(), p.window_width, p.max_ticks)
    lut = p.lut.copy()
    got = k.walk_per_window(lut, seeds, changes, steps, p.nbr, p.updated, p.input_idx, p.signal, p.output,
                            p.inputs, p.targets, p.window_width, p.max_ticks)
    assert got == want
    a = p.sliced_args()
    lut = p.lut.copy()
    got = k.walk_sliced(lut, seeds, changes, steps, p.nbr, p.updated, a["cone"], a["cone_pos"], p.input_idx,
                        a["cone_inputs"], p.signal, p.output, p.inputs, p.targets, a["rowcode"], p.window_width,
                        p.max_ticks, 8, 8)
    assert got == want


def _clock_problem(width: int, max_ticks: int) -> Problem:
    # signal s loops UNKNOWN -> 0 -> 1 -> UNKNOWN on itself, so a window takes a row every 3rd
    # tick and ends at tick 3 * width exactly
    population, s, out, inp = 8, 5, 6, 0
    lut = np.zeros((population, 27), dtype=np.uint8)
    lut[s, 26], lut[s, 0], lut[s, 13] = 0, 1, 2
    nbr = np.zeros((population, 3), dtype=np.int32)
    nbr[s] = s
    nbr[out] = [inp, inp, inp]
    lut[out] = np.arange(27) % 3  # the output copies the input
    t = width + 70
    rng = np.random.default_rng(7)
    return Problem(lut, nbr, np.array([inp], dtype=np.int32), s, out, rng.integers(0, 3, (t, 1)).astype(np.uint8),
                   rng.integers(0, 3, t).astype(np.uint8), width, max_ticks)


@pytest.mark.parametrize("slack", [0, 1])
def test_a_window_ending_on_the_last_allowed_tick_counts_and_one_tick_later_times_out(slack: int) -> None:
    p = _clock_problem(width=4, max_ticks=3 * 4 + slack)
    want = p.naive_errors()
    assert (want == naive.INFINITE) == (slack == 0)
    assert p.per_window_errors() == want
    for tail in (0, 10_000):
        assert p.sliced_errors(tail_lanes=tail) == want


def test_endless_window_is_a_timeout_found_without_running_to_max_ticks() -> None:
    # max_ticks is beyond any machine's reach (2**62 ticks): the answer can only come from the early
    # detection, so a regression hangs (and the suite's timeout fails it) instead of needing a stopwatch.
    p = _clock_problem(width=4, max_ticks=2**62)
    p.lut[p.signal, 0] = 0  # the signal now settles on 0 forever after the first row
    assert p.sliced_errors(tail_lanes=0) == k.INFINITE_ERROR
    assert p.sliced_errors(tail_lanes=10_000) == k.INFINITE_ERROR


def test_cone_follows_neighbours_back_from_signal_and_output_and_stops_at_inputs() -> None:
    nbr = np.array([[0, 0, 0], [0, 2, 2], [1, 1, 1], [3, 3, 3], [4, 4, 1], [5, 5, 5]], dtype=np.int32)
    is_input = np.array([True, False, False, False, False, False])
    assert k.network_cone(nbr, is_input, signal=2, output=4).tolist() == [1, 2, 4]


def test_row_codes_pack_ones_and_unknowns_in_separate_bit_ranges() -> None:
    rows = np.array([[0, 1, 2], [2, 2, 1]], dtype=np.uint8)
    assert k.row_codes(rows).tolist() == [0b100_010, 0b011_100]
    with pytest.raises(ValueError, match="31 inputs"):
        k.row_codes(np.zeros((1, 32), dtype=np.uint8))
