"""Qubic identities as the protocol names them: 60 upper-case letters ↔ 32-byte public keys.

The codec lives in :mod:`scoring.ids` (the leaf that scoring needs too: keys feed every score);
this module is the protocol's name for it.
"""

from __future__ import annotations

from scoring.ids import (
    IDENTITY_LENGTH,
    PUBLIC_KEY_BYTES,
    IdentityError,
    identity_from_public_key,
    is_valid_identity,
    normalize_identity,
    parse_public_key,
    public_key_from_identity,
)

__all__ = [
    "IDENTITY_LENGTH",
    "PUBLIC_KEY_BYTES",
    "IdentityError",
    "identity_from_public_key",
    "is_valid_identity",
    "normalize_identity",
    "parse_public_key",
    "public_key_from_identity",
]
