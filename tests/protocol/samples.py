"""Canonical sample messages and known identities shared by the protocol tests."""

from __future__ import annotations

import json
from pathlib import Path

from protocol import (
    Algo,
    ErrorCode,
    JobParent,
    Message,
    StratumAck,
    StratumJob,
    StratumLogin,
    StratumStats,
    StratumSubmit,
)

DATA_DIR = Path(__file__).parent / "data"

#: Known (identity, public key hex) pairs from public Qubic sources (see data/README.md).
KNOWN_IDENTITIES: list[tuple[str, str]] = [
    (entry["identity"], entry["public_key"])
    for entry in json.loads((DATA_DIR / "identities.json").read_text(encoding="utf-8"))
]

WALLET, WALLET_KEY_HEX = KNOWN_IDENTITIES[0]
SEED = "5a" * 32
NONCE = "0a0b" + "00" * 29 + "2a"
TASK_HASH = "c3" * 32


def neuraxon_job(**changes: object) -> StratumJob:
    """A working Neuraxon job with an inline task, a share threshold and a parent."""
    fields: dict[str, object] = {
        "job_id": "job-1",
        "epoch": 170,
        "algo": Algo.NEURAXON,
        "random_seed": SEED,
        "identity": WALLET,
        "task_id": "forage-7",
        "task": {"env": "foraging", "size": [16, 16], "world_seeds": [1, 2, 3], "note": None, "rate": 0.25},
        "threshold": 100,
        "share_threshold": 60,
        "parent": JobParent(parent_id="sol-42", score=90, network={"neurons": 12, "weights": [1, -1, 0]}),
        "nonce_prefix": "0a0b",
    }
    fields.update(changes)
    return StratumJob(**fields)


def bpp9000_job(**changes: object) -> StratumJob:
    """A working bpp9000 job referencing its binary task file."""
    fields: dict[str, object] = {
        "job_id": "job-2",
        "epoch": 171,
        "algo": Algo.BPP9000,
        "random_seed": SEED,
        "identity": WALLET,
        "task_id": "bpp9000",
        "task_url": "/api/v1/tasks/bpp9000",
        "task_hash": TASK_HASH,
        "threshold": 3000,
        "share_threshold": 3500,
        "nonce_prefix": "ff01",
    }
    fields.update(changes)
    return StratumJob(**fields)


def sample_messages() -> list[Message]:
    """One or more canonical instances of every message type."""
    submit = StratumSubmit(job_id="job-1", epoch=170, nonce=NONCE, claimed_score=123)
    return [
        StratumLogin(wallet=WALLET, worker="rig-01", os="Linux", version="0.1.0", threads=2),
        StratumLogin(access_token="eyJhbGciOi.x.y", worker="rig 02", os="", version="", threads=1),
        neuraxon_job(),
        bpp9000_job(),
        neuraxon_job(
            parent=JobParent(parent_id="sol-1", score=-5, network_url="https://example.org/n/1", network_hash=SEED),
            share_threshold=None,
            threshold=-10,
        ),
        StratumJob.idle(job_id="idle-1", epoch=170, identity=WALLET),
        submit,
        StratumAck.accepted(submit),
        StratumAck.rejected(ErrorCode.STALE_JOB, "job job-1 was replaced", submit=submit),
        StratumAck.rejected(ErrorCode.BAD_HEX, "Nonce: must contain only hex digits", field="Nonce"),
        StratumStats(it_per_sec=12.5, threads=2, solutions=3),
    ]
