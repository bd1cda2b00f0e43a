"""Qubic identity encoding: known answers from public Qubic code, round trips, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.identity import (
    IdentityError,
    identity_from_public_key,
    is_valid_identity,
    normalize_identity,
    parse_public_key,
    public_key_from_identity,
)
from tests.protocol.samples import KNOWN_IDENTITIES, WALLET, WALLET_KEY_HEX


@pytest.mark.parametrize(("identity", "key_hex"), KNOWN_IDENTITIES)
def test_known_public_key_encodes_to_published_identity(identity: str, key_hex: str) -> None:
    assert identity_from_public_key(bytes.fromhex(key_hex)) == identity


@pytest.mark.parametrize(("identity", "key_hex"), KNOWN_IDENTITIES)
def test_published_identity_decodes_to_known_public_key(identity: str, key_hex: str) -> None:
    assert public_key_from_identity(identity).hex() == key_hex


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_every_public_key_round_trips(key: bytes) -> None:
    identity = identity_from_public_key(key)
    assert len(identity) == 60 and identity.isupper() and identity.isalpha()
    assert public_key_from_identity(identity) == key
    assert is_valid_identity(identity)


def test_hex_public_key_is_accepted_in_any_case_and_normalised_to_letters() -> None:
    assert parse_public_key(WALLET_KEY_HEX.upper()).hex() == WALLET_KEY_HEX
    assert normalize_identity(WALLET_KEY_HEX) == WALLET
    assert normalize_identity(WALLET) == WALLET


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (WALLET[:-1], "60 letters, got 59"),
        (WALLET + "A", "60 letters, got 61"),
        ("", "60 letters, got 0"),
        (WALLET.lower(), "upper-case"),
        (WALLET[:10] + WALLET[10:].lower(), "upper-case"),
        (WALLET[:5] + "1" + WALLET[6:], "only letters A-Z, found '1'"),
        (WALLET[:5] + "É" + WALLET[6:], "only letters A-Z, found 'É'"),
        (WALLET[:-1] + ("A" if WALLET[-1] != "A" else "B"), "checksum mismatch"),
        (("B" if WALLET[0] != "B" else "C") + WALLET[1:], "checksum mismatch"),
        ("Z" * 14 + WALLET[14:], "group 1 does not fit 64 bits"),
    ],
)
def test_malformed_identity_is_rejected_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(IdentityError, match=reason):
        public_key_from_identity(text)
    assert not is_valid_identity(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("g" * 64, "hex public key"),
        ("ab" * 31 + "a", "60 letters or 64 hex digits, got 63"),
        (WALLET[:-1] + ("A" if WALLET[-1] != "A" else "B"), "checksum"),
    ],
)
def test_parse_public_key_names_the_problem(text: str, reason: str) -> None:
    with pytest.raises(IdentityError, match=reason):
        parse_public_key(text)


@pytest.mark.parametrize("size", [0, 31, 33])
def test_public_key_of_wrong_length_is_rejected(size: int) -> None:
    with pytest.raises(IdentityError, match=f"32 bytes, got {size}"):
        identity_from_public_key(bytes(size))


def test_non_string_identity_is_rejected() -> None:
    with pytest.raises(IdentityError, match="must be a string"):
        public_key_from_identity(123)  # type: ignore[arg-type]


def test_identity_error_is_a_value_error() -> None:
    assert issubclass(IdentityError, ValueError)
