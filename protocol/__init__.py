"""Wire protocol: pydantic models, identities, error codes, and the reference work server.

The single definition of the wire format (house style rule 4: nothing else builds JSON by hand).
Typical use::

    from protocol import StratumSubmit, decode, encode

    frame = encode(job.submit(nonce, claimed_score=score))      # miner → server
    message = decode(frame)                                     # raises ProtocolError only

See ``docs/protocol.md`` for the message catalogue, error codes and close policy.
"""

from protocol.codec import (
    DEFAULT_MAX_FRAME_BYTES,
    JobTemplate,
    decode,
    decode_as,
    encode,
    encode_bytes,
    validate_object,
)
from protocol.errors import CLOSE_POLICY, ClosePolicy, ErrorCode, ProtocolError
from protocol.fields import Algo
from protocol.identity import (
    IdentityError,
    identity_from_public_key,
    is_valid_identity,
    normalize_identity,
    parse_public_key,
    public_key_from_identity,
)
from protocol.messages import (
    ACK_MESSAGE_TYPE,
    CLIENT_MESSAGES,
    JOB_MESSAGE_TYPE,
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    SUPPORTED_VERSIONS,
    JobParent,
    Message,
    StratumAck,
    StratumJob,
    StratumLogin,
    StratumStats,
    StratumSubmit,
)
from protocol.nonce import NonceSpace, make_nonce, nonce_in_prefix, prefix_for_worker

__all__ = [
    "ACK_MESSAGE_TYPE",
    "CLIENT_MESSAGES",
    "CLOSE_POLICY",
    "DEFAULT_MAX_FRAME_BYTES",
    "JOB_MESSAGE_TYPE",
    "PROTOCOL_VERSION",
    "SERVER_MESSAGES",
    "SUPPORTED_VERSIONS",
    "Algo",
    "ClosePolicy",
    "ErrorCode",
    "IdentityError",
    "JobParent",
    "JobTemplate",
    "Message",
    "NonceSpace",
    "ProtocolError",
    "StratumAck",
    "StratumJob",
    "StratumLogin",
    "StratumStats",
    "StratumSubmit",
    "decode",
    "decode_as",
    "encode",
    "encode_bytes",
    "identity_from_public_key",
    "is_valid_identity",
    "make_nonce",
    "nonce_in_prefix",
    "normalize_identity",
    "parse_public_key",
    "prefix_for_worker",
    "public_key_from_identity",
    "validate_object",
]
