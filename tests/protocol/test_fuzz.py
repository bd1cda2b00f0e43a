"""Property tests: generated messages round-trip; mutated or random frames raise only ProtocolError.

The default run decodes about 2,000 generated frames in a few seconds; ``-m slow`` runs 20x more.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import (
    Algo,
    JobParent,
    Message,
    ProtocolError,
    StratumAck,
    StratumJob,
    StratumLogin,
    StratumStats,
    StratumSubmit,
    decode,
    encode,
    identity_from_public_key,
)
from tests.protocol.samples import sample_messages

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=6000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WIRE_NAMES = sorted(
    {
        field.alias or name
        for model in (StratumLogin, StratumJob, StratumSubmit, StratumAck, StratumStats, JobParent)
        for name, field in model.model_fields.items()
    }
)

# -- strategies for valid messages ---------------------------------------------------------------

safe_ints = st.integers(-(2**53) + 1, 2**53 - 1)
hex32 = st.binary(min_size=32, max_size=32).map(bytes.hex) | st.binary(min_size=32, max_size=32).map(
    lambda b: b.hex().upper()
)
identities = st.binary(min_size=32, max_size=32).map(identity_from_public_key) | hex32
ids = st.from_regex(r"[A-Za-z0-9._:\-]{1,64}", fullmatch=True)
short_text = st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=64)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
urls = st.sampled_from(["/api/v1/tasks/1", "https://example.org/t?x=1", "http://10.0.0.1:8080/n"])
prefixes = st.binary(max_size=8).map(bytes.hex)


@st.composite
def parents(draw: st.DrawFn) -> JobParent:
    inline = draw(st.booleans())
    return JobParent(
        parent_id=draw(ids),
        score=draw(safe_ints),
        network=draw(json_objects) if inline else None,
        network_url=None if inline else draw(urls),
        network_hash=None if inline else draw(hex32),
    )


@st.composite
def jobs(draw: st.DrawFn) -> StratumJob:
    algo = draw(st.sampled_from(list(Algo)))
    inline = algo is Algo.NEURAXON and draw(st.booleans())
    threshold = draw(safe_ints)
    share = draw(st.none() | safe_ints)
    if share is not None:
        easier = share <= threshold if algo.higher_is_better else share >= threshold
        assume(easier)
    return StratumJob(
        job_id=draw(ids),
        epoch=draw(st.integers(0, 0xFFFF)),
        algo=algo,
        random_seed=draw(hex32),
        identity=draw(identities),
        task_id=draw(ids),
        task=draw(json_objects) if inline else None,
        task_url=None if inline else draw(urls),
        task_hash=None if inline else draw(hex32),
        threshold=threshold,
        share_threshold=share,
        parent=draw(st.none() | parents()),
        nonce_prefix=draw(prefixes),
    )


@st.composite
def logins(draw: st.DrawFn) -> StratumLogin:
    token = draw(st.booleans())
    return StratumLogin(
        access_token=draw(st.from_regex(r"[!-~]{1,200}", fullmatch=True)) if token else None,
        wallet=None if token else draw(identities),
        worker=draw(short_text.filter(bool)),
        os=draw(short_text),
        version=draw(short_text),
        threads=draw(st.integers(1, 0xFFFF)),
    )


submits = st.builds(StratumSubmit, job_id=ids, epoch=st.integers(0, 0xFFFF), nonce=hex32, claimed_score=safe_ints)
stats = st.builds(
    StratumStats,
    it_per_sec=st.floats(0, 1e12, allow_nan=False),
    threads=st.integers(0, 0xFFFF),
    solutions=st.integers(0, 2**53 - 1),
)
acks = st.builds(
    lambda code, message, submit, field: StratumAck(
        success=code == 0, code=code, message=message, job_id=submit.job_id if submit else None,
        nonce=submit.nonce if submit else None, field=field,
    ),
    st.integers(0, 999),
    short_text,
    st.none() | submits,
    st.none() | short_text,
)
messages = st.one_of(jobs(), logins(), submits, stats, acks)


def assert_decodes_or_rejects(frame: str | bytes) -> None:
    """The decode contract: a message that round-trips, or a ProtocolError — nothing else."""
    try:
        message = decode(frame)
    except ProtocolError as err:
        assert err.message
        StratumAck.from_error(err)  # every error is expressible on the wire
        return
    assert decode(encode(message)) == message


# -- properties -------------------------------------------------------------------------------------


@FAST
@given(messages)
def test_generated_messages_round_trip(message: Message) -> None:
    text = encode(message)
    assert decode(text) == message
    assert encode(decode(text)) == text


@st.composite
def json_mutations(draw: st.DrawFn) -> str:
    base: dict[str, Any] = json.loads(encode(draw(st.sampled_from(sample_messages()))))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(WIRE_NAMES) | st.sampled_from(sorted(base)) | st.text(max_size=12))
        action = draw(st.sampled_from(["set", "delete", "set-scalar"]))
        if action == "delete":
            base.pop(key, None)
        elif action == "set":
            base[key] = draw(json_values)
        else:
            base[key] = draw(
                st.integers() | st.floats() | st.text() | hex32 | st.sampled_from([True, False, None, "", 0, 501])
            )
    return json.dumps(base)


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    frame = bytearray(encode(draw(st.sampled_from(sample_messages()))).encode())
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(frame)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and pos < len(frame):
            frame[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del frame[pos : pos + draw(st.integers(1, 8))]
        else:
            del frame[pos:]
    return bytes(frame)


@FAST
@given(json_mutations())
def test_mutated_fields_raise_only_protocol_errors(frame: str) -> None:
    assert_decodes_or_rejects(frame)


@FAST
@given(byte_mutations())
def test_mutated_bytes_raise_only_protocol_errors(frame: bytes) -> None:
    assert_decodes_or_rejects(frame)


@FAST
@given(json_values.map(json.dumps) | st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_input_raises_only_protocol_errors(frame: str | bytes) -> None:
    assert_decodes_or_rejects(frame)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([StratumJob, StratumLogin, StratumSubmit, StratumAck, StratumStats]), json_objects)
def test_constructors_raise_validation_errors_not_crashes(model: type, fields: dict[str, Any]) -> None:
    with contextlib.suppress(ValidationError):
        model(**fields)


@pytest.fixture(scope="module")
def slow_selected(request: pytest.FixtureRequest) -> None:
    """Skip unless the run asked for slow tests (``-m slow``); the project default does not."""
    if "slow" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("long fuzz run: use -m slow")


@pytest.mark.slow
@pytest.mark.usefixtures("slow_selected")
@SLOW
@given(json_mutations() | byte_mutations() | messages.map(encode))
def test_many_mutations_raise_only_protocol_errors(frame: str | bytes) -> None:
    assert_decodes_or_rejects(frame)
