"""Nonce-space partitioning: ``NoncePrefix`` and the nonces a worker may try.

A nonce is 32 bytes. Some algorithms fix the first bytes (the *head*): bpp9000's canonical nonce
(qubic/core ``isCanonicalBpp9000Nonce``) is ``nonce[0] = 1`` (algorithm id), ``nonce[1] = L`` in
``1..10`` (mutations per step) and ``nonce[2] = 0``, so its search space starts at byte 3. The work
server gives each worker a ``NoncePrefix`` — a few bytes placed right after the head — so no two workers
can find the same nonce::

    nonce = head (algorithm-defined) ‖ prefix (server-assigned) ‖ tail (the worker's counter)

:class:`NonceSpace` is that layout as a value: it checks membership, numbers the nonces in its tail,
and splits itself into disjoint sub-spaces for threads. All nonces travel as 64 lower-case hex digits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = [
    "MAX_PREFIX_BYTES",
    "NONCE_BYTES",
    "NonceSpace",
    "make_nonce",
    "nonce_in_prefix",
    "prefix_for_worker",
]

#: Length of a nonce in bytes.
NONCE_BYTES = 32
#: Longest ``NoncePrefix`` the protocol allows, in bytes (16 hex digits).
MAX_PREFIX_BYTES = 8


def _as_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} is not hex: {value!r}") from None


@dataclass(frozen=True)
class NonceSpace:
    """The nonces ``head ‖ prefix ‖ tail`` for every ``tail`` of the remaining length.

    ``head`` and ``prefix`` are raw bytes; together they must leave at least one tail byte. The wire
    limits a server-assigned prefix to :data:`MAX_PREFIX_BYTES`; :meth:`child` may extend it further
    for a worker's own threads.
    """

    prefix: bytes = b""
    head: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, bytes) or not isinstance(self.head, bytes):
            raise TypeError("NonceSpace prefix and head must be bytes (use NonceSpace.from_hex for hex)")
        if self.tail_bytes < 1:
            raise ValueError(
                f"head ({len(self.head)} B) + prefix ({len(self.prefix)} B) leave no room in a "
                f"{NONCE_BYTES}-byte nonce"
            )

    @classmethod
    def from_hex(cls, prefix: str, head: bytes = b"") -> NonceSpace:
        """Build from a wire ``NoncePrefix`` (hex, possibly empty) and the algorithm's head bytes."""
        return cls(prefix=_as_bytes(prefix, "nonce prefix"), head=bytes(head))

    @property
    def offset(self) -> int:
        """Byte offset of the prefix inside the nonce (the head length)."""
        return len(self.head)

    @property
    def tail_bytes(self) -> int:
        """Number of free bytes after head and prefix."""
        return NONCE_BYTES - len(self.head) - len(self.prefix)

    @property
    def capacity(self) -> int:
        """How many distinct nonces the space holds (``256 ** tail_bytes``)."""
        return 1 << (8 * self.tail_bytes)

    def contains(self, nonce: str | bytes) -> bool:
        """Whether ``nonce`` (hex or 32 bytes) has this space's head and prefix."""
        try:
            raw = _as_bytes(nonce, "nonce")
        except ValueError:
            return False
        return (
            len(raw) == NONCE_BYTES
            and raw[: self.offset] == self.head
            and raw[self.offset : self.offset + len(self.prefix)] == self.prefix
        )

    def nonce_bytes(self, counter: int) -> bytes:
        """The ``counter``-th nonce: the tail holds ``counter`` big-endian, so counters sort like nonces.

        Raises ``ValueError`` if ``counter`` is negative or does not fit the tail.
        """
        if not 0 <= counter < self.capacity:
            raise ValueError(f"counter {counter} outside 0..{self.capacity - 1} for this nonce space")
        return self.head + self.prefix + counter.to_bytes(self.tail_bytes, "big")

    def nonce(self, counter: int) -> str:
        """:meth:`nonce_bytes` as 64 lower-case hex digits, ready for ``StratumSubmit.Nonce``."""
        return self.nonce_bytes(counter).hex()

    def counter_of(self, nonce: str | bytes) -> int:
        """Inverse of :meth:`nonce`: the tail of ``nonce`` as an integer. ``ValueError`` if not inside."""
        if not self.contains(nonce):
            raise ValueError("nonce is not inside this nonce space")
        raw = _as_bytes(nonce, "nonce")
        return int.from_bytes(raw[self.offset + len(self.prefix) :], "big")

    def random_counter(self) -> int:
        """A uniformly random counter, e.g. a start point that survives miner restarts."""
        return secrets.randbelow(self.capacity)

    def child(self, index: int, count: int) -> NonceSpace:
        """The ``index``-th of ``count`` disjoint sub-spaces (one per thread); they cover this space.

        The prefix grows by as many bytes as ``count`` needs; sub-space ``index`` takes the tail
        values whose leading bytes equal ``index`` (values ``>= count`` are simply not used).
        """
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"child index {index} outside 0..{count - 1}")
        width = max(1, (max(count - 1, 1).bit_length() + 7) // 8)
        return NonceSpace(prefix=self.prefix + index.to_bytes(width, "big"), head=self.head)


def nonce_in_prefix(nonce: str | bytes, prefix: str, *, offset: int = 0) -> bool:
    """Whether ``nonce`` (hex or bytes) carries ``prefix`` (hex) at byte ``offset``.

    ``offset`` is the algorithm's head length (0 for Neuraxon, 3 for bpp9000); the head bytes
    themselves are not checked here.
    """
    try:
        raw = _as_bytes(nonce, "nonce")
        want = _as_bytes(prefix, "nonce prefix")
    except ValueError:
        return False
    return len(raw) == NONCE_BYTES and raw[offset : offset + len(want)] == want


def make_nonce(prefix: str, counter: int, *, head: bytes = b"") -> str:
    """The ``counter``-th nonce of a worker with ``prefix`` (hex): ``head ‖ prefix ‖ counter``, as hex."""
    return NonceSpace.from_hex(prefix, head).nonce(counter)


def prefix_for_worker(index: int, length: int = 4) -> str:
    """The server's ``NoncePrefix`` for its ``index``-th worker: ``index`` big-endian in ``length`` bytes."""
    if not 0 < length <= MAX_PREFIX_BYTES:
        raise ValueError(f"prefix length must be 1..{MAX_PREFIX_BYTES} bytes")
    if not 0 <= index < 1 << (8 * length):
        raise ValueError(f"worker index {index} does not fit {length} prefix bytes")
    return index.to_bytes(length, "big").hex()
