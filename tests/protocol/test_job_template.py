"""``JobTemplate.frame`` is exactly ``encode(job.reissue(...))``, for every kind of job."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import JobTemplate, StratumJob, encode, identity_from_public_key
from tests.protocol.test_fuzz import jobs


@settings(max_examples=200, deadline=None)
@given(job=jobs(), job_id=st.from_regex(r"[A-Za-z0-9._:\-]{1,64}", fullmatch=True),
       prefix=st.binary(max_size=8).map(bytes.hex), key=st.binary(min_size=32, max_size=32),
       share_delta=st.none() | st.integers(0, 10**6))
def test_frame_equals_encoding_the_reissued_job(job: StratumJob, job_id: str, prefix: str, key: bytes,
                                                share_delta: int | None) -> None:
    template = JobTemplate(job)
    share = None
    if share_delta is not None and not job.is_idle:
        share = job.threshold - share_delta if job.algo.higher_is_better else job.threshold + share_delta
        share = max(-(2**53) + 1, min(2**53 - 1, share))
    identity = identity_from_public_key(key)
    fields = {"job_id": job_id, "nonce_prefix": prefix, "share_threshold": share, "identity": identity}
    assert template.frame(**fields) == encode(template.issue(**fields)) == encode(job.reissue(**fields))


def test_reissue_checks_its_fields() -> None:
    job = StratumJob(job_id="t", epoch=1, algo=0, random_seed="11" * 32, identity=identity_from_public_key(bytes(32)),
                     task_id="t", task_url="/t", task_hash="22" * 32, threshold=10, nonce_prefix="")
    template = JobTemplate(job)
    for bad in ({"job_id": "no spaces"}, {"nonce_prefix": "0g"}, {"share_threshold": 11},
                {"identity": "A" * 60}, {"share_threshold": True}):
        kwargs = {"job_id": "j", "nonce_prefix": "", **bad}
        with pytest.raises(ValueError):
            template.frame(**kwargs)  # type: ignore[arg-type]
