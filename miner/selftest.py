"""Known-answer self-test of every scorer, which is also the JIT warm-up: nothing is mined before it passes.

Neuraxon cases run through the miner's own path — a job built with the protocol models, prepared
by the scorer, scored nonce by nonce — and must reproduce integers recorded by the scoring package
(``tests/data/neuraxon-task/golden.csv`` and a walk from a parent). bpp9000 cases are qubic/core's
golden vectors (its example task file ships in ``miner/data``; the scores are core's, under the
two small configs of its regression file), scored with the kernels the miner uses on the pool of
the vectors' seed (~512 MiB, built in ~1-2 s and released afterwards).

The first call of each numba kernel compiles it or loads it from numba's on-disk cache
(``NUMBA_CACHE_DIR``), so the time this takes is also the JIT warm-up time. The daemon tests Neuraxon
at start and bpp9000 before its first bpp9000 job (so a Neuraxon-only miner neither waits for the
bpp9000 kernels nor holds a second pool); ``--dry-run`` and ``bench`` test every scorer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miner.scorers import JobInputs, PreparedWork, Scorer
from protocol.fields import Algo
from protocol.messages import JobParent, StratumJob

__all__ = ["SelfTestError", "SelfTestReport", "run_self_tests"]

#: tests/data/neuraxon-task/small.json (a small Neuraxon task; its K12 id is checked below).
SMALL_TASK: dict[str, Any] = {
    "name": "foraging-small",
    "seed": "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00",
    "environment": {"width": 8, "height": 8, "food_sources": 5, "rock_permille": 250},
    "network": {"hidden": 6, "max_synapses": 120, "connection_probability": 0.3},
    "lifetime_ticks": 40,
    "worlds": 3,
    "walk": {"steps": 12, "mutations": 2},
    "threshold": 400,
}
SMALL_TASK_ID = "5b56f0c592fe48f84b63ac879a5bf5caad62856fe4cccd4417c03f1fa318780b"

#: (task, identity, nonce, score) rows of golden.csv: ``None`` is the default task.
NEURAXON_CASES: tuple[tuple[dict[str, Any] | None, str, str, int], ...] = (
    (SMALL_TASK, "YSLYSDJVYSHFWGJNREMKQKMTQSIGYALKBPEHEWRGUETPYPQTIUWFOBPEKFQJ",
     "3f0e9c75e1e71da67c2f3dd18243d7b4dd204cc1d1e310fbe6b721d625609895", 145),
    (SMALL_TASK, "dd09e143426e2bd91f12fb42b899cf7eabfc8a6eb469d8c30e9e5373c87ecbef",
     "26f6867ac619eaf7203a5fa5e76d92462dc7cffb55d3e8d2942f9e8142d7a1cf", 138),
    (SMALL_TASK, "GWTYBTKNHFKLCGLYZSKPOAFLGXZGRUDEGOTJLKBZRAYTNCDYAZPEHERFVUWI",
     "8c8a7c9dcf58548f66c71aa95606041a113209856b376a1ff7dbddeb6fde6bb4", 170),
    (None, "YQGBOXZMWNVOGEUJDGDQASDMZRHEORCLIEKPEQDWFBAJUKNQLDACMHIDQJLL",
     "65d3dbae34de71fb2ee9a3fcbb4ed6d2573dc9543b84621546a0b63d2ab83027", 315),
)
#: A walk from a parent: the parent is the best network of (small task, identity, PARENT_NONCE).
PARENT_CASE = ("dd09e143426e2bd91f12fb42b899cf7eabfc8a6eb469d8c30e9e5373c87ecbef", "11" * 32, 147, "05" * 32, 164)


#: qubic/core's bpp9000 golden vectors: the mining seed, then (public key, nonce, {config: score}).
BPP9000_SEED = "f349f63bd013a7ded83287b1926908d79c2a8e0c6d1819cb0f7e61471dc2ef4d"
BPP9000_CONFIGS = ("18-1-128-32-5000-3-64-10-76", "18-1-512-128-20000-3-64-15-306")
BPP9000_CASES: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("2df80ea78a7fa3940c59f27bf94da2552e9ee220e4700433831d61db4a22d3bb",
     "ff5641eb73b62542df5f62c9bca76af664ff0d899da31c9087d09f3904decca5", (61, 245)),
    ("f052532ae1d5d6e7b82a6746fe4ca62cdd6c739ea4bd19a25a0d02d8c31f5a82",
     "51a234db0d8f905a497b655a49f929e7c38560c310a826b6d11579d88ef93b2e", (60, 239)),
    ("287ec0cfcf54e735920ba054de055ddc7c4a914a4231347516bac17394254d9c",
     "082b4d5a1e755ae26610d42a35d0a86ea5b40df89f7e0f08eaacf16de72589f1", (4294967295, 4294967295)),
)
#: qubic/core's example bpp9000 task file (test/data/example_task_bpp9000.bin), shipped with the miner.
BPP9000_TASK_FILE = Path(__file__).resolve().parent / "data" / "bpp9000_example_task.bin"


class SelfTestError(Exception):
    """A scorer computed a wrong known answer: this machine must not mine."""


@dataclass(frozen=True)
class SelfTestReport:
    """What passed, and how long it took (compile/cache load included)."""

    algo: str
    cases: int
    seconds: float


def _job(task: dict[str, Any], task_id: str, identity: str, parent: JobParent | None = None) -> StratumJob:
    return StratumJob(job_id="self-test", epoch=0, algo=Algo.NEURAXON, random_seed="01" * 32, identity=identity,
                      task_id=task_id, task=task, threshold=0, parent=parent, nonce_prefix="")


def _check(work: PreparedWork, nonce: str, expected: int, what: str) -> None:
    got = work.score(bytes.fromhex(nonce))
    if got != expected:
        raise SelfTestError(f"{what}: scored {got}, the known answer is {expected}")


def _neuraxon(scorer: Scorer) -> int:
    from scoring import neuraxon as NX  # noqa: PLC0415
    from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec  # noqa: PLC0415

    small = TaskSpec.from_dict(SMALL_TASK)
    if small.task_id.hex() != SMALL_TASK_ID:
        raise SelfTestError(f"the small task's id is {small.task_id.hex()}, expected {SMALL_TASK_ID}")
    cases = 0
    for task, identity, nonce, expected in NEURAXON_CASES:
        spec = DEFAULT_TASK if task is None else small
        work = scorer.prepare(JobInputs(_job(spec.to_dict(), spec.task_id.hex(), identity)))
        _check(work, nonce, expected, f"neuraxon {spec.name} {nonce[:8]}")
        cases += 1
    identity, parent_nonce, parent_score, nonce, expected = PARENT_CASE
    walk = NX.run_walk(small, identity, parent_nonce)
    if walk.score != parent_score:
        raise SelfTestError(f"neuraxon parent walk: scored {walk.score}, the known answer is {parent_score}")
    network = NX.export_network(NX.prepare(small), walk.genome)
    parent = JobParent(parent_id=NX.network_id(network), score=parent_score, network=network)
    work = scorer.prepare(JobInputs(_job(small.to_dict(), SMALL_TASK_ID, identity, parent), None, network))
    _check(work, nonce, expected, "neuraxon walk from a parent")
    return cases + 1


def _bpp9000() -> int:
    from scoring import bpp9000 as B  # noqa: PLC0415
    from scoring.bpp9000_pool import PoolCache  # noqa: PLC0415

    task = B.parse_task(BPP9000_TASK_FILE.read_bytes(), source=str(BPP9000_TASK_FILE))
    # A private cache: the vectors' pool must not evict (or outlive) the pool of a real job.
    pool = PoolCache(max_pools=1).get(bytes.fromhex(BPP9000_SEED))
    cases = 0
    for column, config_text in enumerate(BPP9000_CONFIGS):
        scorer = B.Bpp9000Scorer(pool, task, B.Bpp9000Config.parse(config_text))
        for key, nonce, expected in BPP9000_CASES:
            got = scorer.score(bytes.fromhex(key), bytes.fromhex(nonce))
            if got != expected[column]:
                raise SelfTestError(f"bpp9000 {config_text} {nonce[:8]}: scored {got}, qubic/core's answer is "
                                    f"{expected[column]}")
            cases += 1
    return cases


def run_self_tests(scorers: dict[Algo, Scorer], only: set[Algo] | None = None) -> list[SelfTestReport]:
    """Run the known answers of every scorer (or those in ``only``); :class:`SelfTestError` at the first wrong one."""
    reports = []
    for algo, scorer in scorers.items():
        if only is not None and algo not in only:
            continue
        started = time.perf_counter()
        cases = _neuraxon(scorer) if algo is Algo.NEURAXON else _bpp9000()
        reports.append(SelfTestReport(algo.label, cases, time.perf_counter() - started))
    return reports
