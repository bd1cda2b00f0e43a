"""Stable numeric error codes, the close policy, and :class:`ProtocolError`.

Every rejection on the wire carries one :class:`ErrorCode` in a ``StratumAck``'s ``Code``. The numbers
are part of the protocol: they never change meaning and are never reused. Codes are grouped by the
hundreds digit so a client can reason about a code it does not know yet:

* ``1xx`` the message itself is bad (framing, JSON, fields) — the sender's bug;
* ``2xx`` authentication and session state;
* ``3xx`` a well-formed submission that the server rejects after checking it;
* ``4xx`` flow control — retry later;
* ``5xx`` the server's own trouble.

:data:`CLOSE_POLICY` is the single definition of which codes close the connection; ``docs/protocol.md``
documents it and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "CLOSE_POLICY",
    "ClosePolicy",
    "ErrorCode",
    "ProtocolError",
]


class ErrorCode(IntEnum):
    """Numeric result code of a ``StratumAck`` (``Code``); ``OK`` is the only success."""

    OK = 0

    # 1xx: the message is malformed.
    MALFORMED_JSON = 100
    """Not UTF-8, not JSON, or not a JSON object."""
    FRAME_TOO_LARGE = 101
    """The frame exceeds the receiver's size limit (checked before parsing)."""
    UNKNOWN_METHOD = 102
    """``Method`` names no message of this protocol."""
    UNSUPPORTED_VERSION = 103
    """``MessageVersion`` is not one the receiver speaks."""
    INVALID_FIELD = 104
    """A field is missing, unexpected, of the wrong type or out of range (``Field`` says which)."""
    BAD_HEX = 105
    """A hex field (seed, nonce, hash, nonce prefix) has the wrong length or non-hex characters."""
    BAD_IDENTITY = 106
    """An identity is neither a valid 60-letter Qubic ID (checksum included) nor 64 hex digits."""
    UNEXPECTED_MESSAGE = 107
    """A valid message that this endpoint does not accept (e.g. a job sent to the server)."""

    # 2xx: authentication and session.
    UNAUTHORIZED = 200
    """Bad access token or wallet at login."""
    LOGIN_REQUIRED = 201
    """A submit or stats message arrived before a successful login."""

    # 3xx: the submission was checked and rejected.
    STALE_JOB = 300
    """The job was replaced; work on the newest job."""
    UNKNOWN_JOB = 301
    """No job with this ``JobId`` was issued to this worker."""
    WRONG_EPOCH = 302
    """``Epoch`` does not match the job's epoch."""
    DUPLICATE = 303
    """This (identity, task, nonce) was already submitted."""
    NONCE_OUT_OF_RANGE = 304
    """The nonce lies outside the worker's ``NoncePrefix``."""
    INVALID_NONCE = 305
    """The nonce breaks the algorithm's canonical layout (e.g. bpp9000's header bytes)."""
    SCORE_MISMATCH = 306
    """The recomputed score differs from ``ClaimedScore``."""
    BELOW_THRESHOLD = 307
    """The score misses both ``Threshold`` and ``ShareThreshold``."""
    PARENT_NOT_BEATEN = 308
    """The job names a parent and the score does not improve on it."""
    WRONG_PARENT = 309
    """The submit's ``ParentId`` is not the parent its job extends (a chain solution names its parent)."""

    # 4xx: flow control.
    RATE_LIMITED = 400
    """Too many messages; slow down."""
    SERVER_BUSY = 401
    """The verification queue is full; resubmit later."""

    # 5xx: server side.
    INTERNAL = 500
    """An unexpected server fault; the message was not stored."""
    SHUTTING_DOWN = 501
    """The server is stopping; reconnect later."""

    @property
    def closes_connection(self) -> bool:
        """Whether the server closes the connection right after sending this code."""
        return self in CLOSE_POLICY.always_close

    @property
    def counts_as_strike(self) -> bool:
        """Whether this code counts toward the per-connection strike limit (see :class:`ClosePolicy`)."""
        return self in CLOSE_POLICY.strike_codes

    @property
    def http_status(self) -> int:
        """HTTP status for pull mode; submit verdicts (``3xx`` codes) are ``200`` with an error ack."""
        return _HTTP_STATUS.get(self, 200)

    @property
    def ws_close_code(self) -> int:
        """RFC 6455 close code the server uses when this code ends a WebSocket session."""
        return _WS_CLOSE.get(self, 1008)


@dataclass(frozen=True)
class ClosePolicy:
    """Which error codes end a connection.

    * ``always_close``: the server sends the error ack, then closes at once.
    * ``strike_codes``: malformed-message codes. Each counts one strike; a valid message resets the
      count; at ``max_strikes`` consecutive strikes the server closes (with the last code). One bad
      frame therefore never costs a miner its session, but a peer that sends only garbage is dropped.
    * Every other code is answered with an error ack and the connection stays open.
    """

    always_close: frozenset[ErrorCode]
    strike_codes: frozenset[ErrorCode]
    max_strikes: int


CLOSE_POLICY = ClosePolicy(
    always_close=frozenset(
        {
            ErrorCode.FRAME_TOO_LARGE,
            ErrorCode.UNSUPPORTED_VERSION,
            ErrorCode.UNAUTHORIZED,
            ErrorCode.SHUTTING_DOWN,
        }
    ),
    strike_codes=frozenset(
        {
            ErrorCode.MALFORMED_JSON,
            ErrorCode.UNKNOWN_METHOD,
            ErrorCode.INVALID_FIELD,
            ErrorCode.BAD_HEX,
            ErrorCode.BAD_IDENTITY,
            ErrorCode.UNEXPECTED_MESSAGE,
        }
    ),
    max_strikes=16,
)

_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.FRAME_TOO_LARGE: 413,
    ErrorCode.UNKNOWN_METHOD: 400,
    ErrorCode.UNSUPPORTED_VERSION: 400,
    ErrorCode.INVALID_FIELD: 400,
    ErrorCode.BAD_HEX: 400,
    ErrorCode.BAD_IDENTITY: 400,
    ErrorCode.UNEXPECTED_MESSAGE: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.LOGIN_REQUIRED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SERVER_BUSY: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.SHUTTING_DOWN: 503,
}

_WS_CLOSE: dict[ErrorCode, int] = {
    ErrorCode.OK: 1000,
    ErrorCode.FRAME_TOO_LARGE: 1009,
    ErrorCode.UNSUPPORTED_VERSION: 1002,
    ErrorCode.INTERNAL: 1011,
    ErrorCode.SHUTTING_DOWN: 1001,
}


class ProtocolError(Exception):
    """A message could not be accepted; carries the wire ``Code`` and, when known, the field.

    ``field`` is the wire path of the offending field (``"RandomSeed"``, ``"Parent.Score"``,
    ``"Task.env.size"``) or ``None`` when the fault is the frame as a whole.
    ``str(err)`` is the human-readable message that goes into the ack's ``Message``.
    """

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    @property
    def closes_connection(self) -> bool:
        """Shortcut for ``self.code.closes_connection``."""
        return self.code.closes_connection

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.name}, {self.message!r}, field={self.field!r})"
