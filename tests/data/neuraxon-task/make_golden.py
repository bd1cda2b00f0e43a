"""Regenerate golden.csv: (task, identity, nonce, score) rows of the Neuraxon task scorer.

Every row's score is computed by the numba scorer; rows of the small task are also recomputed by
the plain-Python twin and the script stops if the two disagree. Run from the repository root:
``.venv/bin/python tests/data/neuraxon-task/make_golden.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from Crypto.Hash import KangarooTwelve

from protocol.identity import identity_from_public_key
from scoring import neuraxon as NX
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec
from tests.naive import neuraxon_task as naive

HERE = Path(__file__).resolve().parent


def main() -> None:
    small = TaskSpec.from_dict(json.loads((HERE / "small.json").read_text()))
    rows = []
    for i in range(60):
        task_name, task = ("default", DEFAULT_TASK) if i < 30 else ("small", small)
        pk = KangarooTwelve.new(data=b"golden identity %d" % i).read(32)
        nonce = KangarooTwelve.new(data=b"golden nonce %d" % i).read(32)
        identity = identity_from_public_key(pk) if i % 2 == 0 else pk.hex()
        value = NX.score(task, identity, nonce)
        if task_name == "small":
            twin, _ = naive.score(task, pk, nonce)
            if twin != value:
                raise SystemExit(f"row {i}: numba {value} != twin {twin}")
        rows.append((task_name, identity, nonce.hex(), value))
    with (HERE / "golden.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["task", "identity", "nonce", "score"])
        w.writerows(rows)
    print(f"wrote {len(rows)} rows")


if __name__ == "__main__":
    main()
