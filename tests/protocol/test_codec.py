"""Decoding rejects every bad frame with the right code and names the field; size limits hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    CLIENT_MESSAGES,
    CLOSE_POLICY,
    DEFAULT_MAX_FRAME_BYTES,
    ErrorCode,
    ProtocolError,
    StratumAck,
    StratumJob,
    StratumSubmit,
    decode,
    decode_as,
    encode,
    encode_bytes,
)
from tests.protocol.samples import NONCE, WALLET, neuraxon_job

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

SUBMIT: dict[str, Any] = json.loads(encode(StratumSubmit(job_id="j", epoch=1, nonce=NONCE, claimed_score=5)))
JOB: dict[str, Any] = json.loads(encode(neuraxon_job()))


def with_(base: dict[str, Any], **changes: Any) -> str:
    """``base`` with wire fields changed (``None`` deletes one), as JSON text."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return json.dumps(out)


def job_with(**changes: Any) -> str:
    return with_(JOB, **changes)


BAD_FRAMES: list[tuple[str, str | bytes, ErrorCode, str | None]] = [
    ("not json", "hello", ErrorCode.MALFORMED_JSON, None),
    ("truncated", encode(neuraxon_job())[:-1], ErrorCode.MALFORMED_JSON, None),
    ("trailing garbage", with_(SUBMIT) + " x", ErrorCode.MALFORMED_JSON, None),
    ("not utf-8", b'{"Method":"\xff"}', ErrorCode.MALFORMED_JSON, None),
    ("lone surrogate", '{"Method":"\\ud800"}', ErrorCode.MALFORMED_JSON, None),
    ("NaN", with_(SUBMIT).replace('"ClaimedScore": 5', '"ClaimedScore": NaN'), ErrorCode.INVALID_FIELD,
     "ClaimedScore"),
    ("Infinity in task", job_with(Task={"x": 1}).replace('"x": 1', '"x": -Infinity'), ErrorCode.INVALID_FIELD,
     "Task"),
    ("array", "[1, 2]", ErrorCode.MALFORMED_JSON, None),
    ("string", '"StratumSubmit"', ErrorCode.MALFORMED_JSON, None),
    ("empty", b"", ErrorCode.MALFORMED_JSON, None),
    ("deep nesting", "[" * 5000 + "]" * 5000, ErrorCode.MALFORMED_JSON, None),
    ("unknown method", with_(SUBMIT, Method="StratumMine"), ErrorCode.UNKNOWN_METHOD, "Method"),
    ("method case", with_(SUBMIT, Method="stratumsubmit"), ErrorCode.UNKNOWN_METHOD, "Method"),
    ("method not a string", with_(SUBMIT, Method=7), ErrorCode.UNKNOWN_METHOD, "Method"),
    ("method missing", with_(SUBMIT, Method=None), ErrorCode.INVALID_FIELD, "Method"),
    ("version missing", with_(SUBMIT, MessageVersion=None), ErrorCode.INVALID_FIELD, "MessageVersion"),
    ("version 0", with_(SUBMIT, MessageVersion=0), ErrorCode.UNSUPPORTED_VERSION, "MessageVersion"),
    (
        "future version wins over other errors",
        with_(SUBMIT, MessageVersion=2, Epoch="x", Surprise=1),
        ErrorCode.UNSUPPORTED_VERSION,
        "MessageVersion",
    ),
    ("version as string", with_(SUBMIT, MessageVersion="1"), ErrorCode.INVALID_FIELD, "MessageVersion"),
    ("job without MessageType", job_with(MessageType=None), ErrorCode.INVALID_FIELD, "MessageType"),
    ("job with ack MessageType", job_with(MessageType=502), ErrorCode.INVALID_FIELD, "MessageType"),
    ("extra field", with_(SUBMIT, Bonus=1), ErrorCode.INVALID_FIELD, "Bonus"),
    ("snake_case name", with_(SUBMIT, JobId=None, job_id="j"), ErrorCode.INVALID_FIELD, "JobId"),
    ("missing field", with_(SUBMIT, ClaimedScore=None), ErrorCode.INVALID_FIELD, "ClaimedScore"),
    ("int as string", with_(SUBMIT, Epoch="1"), ErrorCode.INVALID_FIELD, "Epoch"),
    ("int as bool", with_(SUBMIT, ClaimedScore=True), ErrorCode.INVALID_FIELD, "ClaimedScore"),
    ("int as float", with_(SUBMIT, ClaimedScore=5.5), ErrorCode.INVALID_FIELD, "ClaimedScore"),
    ("epoch too big", with_(SUBMIT, Epoch=65536), ErrorCode.INVALID_FIELD, "Epoch"),
    ("score beyond 2^53", with_(SUBMIT, ClaimedScore=2**63), ErrorCode.INVALID_FIELD, "ClaimedScore"),
    ("nonce short", with_(SUBMIT, Nonce="ab" * 31), ErrorCode.BAD_HEX, "Nonce"),
    ("nonce not hex", with_(SUBMIT, Nonce="xy" * 32), ErrorCode.BAD_HEX, "Nonce"),
    ("nonce as number", with_(SUBMIT, Nonce=12), ErrorCode.INVALID_FIELD, "Nonce"),
    ("seed not hex", job_with(RandomSeed="g" * 64), ErrorCode.BAD_HEX, "RandomSeed"),
    ("odd nonce prefix", job_with(NoncePrefix="abc"), ErrorCode.BAD_HEX, "NoncePrefix"),
    ("identity checksum", job_with(Identity=WALLET[:-1] + "Q"), ErrorCode.BAD_IDENTITY, "Identity"),
    ("identity lower-case", job_with(Identity=WALLET.lower()), ErrorCode.BAD_IDENTITY, "Identity"),
    ("algo as bool", job_with(Algo=True), ErrorCode.INVALID_FIELD, "Algo"),
    ("algo unknown", job_with(Algo=9), ErrorCode.INVALID_FIELD, "Algo"),
    ("task not object", job_with(Task=[1]), ErrorCode.INVALID_FIELD, "Task"),
    ("task infinite number", job_with(Task={"x": 1e999}), ErrorCode.INVALID_FIELD, "Task"),
    ("nested parent field", job_with(Parent={"ParentId": "p", "Score": "9", "Network": {}}), ErrorCode.INVALID_FIELD,
     "Parent.Score"),
    ("parent not object", job_with(Parent=3), ErrorCode.INVALID_FIELD, "Parent"),
    ("task and url", job_with(TaskUrl="/t", TaskHash="00" * 32), ErrorCode.INVALID_FIELD, "TaskUrl"),
    ("ack success mismatch", json.dumps({**json.loads(encode(StratumAck.accepted())), "Code": 300}),
     ErrorCode.INVALID_FIELD, "Success"),
]


@pytest.mark.parametrize(("frame", "code", "field"), [f[1:] for f in BAD_FRAMES], ids=[f[0] for f in BAD_FRAMES])
def test_bad_frame_gets_its_code_and_names_the_field(frame: str | bytes, code: ErrorCode, field: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert info.value.code is code, info.value
    assert info.value.field == field
    if field is not None:
        assert field in info.value.message
    ack = StratumAck.from_error(info.value)  # every error can be answered on the wire
    assert decode(encode(ack)) == ack


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_decode_accepts_bytes_like_and_text(kind: type) -> None:
    text = encode(neuraxon_job())
    frame = text if kind is str else kind(text.encode())
    assert decode(frame) == neuraxon_job()


def test_decode_rejects_non_frames() -> None:
    with pytest.raises(ProtocolError) as info:
        decode(123)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.MALFORMED_JSON


def test_size_limit_applies_to_bytes_before_parsing() -> None:
    frame = encode_bytes(neuraxon_job())
    assert decode(frame, max_bytes=len(frame)) == neuraxon_job()
    for data in (frame, frame.decode()):
        with pytest.raises(ProtocolError) as info:
            decode(data, max_bytes=len(frame) - 1)
        assert info.value.code is ErrorCode.FRAME_TOO_LARGE and info.value.closes_connection
    with pytest.raises(ProtocolError, match="exceeds"):
        decode(b"x" * (DEFAULT_MAX_FRAME_BYTES + 1))


def test_multibyte_text_is_measured_in_utf8_bytes() -> None:
    frame = with_(SUBMIT, Bonus="é" * 10)  # 10 characters, 20 bytes
    with pytest.raises(ProtocolError) as info:
        decode(frame, max_bytes=len(frame.encode()) - 1)
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


def test_encode_can_enforce_the_peer_limit() -> None:
    job = neuraxon_job(task={"blob": "x" * 2000})
    assert len(encode(job, max_bytes=4000)) < 4000
    with pytest.raises(ProtocolError) as info:
        encode(job, max_bytes=1000)
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


def test_decode_as_checks_the_message_type() -> None:
    frame = with_(SUBMIT)
    assert isinstance(decode_as(frame, StratumSubmit), StratumSubmit)
    assert isinstance(decode_as(frame, CLIENT_MESSAGES), StratumSubmit)
    with pytest.raises(ProtocolError) as info:
        decode_as(frame, StratumJob)
    assert (info.value.code, info.value.field) == (ErrorCode.UNEXPECTED_MESSAGE, "Method")
    assert "StratumSubmit is not accepted here (expected StratumJob)" in str(info.value)


def test_duplicate_keys_take_the_last_value() -> None:
    frame = with_(SUBMIT)[:-1] + ', "ClaimedScore": 9}'
    assert decode_as(frame, StratumSubmit).claimed_score == 9


# -- documentation is the contract ---------------------------------------------------------------


def _documented_codes() -> dict[int, tuple[str, str, str]]:
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|[^|]*\|\s*(\w[\w ]*?)\s*\|\s*(\d+)\s*\|", DOCS.read_text(), re.M)
    return {int(num): (name, conn, http) for num, name, conn, http in rows}


def test_docs_list_every_error_code_with_its_close_policy_and_http_status() -> None:
    documented = _documented_codes()
    assert set(documented) == {int(c) for c in ErrorCode}
    for code in ErrorCode:
        name, connection, http = documented[int(code)]
        assert name == code.name
        expected = "close" if code.closes_connection else "strike" if code.counts_as_strike else "open"
        assert connection == expected, code
        assert int(http) == code.http_status, code
    assert f"{CLOSE_POLICY.max_strikes} consecutive" in DOCS.read_text()


def test_codes_are_grouped_by_hundreds() -> None:
    assert all(c.counts_as_strike == (100 <= c < 200) for c in ErrorCode if c is not ErrorCode.FRAME_TOO_LARGE
               and c is not ErrorCode.UNSUPPORTED_VERSION)
    assert not (CLOSE_POLICY.always_close & CLOSE_POLICY.strike_codes)
    assert ErrorCode.FRAME_TOO_LARGE.ws_close_code == 1009 and ErrorCode.STALE_JOB.http_status == 200
