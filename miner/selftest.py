"""Known-answer self-test of every scorer, which is also the JIT warm-up: nothing is mined before it passes.

The known answers are the scoring registry's (``Algorithm.known_answers``: reference scores from an
independent source, e.g. ``tests/data/neuraxon-task/golden.csv`` and qubic/core's golden bpp9000
vectors). A case a job can express runs through the miner's own path — a job built with the
protocol models, prepared by the scorer, scored on the chosen backend as a worker scores it; a case
a job cannot carry (bpp9000's small regression configs) is prepared by the registry entry directly
and scored on the same backend. Cases whose walk starts from a parent first recompute the parent
(a known answer too) and export its network. Resources a case needs (bpp9000's ~512 MiB pool of the
vectors' seed) are private to the test and released afterwards.

The first call of each numba kernel compiles it or loads it from numba's on-disk cache
(``NUMBA_CACHE_DIR``), so the time this takes is also the JIT warm-up time. The daemon tests Neuraxon
(every version) at start and each other registry entry before the first job of that entry
(:func:`self_test_entry`: a bpp9000 v1.301 job runs v1.301's cases only, so a miner neither waits
for kernels nor builds pools of a version it is not asked to mine); ``--dry-run`` tests every scorer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from miner.scorers import JobInputs, PreparedWork, Scorer
from protocol.fields import Algo
from protocol.identity import identity_from_public_key
from protocol.messages import JobParent, StratumJob
from scoring import registry
from scoring.ids import k12_hex

__all__ = ["SelfTestError", "SelfTestReport", "check_backend", "run_self_tests", "self_test_entry"]


class SelfTestError(Exception):
    """A scorer computed a wrong known answer: this machine must not mine."""


@dataclass(frozen=True)
class SelfTestReport:
    """What passed, and how long it took (compile/cache load included)."""

    algo: str
    cases: int
    seconds: float


def _parent(entry: registry.Algorithm, case: registry.KnownAnswer) -> registry.Parent | None:
    if case.parent_walk is None:
        return None
    nonce, expected = case.parent_walk
    prepared = entry.prepare(case.task, seed=case.seed, shared=False)
    walk = entry.walk(prepared, case.public_key, nonce)
    if walk.score != expected:
        raise SelfTestError(f"{case.label}: the parent's walk scored {walk.score}, the known answer is {expected}")
    network = entry.export_network(prepared, walk)
    if network is None:
        raise SelfTestError(f"{case.label}: {entry.name} exported no network for the parent")
    return registry.Parent(network, walk.score)


def _job_inputs(entry: registry.Algorithm, case: registry.KnownAnswer,
                parent: registry.Parent | None) -> JobInputs | None:
    """The case as a job and what a miner would download for it; ``None`` if a job cannot carry it."""
    description = entry.describe_task(case.task)
    if description is None:
        return None
    inline = description if isinstance(description, dict) else None
    document = description if isinstance(description, bytes) else None
    job = StratumJob(
        job_id="self-test", epoch=0, algo=Algo(entry.algo), random_seed=(case.seed or bytes([1]) * 32).hex(),
        identity=identity_from_public_key(case.public_key), task_id=entry.task_id(case.task) or "self-test",
        task=inline, task_url=None if document is None else "/self-test",
        task_hash=None if document is None else k12_hex(document), threshold=0,
        parent=None if parent is None else JobParent(parent_id=parent.id, score=parent.score, network=parent.network),
        nonce_prefix="")
    return JobInputs(job, document, None if parent is None else parent.network)


def _check(work: PreparedWork, case: registry.KnownAnswer) -> None:
    got = work.score_batch([case.nonce])[0]
    if got != case.score:
        raise SelfTestError(f"{case.label}: scored {got}, the known answer is {case.score}")


def _entry_cases(scorer: Scorer, entry: registry.Algorithm) -> int:
    cases = 0
    for case in entry.known_answers():
        parent = _parent(entry, case)
        inputs = _job_inputs(entry, case, parent)
        if inputs is not None:
            work = scorer.prepare(inputs)
        else:
            prepared = entry.prepare(case.task, seed=case.seed, parent=parent, shared=False)
            work = scorer.bind(entry, prepared, case.public_key)
        _check(work, case)
        cases += 1
    return cases


def self_test_entry(scorer: Scorer, entry: registry.Algorithm) -> SelfTestReport:
    """Run one registry entry's (one version's) known answers on ``scorer`` (its family's); :class:`SelfTestError`
    at the first wrong one. The report is named after the entry (``bpp9000-v1301``)."""
    started = time.perf_counter()
    cases = _entry_cases(scorer, entry)
    return SelfTestReport(entry.name, cases, time.perf_counter() - started)


def check_backend(entry: registry.Algorithm, backend: registry.Backend) -> None:
    """Run ``entry``'s known answers on ``backend`` (how ``--backend auto`` vets a GPU); :class:`SelfTestError`
    at the first wrong one."""
    for case in entry.known_answers():
        prepared = entry.prepare(case.task, seed=case.seed, parent=_parent(entry, case), shared=False)
        got = backend.bind(entry, prepared).score_batch(case.public_key, [case.nonce])[0]
        if got != case.score:
            raise SelfTestError(f"{case.label} on {backend.name}: scored {got}, the known answer is {case.score}")


def run_self_tests(scorers: dict[Algo, Scorer], only: set[Algo] | None = None) -> list[SelfTestReport]:
    """Run the known answers of every scorer (or those in ``only``); :class:`SelfTestError` at the first wrong one."""
    reports = []
    for algo, scorer in scorers.items():
        if only is not None and algo not in only:
            continue
        started = time.perf_counter()
        cases = sum(_entry_cases(scorer, entry) for entry in registry.entries() if entry.algo == scorer.algo)
        reports.append(SelfTestReport(algo.label, cases, time.perf_counter() - started))
    return reports
