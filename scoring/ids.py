"""Identities, nonces and digests: the leaf module that protocol/ and scoring/ both import.

KangarooTwelve (KT128, empty customisation; :func:`k12`) is the one hash of the project: task ids,
walk seeds, network ids, identity checksums and document hashes all use it.

Qubic identities: 60 upper-case letters ↔ 32-byte public keys. The encoding follows qubic/core
(``getIdentity`` and ``getPublicKeyFromIdentity`` in ``src/four_q.h``), re-implemented here from its
description:

* the key is read as four 64-bit **little-endian** words; each word becomes 14 letters, least
  significant base-26 digit first (digit ``d`` → ``chr(ord('A') + d)``);
* the checksum is the first 3 bytes of ``K12(public_key)`` read little-endian and masked to 18 bits,
  written as 4 more letters, least significant digit first.

``26**14`` exceeds ``2**64``, so some 14-letter groups do not fit a 64-bit word. qubic/core silently
wraps them; we reject them (:class:`IdentityError`), which also makes the encoding one-to-one.
qubic/core's decoder does not check the checksum; we always do, because a mistyped wallet would
otherwise be paid.
"""

from __future__ import annotations

import json
import re
from typing import Any

from Crypto.Hash import KangarooTwelve

__all__ = [
    "IDENTITY_LENGTH",
    "NONCE_BYTES",
    "PUBLIC_KEY_BYTES",
    "IdentityError",
    "identity_from_public_key",
    "is_valid_identity",
    "json_id",
    "k12",
    "k12_hex",
    "nonce_bytes",
    "normalize_identity",
    "parse_public_key",
    "public_key",
    "public_key_from_identity",
]

#: Length of a Qubic identity in letters: 4 groups of 14 plus a 4-letter checksum.
IDENTITY_LENGTH = 60
#: Length of a public key in bytes.
PUBLIC_KEY_BYTES = 32
#: Length of a nonce in bytes.
NONCE_BYTES = 32

_GROUP_LETTERS = 14
_GROUPS = 4
_BODY_LETTERS = _GROUP_LETTERS * _GROUPS  # 56
_CHECKSUM_LETTERS = 4
_CHECKSUM_MASK = 0x3FFFF  # 18 bits
_WORD_LIMIT = 1 << 64
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


def k12(*parts: bytes, n: int = 32) -> bytes:
    """KangarooTwelve (KT128, empty customisation) of the concatenated ``parts``: ``n`` bytes."""
    return bytes(KangarooTwelve.new(data=b"".join(parts)).read(n))


def k12_hex(data: bytes) -> str:
    """K12 of ``data`` (32 bytes) as 64 lower-case hex digits: document hashes (``TaskHash``, ...)."""
    return k12(data).hex()


def json_id(obj: Any) -> str:
    """Hex K12 of the canonical JSON of ``obj`` (sorted keys, no whitespace): e.g. a network's id."""
    return k12_hex(json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())


class IdentityError(ValueError):
    """An identity or public key is malformed; the message says exactly what is wrong."""


def _checksum_value(public_key: bytes) -> int:
    return int.from_bytes(k12(public_key, n=3), "little") & _CHECKSUM_MASK


def _letters(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        value, digit = divmod(value, 26)
        out.append(chr(ord("A") + digit))
    return "".join(out)


def identity_from_public_key(public_key: bytes) -> str:
    """Encode a 32-byte public key as its 60-letter upper-case Qubic identity.

    Raises :class:`IdentityError` if ``public_key`` is not exactly 32 bytes.
    """
    key = bytes(public_key)
    if len(key) != PUBLIC_KEY_BYTES:
        raise IdentityError(f"public key must be {PUBLIC_KEY_BYTES} bytes, got {len(key)}")
    body = "".join(
        _letters(int.from_bytes(key[8 * i : 8 * i + 8], "little"), _GROUP_LETTERS) for i in range(_GROUPS)
    )
    return body + _letters(_checksum_value(key), _CHECKSUM_LETTERS)


def public_key_from_identity(identity: str) -> bytes:
    """Decode a 60-letter Qubic identity to its 32-byte public key, checking the checksum.

    Raises :class:`IdentityError` naming the problem: wrong length, lower-case letters, characters
    outside ``A``–``Z``, a 14-letter group too large for 64 bits, or a checksum mismatch.
    """
    if not isinstance(identity, str):
        raise IdentityError(f"identity must be a string, got {type(identity).__name__}")
    if len(identity) != IDENTITY_LENGTH:
        raise IdentityError(f"identity must be {IDENTITY_LENGTH} letters, got {len(identity)}")
    if not identity.isascii() or not identity.isalpha():
        bad = next(c for c in identity if not ("A" <= c <= "Z" or "a" <= c <= "z"))
        raise IdentityError(f"identity may contain only letters A-Z, found {bad!r}")
    if not identity.isupper():
        raise IdentityError("identity must be upper-case (lower-case letters denote hashes in Qubic)")
    words = []
    for group in range(_GROUPS):
        value = 0
        for ch in reversed(identity[group * _GROUP_LETTERS : (group + 1) * _GROUP_LETTERS]):
            value = value * 26 + (ord(ch) - ord("A"))
        if value >= _WORD_LIMIT:
            raise IdentityError(f"identity letter group {group + 1} does not fit 64 bits (non-canonical)")
        words.append(value.to_bytes(8, "little"))
    key = b"".join(words)
    expected = _letters(_checksum_value(key), _CHECKSUM_LETTERS)
    if identity[_BODY_LETTERS:] != expected:
        raise IdentityError(f"identity checksum mismatch: ends in {identity[_BODY_LETTERS:]}, expected {expected}")
    return key


def is_valid_identity(identity: str) -> bool:
    """Whether ``identity`` is a well-formed 60-letter Qubic identity with a correct checksum."""
    try:
        public_key_from_identity(identity)
    except IdentityError:
        return False
    return True


def parse_public_key(text: str) -> bytes:
    """Read a public key given either as a 60-letter identity or as 64 hex digits (any case).

    Raises :class:`IdentityError` when it is neither.
    """
    if not isinstance(text, str):
        raise IdentityError(f"identity must be a string, got {type(text).__name__}")
    if len(text) == 2 * PUBLIC_KEY_BYTES:
        if _HEX_KEY.fullmatch(text) is None:
            raise IdentityError("a 64-character identity must be a hex public key (0-9, a-f)")
        return bytes.fromhex(text)
    if len(text) != IDENTITY_LENGTH:
        raise IdentityError(
            f"identity must be {IDENTITY_LENGTH} letters or {2 * PUBLIC_KEY_BYTES} hex digits, "
            f"got {len(text)} characters"
        )
    return public_key_from_identity(text)


def normalize_identity(text: str) -> str:
    """Canonical form of an identity given as 60 letters or 64 hex digits: the 60-letter identity."""
    return identity_from_public_key(parse_public_key(text))


def public_key(identity: str | bytes) -> bytes:
    """The 32-byte public key of a 60-letter identity, 64 hex digits, or raw bytes.

    Raises :class:`IdentityError` (a ``ValueError``) naming the problem.
    """
    if isinstance(identity, bytes | bytearray):
        if len(identity) != PUBLIC_KEY_BYTES:
            raise IdentityError(f"identity: a public key has {PUBLIC_KEY_BYTES} bytes, got {len(identity)}")
        return bytes(identity)
    return parse_public_key(identity)


def nonce_bytes(nonce: str | bytes) -> bytes:
    """A 32-byte nonce from bytes or 64 hex digits; ``ValueError`` naming the problem otherwise."""
    if isinstance(nonce, bytes | bytearray):
        data = bytes(nonce)
    else:
        try:
            data = bytes.fromhex(nonce)
        except ValueError:
            raise ValueError(f"nonce: not hex: {nonce!r}") from None
    if len(data) != NONCE_BYTES:
        raise ValueError(f"nonce: must be {NONCE_BYTES} bytes ({2 * NONCE_BYTES} hex digits), got {len(data)} bytes")
    return data
