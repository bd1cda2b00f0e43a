"""Nonce-space partitioning: per-worker prefixes, algorithm head bytes, thread sub-spaces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.nonce import NONCE_BYTES, NonceSpace, make_nonce, nonce_in_prefix, prefix_for_worker

BPP_HEAD = bytes([1, 5, 0])


def test_nonce_layout_is_head_prefix_then_big_endian_counter() -> None:
    space = NonceSpace.from_hex("0A0b", head=BPP_HEAD)
    nonce = bytes.fromhex(space.nonce(0x0102))
    assert len(nonce) == NONCE_BYTES
    assert nonce[:3] == BPP_HEAD and nonce[3:5] == b"\x0a\x0b"
    assert nonce[5:] == (0x0102).to_bytes(27, "big")
    assert space.tail_bytes == 27 and space.capacity == 256**27 and space.offset == 3


def test_counter_round_trips_and_space_owns_its_nonces() -> None:
    space = NonceSpace.from_hex("dead")
    for counter in (0, 1, 255, 256, space.capacity - 1):
        nonce = space.nonce(counter)
        assert nonce == nonce.lower()
        assert space.contains(nonce) and space.contains(bytes.fromhex(nonce))
        assert space.counter_of(nonce) == counter


@pytest.mark.parametrize("counter", [-1, 256**30])
def test_counter_outside_the_tail_is_refused(counter: int) -> None:
    with pytest.raises(ValueError, match="counter"):
        NonceSpace.from_hex("abcd").nonce(counter)


def test_foreign_or_malformed_nonces_are_not_contained() -> None:
    space = NonceSpace.from_hex("abcd")
    assert not space.contains("abce" + "00" * 30)
    assert not space.contains("abcd")  # too short
    assert not space.contains("zz" * 32)
    with pytest.raises(ValueError, match="not inside"):
        space.counter_of("abce" + "00" * 30)


def test_head_bytes_must_match_too() -> None:
    space = NonceSpace.from_hex("ab", head=BPP_HEAD)
    assert not space.contains(bytes([1, 6, 0]) + b"\xab" + bytes(28))
    assert space.contains(BPP_HEAD + b"\xab" + bytes(28))


def test_space_needs_at_least_one_free_byte() -> None:
    with pytest.raises(ValueError, match="no room"):
        NonceSpace(prefix=bytes(30), head=bytes(2))
    with pytest.raises(TypeError):
        NonceSpace(prefix="ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not hex"):
        NonceSpace.from_hex("xyz")


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 300),
    data=st.data(),
)
def test_thread_sub_spaces_are_disjoint_and_inside_the_worker_space(count: int, data: st.DataObject) -> None:
    parent = NonceSpace.from_hex("0a0b", head=BPP_HEAD)
    i = data.draw(st.integers(0, count - 1))
    j = data.draw(st.integers(0, count - 1))
    counter = data.draw(st.integers(0, 2**64))
    child_i, child_j = parent.child(i, count), parent.child(j, count)
    nonce = child_i.nonce(counter)
    assert parent.contains(nonce)
    assert child_j.contains(nonce) == (i == j)


def test_child_index_must_be_in_range() -> None:
    with pytest.raises(ValueError, match="child index"):
        NonceSpace().child(2, 2)


def test_nonce_in_prefix_uses_the_algorithm_offset() -> None:
    nonce = (BPP_HEAD + b"\xab\xcd" + bytes(27)).hex()
    assert nonce_in_prefix(nonce, "abcd", offset=3)
    assert not nonce_in_prefix(nonce, "abcd")
    assert nonce_in_prefix(nonce, "", offset=3)
    assert not nonce_in_prefix("00" * 31, "")  # wrong length
    assert not nonce_in_prefix("zz" * 32, "")
    assert not nonce_in_prefix(nonce, "q")


def test_make_nonce_and_worker_prefixes() -> None:
    assert make_nonce("01", 2) == "01" + "00" * 30 + "02"
    assert make_nonce("", 1, head=BPP_HEAD) == "010500" + "00" * 28 + "01"
    assert prefix_for_worker(0) == "00000000"
    assert prefix_for_worker(258, length=2) == "0102"
    with pytest.raises(ValueError, match="does not fit"):
        prefix_for_worker(256, length=1)
    with pytest.raises(ValueError, match="prefix length"):
        prefix_for_worker(1, length=9)
