"""The message models: wire names, round trips, invariants, and the helpers servers and miners use."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from protocol import (
    ACK_MESSAGE_TYPE,
    JOB_MESSAGE_TYPE,
    PROTOCOL_VERSION,
    Algo,
    ErrorCode,
    JobParent,
    ProtocolError,
    StratumAck,
    StratumJob,
    StratumLogin,
    StratumStats,
    StratumSubmit,
    decode,
    encode,
)
from tests.protocol.samples import (
    NONCE,
    SEED,
    TASK_HASH,
    WALLET,
    WALLET_KEY_HEX,
    bpp9000_job,
    neuraxon_job,
    sample_messages,
)

WIRE_KEYS = {
    "StratumLogin": ["Method", "MessageVersion", "Wallet", "Worker", "Os", "Version", "Threads"],
    "StratumSubmit": ["Method", "MessageVersion", "JobId", "Epoch", "Nonce", "ClaimedScore"],
    "StratumStats": ["Method", "MessageVersion", "ItPerSec", "Threads", "Solutions"],
}


@pytest.mark.parametrize("message", sample_messages(), ids=lambda m: m.METHOD)
def test_every_message_round_trips_exactly(message: object) -> None:
    text = encode(message)  # type: ignore[arg-type]
    assert decode(text) == message
    assert encode(decode(text)) == text
    assert decode(text.encode()) == message


def test_wire_names_are_pascal_case_with_envelope_first() -> None:
    checked = set()
    for message in sample_messages():
        keys = list(json.loads(encode(message)))
        assert keys[:2] == ["Method", "MessageVersion"]
        assert all(k[0].isupper() and "_" not in k for k in keys)
        if message.METHOD in WIRE_KEYS and message.METHOD not in checked:
            checked.add(message.METHOD)
            assert keys == WIRE_KEYS[message.METHOD]
    assert checked == set(WIRE_KEYS)


def test_job_and_ack_carry_pool_connect_message_types() -> None:
    assert json.loads(encode(neuraxon_job()))["MessageType"] == JOB_MESSAGE_TYPE == 501
    assert json.loads(encode(StratumAck.accepted()))["MessageType"] == ACK_MESSAGE_TYPE == 502
    assert json.loads(encode(neuraxon_job()))["MessageVersion"] == PROTOCOL_VERSION


def test_unset_optional_fields_are_omitted_but_json_nulls_inside_a_task_survive() -> None:
    wire = json.loads(encode(bpp9000_job()))
    assert "Task" not in wire and "Parent" not in wire
    assert json.loads(encode(neuraxon_job()))["Task"]["note"] is None


def test_models_are_frozen_and_reject_unknown_fields() -> None:
    job = neuraxon_job()
    with pytest.raises(ValidationError):
        job.epoch = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        StratumSubmit(job_id="j", epoch=1, nonce=NONCE, claimed_score=1, bonus=1)  # type: ignore[call-arg]


def test_hex_is_normalised_to_lower_case_and_identities_to_letters() -> None:
    job = neuraxon_job(random_seed=SEED.upper(), identity=WALLET_KEY_HEX.upper(), nonce_prefix="0A0B")
    assert job.random_seed == SEED and job.identity == WALLET and job.nonce_prefix == "0a0b"
    assert job.public_key.hex() == WALLET_KEY_HEX


# -- login -----------------------------------------------------------------------------------------


def test_login_needs_exactly_one_credential() -> None:
    base = {"worker": "w", "os": "Linux", "version": "1", "threads": 1}
    with pytest.raises(ValidationError, match="exactly one of AccessToken and Wallet"):
        StratumLogin(**base)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="exactly one of AccessToken and Wallet"):
        StratumLogin(access_token="t", wallet=WALLET, **base)  # type: ignore[arg-type]
    assert StratumLogin(access_token="t", **base).wallet is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"worker": ""}, "at least 1"),
        ({"worker": "a\nb"}, "pattern"),
        ({"threads": 0}, "greater than or equal to 1"),
        ({"wallet": WALLET.lower()}, "upper-case"),
    ],
)
def test_login_fields_are_checked(changes: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"wallet": WALLET, "worker": "w", "os": "", "version": "", "threads": 1}
    fields.update(changes)
    with pytest.raises(ValidationError, match=match):
        StratumLogin(**fields)  # type: ignore[arg-type]


# -- job -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: neuraxon_job(task_url="/t", task_hash=TASK_HASH), "TaskUrl: give exactly one of Task and TaskUrl"),
        (lambda: neuraxon_job(task=None), "Task: a working job needs Task or TaskUrl"),
        (lambda: bpp9000_job(task_hash=None), "TaskHash is required with TaskUrl"),
        (lambda: neuraxon_job(task_hash=TASK_HASH), "TaskHash is required with TaskUrl"),
        (lambda: bpp9000_job(task={"x": 1}, task_url=None, task_hash=None), "bpp9000 tasks are binary files"),
        (lambda: bpp9000_job(task_url="ftp://host/t"), "http\\(s\\) URL"),
        (lambda: bpp9000_job(task_url="/a b"), "without spaces"),
        (lambda: neuraxon_job(share_threshold=101), "ShareThreshold: must not be harder"),
        (lambda: bpp9000_job(share_threshold=2999), "ShareThreshold: must not be harder"),
        (lambda: neuraxon_job(algo=2), "must be 0 \\(neuraxon\\) or 1"),
        (lambda: neuraxon_job(algo=True), "must be the integer 0"),
        (lambda: neuraxon_job(epoch=70000), "less than or equal to 65535"),
        (lambda: neuraxon_job(job_id="a/b"), "pattern"),
        (lambda: neuraxon_job(nonce_prefix="abc"), "whole bytes"),
        (lambda: neuraxon_job(nonce_prefix="00" * 9), "0..8 bytes"),
        (lambda: neuraxon_job(task={"x": float("nan")}), "finite"),
        (lambda: neuraxon_job(task={"x": ["\ud800"]}), "lone surrogates"),
        (lambda: neuraxon_job(task={"\udfff": 1}), "lone surrogates"),
        (lambda: neuraxon_job(task={"x": {1, 2}}), "only JSON values"),
        (lambda: neuraxon_job(threshold=2**53), "less than or equal to 9007199254740991"),
        (lambda: neuraxon_job(parent=JobParent(parent_id="p", score=1)), "exactly one of Network and NetworkUrl"),
        (
            lambda: neuraxon_job(parent=JobParent(parent_id="p", score=1, network={}, network_url="/n")),
            "exactly one of Network and NetworkUrl",
        ),
        (
            lambda: neuraxon_job(parent=JobParent(parent_id="p", score=1, network_url="/n")),
            "NetworkHash is required with NetworkUrl",
        ),
    ],
)
def test_inconsistent_jobs_are_rejected(make: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        make()  # type: ignore[operator]


def test_idle_job_needs_no_task_and_stops_work() -> None:
    idle = StratumJob.idle(job_id="i", epoch=3, identity=WALLET)
    assert idle.is_idle and idle.task is None and idle.task_url is None
    assert not neuraxon_job().is_idle
    assert not idle.is_solution(10**9) and not idle.is_share(10**9)
    assert neuraxon_job(random_seed="00" * 32, task=None).is_idle


def test_neuraxon_scores_count_upward_and_must_beat_the_parent() -> None:
    job = neuraxon_job()  # threshold 100, share 60, parent 90
    assert job.is_solution(100) and not job.is_solution(99)
    assert job.is_share(95) and not job.is_solution(95)
    assert not job.is_share(90)  # meets the share threshold but does not beat the parent
    assert not job.is_share(59)
    no_parent = neuraxon_job(parent=None)
    assert no_parent.is_share(60) and no_parent.beats_parent(-(10**6))


def test_bpp9000_scores_count_errors_downward() -> None:
    job = bpp9000_job()  # threshold 3000, share 3500, no parent
    assert job.is_solution(3000) and not job.is_solution(3001)
    assert job.is_share(3500) and not job.is_share(3501)
    with_parent = bpp9000_job(parent=JobParent(parent_id="p", score=2000, network={"lut": []}))
    assert with_parent.is_solution(1999) and not with_parent.is_solution(2000)


def test_shares_are_full_solutions_without_share_threshold() -> None:
    job = neuraxon_job(share_threshold=None, parent=None)
    assert job.is_share(100) and not job.is_share(99)


def test_job_builds_nonces_in_its_prefix_and_submits_them() -> None:
    job = neuraxon_job()
    space = job.nonce_space()
    nonce = space.child(1, 2).nonce(7)
    assert job.owns_nonce(nonce) and not job.owns_nonce("ff" * 32)
    submit = job.submit(bytes.fromhex(nonce), 120)
    assert (submit.job_id, submit.epoch, submit.nonce, submit.claimed_score) == ("job-1", 170, nonce, 120)


def test_bpp9000_prefix_follows_the_three_head_bytes() -> None:
    job = bpp9000_job()
    with pytest.raises(ValueError, match="3 head bytes"):
        job.nonce_space()
    with pytest.raises(ValueError, match="must be 3 bytes"):
        job.nonce_space(b"\x01")
    nonce = job.nonce_space(bytes([1, 10, 0])).nonce(5)
    assert nonce.startswith("010a00ff01") and job.owns_nonce(nonce)
    assert not job.owns_nonce("ff01" + "00" * 30)
    with pytest.raises(ValueError, match="head must be 0 bytes"):
        neuraxon_job().nonce_space(b"\x00")


# -- ack -------------------------------------------------------------------------------------------


def test_ack_success_must_match_code() -> None:
    with pytest.raises(ValidationError, match="Success: must be true exactly when Code is 0"):
        StratumAck(success=True, code=ErrorCode.STALE_JOB)
    with pytest.raises(ValidationError, match="Success"):
        StratumAck(success=False, code=0)
    with pytest.raises(ValueError, match="needs an error code"):
        StratumAck.rejected(ErrorCode.OK, "fine")


def test_ack_from_protocol_error_keeps_code_message_and_field() -> None:
    err = ProtocolError(ErrorCode.BAD_HEX, "Nonce: bad", field="Nonce")
    submit = StratumSubmit(job_id="j", epoch=1, nonce=NONCE, claimed_score=1)
    ack = StratumAck.from_error(err, submit)
    assert (ack.success, ack.code, ack.message, ack.field, ack.job_id, ack.nonce) == (
        False, 105, "Nonce: bad", "Nonce", "j", NONCE,
    )
    assert ack.error_code is ErrorCode.BAD_HEX and not ack.closes_connection


def test_ack_text_is_made_wire_safe() -> None:
    ack = StratumAck.rejected(ErrorCode.INTERNAL, "boom\x00\r\n\ud800" + "x" * 2000)
    assert ack.message.startswith("boom??\n?") and len(ack.message) == 1024
    assert decode(encode(ack)) == ack


def test_ack_with_a_code_from_a_newer_version_still_decodes() -> None:
    ack = StratumAck(success=False, code=999)
    assert ack.error_code is None and not ack.closes_connection
    assert decode(encode(ack)) == ack
    assert StratumAck.rejected(ErrorCode.UNAUTHORIZED, "bad token").closes_connection


# -- stats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [-1.0, float("inf"), float("nan")])
def test_stats_rate_must_be_finite_and_non_negative(rate: float) -> None:
    with pytest.raises(ValidationError):
        StratumStats(it_per_sec=rate, threads=1, solutions=0)


def test_algo_labels_and_directions() -> None:
    assert [a.label for a in Algo] == ["neuraxon", "bpp9000"]
    assert Algo.NEURAXON.higher_is_better and not Algo.BPP9000.higher_is_better
    assert (Algo.NEURAXON.nonce_head_bytes, Algo.BPP9000.nonce_head_bytes) == (0, 3)
