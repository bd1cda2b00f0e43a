"""Encode and decode wire messages; every decoding failure becomes a :class:`ProtocolError`.

``decode`` is the only way frames enter the program and ``encode`` the only way they leave it, so
both ends of the wire agree by construction. A decoded message re-encodes to the canonical text of
the same message: ``decode(encode(m)) == m`` for every message ``m``, and ``encode(decode(t)) == t``
for every canonical text ``t`` (compact JSON, fields in model order, optional fields omitted when
unset, hex lower-case, identities as 60 letters).

Parsing is pydantic-core's JSON parser: strict types (no ``"1"`` for ``1``, no ``true`` for ``1``),
no lone surrogates, bounded nesting; ``NaN``/``Infinity`` parse but every field refuses them, so the
error names the field. For a key given twice the last value wins, as in most JSON parsers.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, TypeVar, overload

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from protocol.errors import ErrorCode, ProtocolError
from protocol.fields import Hex32, Identifier
from protocol.messages import Message, StratumAck, StratumJob, TaggedMessage

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "JobTemplate",
    "decode",
    "decode_as",
    "echo_request",
    "encode",
    "encode_bytes",
    "validate_object",
]

#: Default size limit of one frame in bytes (1 MiB: room for an inline Neuraxon task).
DEFAULT_MAX_FRAME_BYTES = 1 << 20

_ADAPTER: TypeAdapter[Message] = TypeAdapter(TaggedMessage)
_WIRE_CONTEXT = {"wire": True}

M = TypeVar("M", bound=Message)

#: pydantic error types with a code of their own; every other type is INVALID_FIELD.
_CODE_BY_ERROR_TYPE: dict[str, ErrorCode] = {
    "json_invalid": ErrorCode.MALFORMED_JSON,
    "union_tag_invalid": ErrorCode.UNKNOWN_METHOD,
    "unsupported_version": ErrorCode.UNSUPPORTED_VERSION,
    "bad_hex": ErrorCode.BAD_HEX,
    "bad_identity": ErrorCode.BAD_IDENTITY,
}


def encode(message: Message, *, max_bytes: int | None = None) -> str:
    """The canonical JSON text of ``message``.

    With ``max_bytes``, raises ``ProtocolError(FRAME_TOO_LARGE)`` if the UTF-8 text is longer, so a
    sender learns of an oversized job before the peer rejects it.
    """
    text = message.model_dump_json(by_alias=True, exclude_none=True)
    if max_bytes is not None and len(text.encode("utf-8")) > max_bytes:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE, f"encoded {message.METHOD} exceeds {max_bytes} bytes"
        )
    return text


def encode_bytes(message: Message, *, max_bytes: int | None = None) -> bytes:
    """:func:`encode` as UTF-8 bytes (for HTTP bodies and binary WebSocket frames)."""
    return encode(message, max_bytes=max_bytes).encode("utf-8")


def decode(data: bytes | bytearray | memoryview | str, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Message:
    """Parse and validate one frame into its message model.

    Raises :class:`ProtocolError` — and nothing else — for any input that is not a valid message:
    ``FRAME_TOO_LARGE`` (checked before parsing), ``MALFORMED_JSON``, ``UNKNOWN_METHOD``,
    ``UNSUPPORTED_VERSION``, ``INVALID_FIELD``, ``BAD_HEX`` or ``BAD_IDENTITY``; ``err.field`` names
    the offending field.
    """
    raw = _frame_bytes(data, max_bytes)
    try:
        return _ADAPTER.validate_json(raw, context=_WIRE_CONTEXT, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _to_protocol_error(exc) from None
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: the parser should not get here
        raise ProtocolError(ErrorCode.MALFORMED_JSON, f"cannot parse frame: {type(exc).__name__}") from None


@overload
def decode_as(data: bytes | bytearray | memoryview | str, expected: type[M], *, max_bytes: int = ...) -> M: ...
@overload
def decode_as(
    data: bytes | bytearray | memoryview | str, expected: tuple[type[Any], ...], *, max_bytes: int = ...
) -> Message: ...
def decode_as(
    data: bytes | bytearray | memoryview | str,
    expected: type[Any] | tuple[type[Any], ...],
    *,
    max_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> Message:
    """:func:`decode`, then require the message to be of ``expected`` type(s).

    A valid message of another type raises ``ProtocolError(UNEXPECTED_MESSAGE)`` with field
    ``Method``; e.g. ``decode_as(body, StratumSubmit)`` for ``POST /api/v1/submit``, or
    ``decode_as(frame, CLIENT_MESSAGES)`` on the server's WebSocket.
    """
    message = decode(data, max_bytes=max_bytes)
    if not isinstance(message, expected):
        names = ", ".join(t.METHOD for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise ProtocolError(
            ErrorCode.UNEXPECTED_MESSAGE,
            f"{message.METHOD} is not accepted here (expected {names})",
            field="Method",
        )
    return message


#: Frames up to this size are searched for the submit they carry when they are refused unread.
ECHO_MAX_BYTES = 4096
_ECHO_ADAPTER: TypeAdapter[tuple[str, str]] = TypeAdapter(tuple[Identifier, Hex32])


def echo_request(ack: StratumAck, data: bytes | bytearray | memoryview | str) -> StratumAck:
    """``ack`` naming the submit ``data`` carries (its ``JobId`` and ``Nonce``), best effort.

    For answers to frames that were refused before decoding (rate limit) or did not validate (a
    bad ``ClaimedScore``): when the frame is small, is JSON with ``Method`` ``StratumSubmit`` and
    both fields are valid, the answer echoes them, so the miner knows which submit it answers
    (an answer without them is tied to no submit). Otherwise ``ack`` is returned unchanged.
    """
    if len(data) > ECHO_MAX_BYTES or ack.job_id is not None:
        return ack
    try:
        obj = json.loads(data if isinstance(data, str) else bytes(data))
    except ValueError:  # not JSON, or not UTF-8
        return ack
    if not isinstance(obj, dict) or obj.get("Method") != "StratumSubmit":
        return ack
    try:
        job_id, nonce = _ECHO_ADAPTER.validate_python((obj.get("JobId"), obj.get("Nonce")))
    except ValidationError:
        return ack
    return ack.model_copy(update={"job_id": job_id, "nonce": nonce.lower()})


def validate_object(obj: Any, expected: type[M]) -> M:
    """Validate an already-parsed wire object (PascalCase keys, envelope included) as ``expected``.

    For messages that arrive in another shape than a JSON frame, e.g. a pull-mode login carried in
    HTTP headers. Raises :class:`ProtocolError` with the same codes and fields as :func:`decode`.
    """
    try:
        message = _ADAPTER.validate_python(obj, context=_WIRE_CONTEXT, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _to_protocol_error(exc) from None
    if not isinstance(message, expected):
        raise ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, f"{message.METHOD} is not accepted here "
                            f"(expected {expected.METHOD})", field="Method")
    return message


class JobTemplate:
    """One validated :class:`StratumJob` handed out to many workers, of which only ``JobId``,
    ``Identity``, ``NoncePrefix`` and ``ShareThreshold`` differ.

    :meth:`issue` is :meth:`StratumJob.reissue`; :meth:`frame` is ``encode(issue(...))`` — the same
    canonical text — built by splicing the four fields into the template's text, encoded once with
    random markers. That makes pushing a changed job to thousands of connections cheap. (If a marker
    is not found exactly once, e.g. because the task happens to contain it, :meth:`frame` falls back
    to encoding the issued job.)
    """

    def __init__(self, job: StratumJob) -> None:
        self.job = job
        self._pieces = {False: self._split(with_share=False), True: self._split(with_share=True)}

    def _split(self, *, with_share: bool) -> tuple[list[str], list[str]] | None:
        marks = {name: f"{name[0].upper()}{secrets.token_hex(16)}" for name in ("job_id", "identity", "nonce_prefix")}
        share = 7_000_000_000_000_000 + secrets.randbelow(10**15) if with_share else None
        if share is not None and (self.job.is_idle or self.job._strictly_better(share, self.job.threshold)):
            return None  # a share bar is never set on such a job; frame() encodes instead
        text = encode(self.job.model_copy(update={**marks, "share_threshold": share}))
        spots = []
        for name, mark in marks.items():
            if text.count(mark) != 1:
                return None
            spots.append((text.index(mark), len(mark), name))
        if share is not None:
            needle = f'"ShareThreshold":{share}'
            if text.count(needle) != 1 or text.count(str(share)) != 1:
                return None
            spots.append((text.index(needle) + len('"ShareThreshold":'), len(str(share)), "share_threshold"))
        spots.sort()
        pieces, order, at = [], [], 0
        for start, length, name in spots:
            pieces.append(text[at:start])
            order.append(name)
            at = start + length
        pieces.append(text[at:])
        return pieces, order

    def issue(self, *, job_id: str, nonce_prefix: str, share_threshold: int | None = None,
              identity: str | None = None) -> StratumJob:
        """The job for one worker (``ValueError`` if a field breaks the wire rules)."""
        return self.job.reissue(job_id=job_id, nonce_prefix=nonce_prefix, share_threshold=share_threshold,
                                identity=identity)

    def frame(self, *, job_id: str, nonce_prefix: str, share_threshold: int | None = None,
              identity: str | None = None) -> str:
        """``encode(self.issue(...))``, computed in microseconds."""
        fields = self.job.reissue_fields(job_id=job_id, nonce_prefix=nonce_prefix, share_threshold=share_threshold,
                                         identity=identity)
        split = self._pieces[share_threshold is not None]
        if split is None:
            return encode(self.job.model_copy(update=fields))
        pieces, order = split
        out = [pieces[0]]
        for name, piece in zip(order, pieces[1:], strict=True):
            out.append(str(fields[name]))
            out.append(piece)
        return "".join(out)


def _frame_bytes(data: bytes | bytearray | memoryview | str, max_bytes: int) -> bytes:
    if isinstance(data, str):
        # Every character is at least one UTF-8 byte: reject huge text before encoding it.
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(ErrorCode.MALFORMED_JSON, "frame is not valid Unicode text") from None
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        raise ProtocolError(ErrorCode.MALFORMED_JSON, f"frame must be bytes or text, not {type(data).__name__}")
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return raw


def _too_large(max_bytes: int) -> ProtocolError:
    return ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"frame exceeds {max_bytes} bytes")


def _field_path(error: ErrorDetails) -> str | None:
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if isinstance(ctx.get("field"), str):
        return str(ctx["field"])
    # The first location element is the union tag (the Method); the rest is the wire path.
    loc = error["loc"][1:] if error["loc"] else ()
    return ".".join(str(part) for part in loc) or None


def _describe(error: ErrorDetails, field: str | None) -> str:
    msg = error["msg"]
    if field and not msg.startswith(f"{field}:"):
        return f"{field}: {msg}"
    return msg


def _to_protocol_error(exc: ValidationError) -> ProtocolError:
    errors = exc.errors(include_url=False, include_input=False)
    # A version we do not speak explains every other error, so it wins; otherwise the first error.
    chosen = next((e for e in errors if e["type"] == "unsupported_version"), errors[0])
    kind = chosen["type"]
    field = _field_path(chosen)
    if kind == "union_tag_not_found":
        return ProtocolError(ErrorCode.INVALID_FIELD, "Method: field required (a string naming the message)",
                             field="Method")
    if kind == "union_tag_invalid":
        tag = (chosen.get("ctx") or {}).get("tag", "?")
        return ProtocolError(ErrorCode.UNKNOWN_METHOD, f"Method: unknown method {str(tag)[:64]!r}",
                             field="Method")
    if not chosen["loc"] and kind in {"dict_type", "model_type", "model_attributes_type"}:
        return ProtocolError(ErrorCode.MALFORMED_JSON, "a message must be a JSON object")
    if kind == "json_invalid":
        return ProtocolError(ErrorCode.MALFORMED_JSON, str(chosen["msg"]))
    code = _CODE_BY_ERROR_TYPE.get(kind, ErrorCode.INVALID_FIELD)
    message = _describe(chosen, field)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return ProtocolError(code, message, field=field)
