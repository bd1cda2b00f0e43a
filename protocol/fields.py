"""Field types shared by the wire models: hex, identities, ids, bounded integers, opaque JSON.

Each type is an ``Annotated`` alias that validates *and normalises* (hex → lower case, identity →
60-letter form), so a decoded message always re-encodes to one canonical text. Failures raise
``PydanticCustomError`` with a type the codec maps to an :class:`~protocol.errors.ErrorCode`
(``bad_hex`` → ``BAD_HEX``, ``bad_identity`` → ``BAD_IDENTITY``, anything else → ``INVALID_FIELD``).
"""

from __future__ import annotations

import math
import re
from enum import IntEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from protocol.identity import IdentityError, normalize_identity
from protocol.nonce import MAX_PREFIX_BYTES
from scoring.registry import FAMILIES

__all__ = [
    "MAX_SAFE_INT",
    "Algo",
    "AlgoField",
    "Count",
    "EpochNumber",
    "Hex32",
    "Identifier",
    "IdentityText",
    "JsonObject",
    "LongText",
    "NoncePrefixHex",
    "ResourceUrl",
    "ScoreValue",
    "ShortText",
    "ThreadCount",
    "Token",
]

#: Largest integer every JSON implementation (JavaScript included) represents exactly: 2**53 - 1.
MAX_SAFE_INT = (1 << 53) - 1
#: Deepest nesting accepted inside an opaque JSON object (``Task``, ``Parent.Network``).
MAX_JSON_DEPTH = 32

_HEX_RE = re.compile(r"[0-9a-fA-F]*")
_URL_RE = re.compile(r"(https?://[^\s/?#]+|/)[^\s\x00-\x1f\x7f]*")


class Algo(IntEnum):
    """Scoring algorithm of a job (``Algo``); ids follow qubic/core's ``AlgoType``."""

    NEURAXON = 0
    """Neuraxon network training in a task environment; higher score is better."""
    BPP9000 = 1
    """Qubic's bpp9000 scorer, bit-exact to qubic/core; the score counts errors, lower is better."""

    @property
    def label(self) -> str:
        """Lower-case name used in logs and settings (``neuraxon``, ``bpp9000``)."""
        return self.name.lower()

    @property
    def higher_is_better(self) -> bool:
        """Direction of the score (the scoring registry's family rule): Neuraxon maximises fitness,
        bpp9000 minimises errors."""
        return FAMILIES[self.value].higher_is_better

    @property
    def nonce_head_bytes(self) -> int:
        """Leading nonce bytes fixed by the algorithm; ``NoncePrefix`` starts after them (the scoring
        registry's family rule).

        bpp9000 fixes ``nonce[0..2]`` (algo id, mutations L, explore K); Neuraxon fixes none.
        """
        return FAMILIES[self.value].nonce_head_bytes


def _algo(value: Any) -> Any:
    # JSON booleans are ints to Python; a protocol field must not accept ``true`` as algorithm 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("algo_type", "must be the integer 0 (neuraxon) or 1 (bpp9000)")
    try:
        return Algo(value)
    except ValueError:
        raise PydanticCustomError("algo_value", "must be 0 (neuraxon) or 1 (bpp9000), got {value}",
                                  {"value": value}) from None


def _hex32(value: str) -> str:
    if _HEX_RE.fullmatch(value) is None:
        raise PydanticCustomError("bad_hex", "must contain only hex digits 0-9, a-f")
    if len(value) != 64:
        raise PydanticCustomError(
            "bad_hex", "must be exactly 64 hex digits (32 bytes), got {n}", {"n": len(value)}
        )
    return value.lower()


def _prefix_hex(value: str) -> str:
    if _HEX_RE.fullmatch(value) is None:
        raise PydanticCustomError("bad_hex", "nonce prefix must be hex digits")
    if len(value) % 2 or len(value) > 2 * MAX_PREFIX_BYTES:
        raise PydanticCustomError(
            "bad_hex",
            "nonce prefix must be whole bytes, 0..{max} bytes ({n} hex digits given)",
            {"max": MAX_PREFIX_BYTES, "n": len(value)},
        )
    return value.lower()


def _identity(value: str) -> str:
    try:
        return normalize_identity(value)
    except IdentityError as exc:
        raise PydanticCustomError("bad_identity", "{reason}", {"reason": str(exc)}) from None


def _url(value: str) -> str:
    if _URL_RE.fullmatch(value) is None:
        raise PydanticCustomError(
            "invalid_url", "must be an http(s) URL or a server path starting with '/', without spaces"
        )
    return value


def _check_text(text: str) -> None:
    # Python strings may hold lone surrogates, which JSON cannot carry; refuse them here, not in encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("json_text", "strings must be valid Unicode (no lone surrogates)") from None


def _check_json(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise PydanticCustomError("json_depth", "nested deeper than {max} levels", {"max": MAX_JSON_DEPTH})
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PydanticCustomError("json_key", "object keys must be strings")
            _check_text(key)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("json_number", "numbers must be finite")
    elif isinstance(value, str):
        _check_text(value)
    elif value is not None and not isinstance(value, int):
        raise PydanticCustomError("json_value", "only JSON values are allowed, not {kind}",
                                  {"kind": type(value).__name__})


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    _check_json(value, 0)
    return value


def _schema(pattern: str, description: str) -> dict[str, Any]:
    return {"pattern": pattern, "description": description}


#: 32 bytes as 64 hex digits; accepted in any case, normalised to lower case.
Hex32 = Annotated[
    str,
    AfterValidator(_hex32),
    Field(json_schema_extra=_schema("^[0-9a-fA-F]{64}$", "32 bytes as 64 hex digits (sent lower-case)")),
]

#: A worker's nonce prefix: 0..8 whole bytes of hex, normalised to lower case.
NoncePrefixHex = Annotated[
    str,
    AfterValidator(_prefix_hex),
    Field(
        json_schema_extra=_schema(
            "^([0-9a-fA-F]{2}){0,8}$",
            "Bytes every nonce of this worker carries right after the algorithm's fixed head bytes",
        )
    ),
]

#: A Qubic identity: 60 upper-case letters with checksum, or a 64-hex public key; sent as 60 letters.
IdentityText = Annotated[
    str,
    AfterValidator(_identity),
    Field(
        json_schema_extra=_schema(
            "^([A-Z]{60}|[0-9a-fA-F]{64})$",
            "Qubic identity (60 upper-case letters, checksum verified) or a 32-byte public key in hex; "
            "always sent as the 60-letter identity",
        )
    ),
]

#: Job, task and parent ids: 1..64 characters of ``[A-Za-z0-9._:-]``.
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]

#: Short free text (worker name, OS, version): no control characters.
ShortText = Annotated[str, Field(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]

#: Human-readable message of an ack: up to 1024 characters, no control characters but tab/newline.
LongText = Annotated[str, Field(max_length=1024, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]

#: An opaque bearer token (JWT or similar).
Token = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")]

#: Where to download a resource: an http(s) URL or a path on the same server.
ResourceUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_url)]

#: A score or threshold: an integer JSON can carry exactly (Neuraxon fitness may be negative).
ScoreValue = Annotated[int, Field(ge=-MAX_SAFE_INT, le=MAX_SAFE_INT)]

#: A non-negative count.
Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]

#: A Qubic epoch number (16 bits in qubic/core).
EpochNumber = Annotated[int, Field(ge=0, le=0xFFFF)]

#: Worker threads.
ThreadCount = Annotated[int, Field(ge=1, le=0xFFFF)]

#: The algorithm id; accepts 0/1 or :class:`Algo`, never booleans or strings.
AlgoField = Annotated[Algo, BeforeValidator(_algo)]

#: A JSON object passed through unchanged (string keys, finite numbers, bounded depth).
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
