"""The rolling-frame bpp9000 scorer (core v1.305): golden rows, Rating and wire score, networks, nonces."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.commands.frame_vectors import AntRow, first_difference, replay_chain
from scoring import bpp9000_frame as sf
from scoring.bpp9000_pool import PoolCache
from tests.bpp9000_frame_vectors import ant_chains, make_scorer, solo_rows, task
from tests.bpp9000_vectors import vector_pool, vector_seed

# A small config on the v1.301 vectors' pool (already built for the session): fast walks.
SMALL = sf.FrameConfig(18, 1, 8760, 12, 3000, 3, 64, 40, 6, 5)


@pytest.fixture(scope="module")
def pools() -> Iterator[PoolCache]:
    cache = PoolCache(max_pools=1)
    yield cache
    cache.clear()


@pytest.fixture(scope="module")
def small() -> sf.FrameScorer:
    return sf.FrameScorer(vector_pool(), vector_seed(), task(), SMALL)


def _solo_mismatches(scorer: sf.FrameScorer, indices: list[int], threads: int = 1) -> list[str]:
    rows = [solo_rows()[i] for i in indices]
    with ThreadPoolExecutor(threads) as pool:
        got = list(pool.map(lambda r: scorer.score(r.public_key, r.nonce), rows))
    return [f"row {r.line - 1}: {d}" for r, g in zip(rows, got, strict=True)
            if (d := first_difference(r.shift, r.error, g)) is not None]


def _chain_mismatches(scorer: sf.FrameScorer, rows: tuple[AntRow, ...]) -> list[str]:
    found: list[str] = []
    checked: list[int] = []

    def on_row(row: AntRow, got: sf.Rating) -> bool:
        checked.append(row.depth)
        if (d := first_difference(row.shift, row.error, got)) is not None:
            found.append(f"chain {row.chain} depth {row.depth}: {d}")
        return d is None

    replay_chain(scorer, list(rows), on_row)
    assert found or checked == [r.depth for r in rows]
    return found


# --- golden rows: a start-state and a wiring row and one chain's first two depths by default ------

def test_golden_solo_rows_of_two_mutation_kinds_match(pools: PoolCache) -> None:
    rows = solo_rows()
    assert {sf.mode_of(rows[1].nonce), sf.mode_of(rows[3].nonce)} == {sf.kernels.MODE_START, sf.kernels.MODE_WIRING}
    assert _solo_mismatches(make_scorer(pools, rows[0].seed), [1, 3]) == []


def test_golden_chain_replays_its_first_two_depths(pools: PoolCache) -> None:
    chain = ant_chains()[2]
    assert [r.depth for r in chain[:2]] == [0, 1] and chain[1].nonce[2] > 0  # depth 1 explores
    assert _chain_mismatches(make_scorer(pools, chain[0].seed), chain[:2]) == []


@pytest.mark.slow
def test_every_golden_solo_row_matches(pools: PoolCache) -> None:
    rows = solo_rows()
    assert _solo_mismatches(make_scorer(pools, rows[0].seed), list(range(len(rows))), threads=2) == []


@pytest.mark.slow
def test_every_golden_chain_matches_in_depth_order(pools: PoolCache) -> None:
    chains = ant_chains()
    scorer = make_scorer(pools, chains[0][0].seed)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda c: _chain_mismatches(scorer, c), chains))
    assert found == [[]] * len(chains)


# --- Rating and the wire score -----------------------------------------------------------------

ratings = st.builds(sf.Rating, st.integers(0, 672), st.integers(0, 168))


@given(ratings, ratings)
def test_the_wire_score_orders_ratings_lower_is_better(a: sf.Rating, b: sf.Rating) -> None:
    assert a.is_better_than(b) == (sf.rating_score(a) < sf.rating_score(b))
    if a.shift > b.shift:  # a higher shift always beats a lower error
        assert sf.rating_score(a) < sf.rating_score(b)
    assert sf.rating_from_score(sf.rating_score(a)) == a


@given(ratings)
def test_the_threshold_score_is_the_frame_0_floor(r: sf.Rating) -> None:
    config = sf.PRODUCTION_FRAME_CONFIG
    assert (sf.rating_score(r) <= config.threshold_score()) == r.clears_floor(config.solution_threshold)


@given(st.integers(0, 168))
def test_a_void_rating_scores_worst_whatever_its_shift(shift: int) -> None:
    void = sf.Rating(sf.INVALID_SCORE, shift)
    assert sf.rating_score(void) == sf.INVALID_SCORE == 0xFFFFFFFF
    assert sf.rating_score(void) > sf.rating_score(sf.Rating(672, 0))
    assert sf.rating_from_score(sf.INVALID_SCORE) == sf.Rating.worst()


def test_configs_round_trip_and_bad_ones_are_refused() -> None:
    text = "18-1-8760-672-100000-3-2048-1000-302-168"
    assert sf.FrameConfig.parse(text) == sf.PRODUCTION_FRAME_CONFIG and str(sf.PRODUCTION_FRAME_CONFIG) == text
    assert sf.PRODUCTION_FRAME_CONFIG.advance_threshold == 224
    for bad in ["18-1-8760-672-100000-3-2048-1000-302", "18-1-8760-672-100000-3-2048-1000-200-168",
                "18-1-8760-672-800-3-2048-1000-302-168", "18-1-8760-672-100000-4-2048-1000-302-168"]:
        with pytest.raises(ValueError):
            sf.FrameConfig.parse(bad)


# --- networks ----------------------------------------------------------------------------------

def test_root_network_is_a_valid_network_that_round_trips_through_core_ann_bytes(small: sf.FrameScorer) -> None:
    key = solo_rows()[0].public_key
    root = small.root(key)
    assert root == small.root(key) and root != small.root(bytes(32))
    data = root.to_bytes()
    assert len(data) == 34 * SMALL.population
    assert sf.Network.from_bytes(data, SMALL.population) == root
    assert root.neighbors.max() < SMALL.population and root.lut.max() <= 2 and root.start.max() <= 2


@pytest.mark.parametrize("damage", ["short", "link", "trit"])
def test_a_damaged_network_is_refused_naming_the_problem(small: sf.FrameScorer, damage: str) -> None:
    data = bytearray(small.root(bytes(32)).to_bytes())
    p = SMALL.population
    if damage == "short":
        data = data[:-1]
    elif damage == "link":
        data[0:2] = (p).to_bytes(2, "little")
    else:
        data[-1] = 3
    with pytest.raises(ValueError, match={"short": "bytes", "link": "link target", "trit": "trits"}[damage]):
        sf.Network.from_bytes(bytes(data), p)


# --- walks on a small config: chains, kept networks, nonces --------------------------------------

def _nonce(changes: int, mode: int, explore: int, salt: int) -> bytes:
    return sf.make_nonce(changes, mode, explore, np.random.default_rng(salt).bytes(29))


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 10), st.integers(1, 3), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_the_kept_network_earns_the_rating_it_came_with(small: sf.FrameScorer, changes: int, mode: int,
                                                       explore: int, salt: int) -> None:
    key = bytes(np.random.default_rng(salt).bytes(32))
    parent = small.root(key)
    result = small.score_from_parent(parent, 0, key, _nonce(changes, mode, explore, salt), bytes(32))
    assert result.network is not None
    if result.rating.is_valid:
        # re-grading the kept network from the frame it reached gives the same Rating: a verifier
        # can trust a chain's parent without replaying its whole lineage
        assert small.evaluate(result.network, result.rating.shift) == result.rating
    # the walk records only what is no worse than where it started, explore steps or not
    assert not small.evaluate(parent).is_better_than(result.rating)


def test_a_chain_depends_on_its_parent_anchor_and_explore_steps(small: sf.FrameScorer) -> None:
    key = bytes(range(32))
    nonce = _nonce(3, 3, 0, 7)
    root = small.root(key)
    base = small.score_from_parent(root, 0, key, nonce, bytes(32))
    other_anchor = small.score_from_parent(root, 0, key, nonce, b"\x01" * 32)
    assert base.network is not None and other_anchor.network is not None
    assert base.network != other_anchor.network  # the anchor reseeds the walk
    nxt = small.score_from_parent(base.network, base.rating.shift, key, _nonce(3, 3, 0, 8), bytes(32))
    assert nxt.rating == small.score_from_parent(base.network, base.rating.shift, key, _nonce(3, 3, 0, 8),
                                                 bytes(32)).rating
    assert not base.rating.is_better_than(nxt.rating)  # a chain step never ends below its parent


@pytest.mark.parametrize(("nonce", "why"), [
    (bytes([0, 0x31, 0]) + bytes(29), "algo byte"),
    (bytes([1, 0x30, 0]) + bytes(29), "L = 0"),
    (bytes([1, 0x3B, 0]) + bytes(29), "L = 11"),
    (bytes([1, 0x01, 0]) + bytes(29), "mode 0"),
    (bytes([1, 0x71, 0]) + bytes(29), "reserved bit"),
])
def test_a_non_canonical_nonce_scores_worst(small: sf.FrameScorer, nonce: bytes, why: str) -> None:
    assert not sf.is_canonical_nonce(nonce), why
    assert small.score(bytes(32), nonce) == sf.Rating.worst()
    assert small.score_from_parent(small.root(bytes(32)), 0, bytes(32), nonce, bytes(32)).network is None


def test_a_chain_step_refuses_explore_beyond_the_walk_and_a_shift_beyond_the_cap(small: sf.FrameScorer) -> None:
    root = small.root(bytes(32))
    too_far = _nonce(1, 3, SMALL.mutations + 1, 1)
    assert sf.is_canonical_nonce(too_far) and not sf.is_canonical_ant_nonce(too_far, SMALL.mutations)
    assert small.score_from_parent(root, 0, bytes(32), too_far, bytes(32)).rating == sf.Rating.worst()
    ok = _nonce(1, 3, SMALL.mutations, 1)
    assert small.score_from_parent(root, SMALL.shift_cap + 1, bytes(32), ok, bytes(32)).network is None
    big = sf.FrameScorer(vector_pool(), vector_seed(), task(), sf.PRODUCTION_FRAME_CONFIG).root(bytes(32))
    assert small.score_from_parent(big, 0, bytes(32), ok, bytes(32)).network is None


def test_solo_ignores_the_explore_byte_as_core_does(small: sf.FrameScorer) -> None:
    key = bytes(range(32))
    assert small.score(key, _nonce(2, 2, 0, 5)) == small.score(key, _nonce(2, 2, 9, 5))
