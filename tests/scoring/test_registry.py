"""The scoring registry: keys and resolution, golden vectors through it, preparation, backends."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from protocol.fields import Algo
from scoring import bpp9000_frame as F
from scoring import registry
from scoring.algorithms.neuraxon_v1 import SMALL_TASK, NeuraxonV1
from scoring.bpp9000_task import Bpp9000Config, Bpp9000Spec, read_task_file
from scoring.ids import public_key
from scoring.neuraxon_task import DEFAULT_TASK, TaskSpec
from tests.bpp9000_frame_vectors import solo_rows
from tests.bpp9000_vectors import TASK as BPP9000_TASK
from tests.bpp9000_vectors import config_texts, rows

DATA = Path(__file__).resolve().parent.parent / "data" / "neuraxon-task"
SMALL_JSON = (DATA / "small.json").read_bytes()


def test_every_wire_algorithm_has_a_family_and_the_wire_rules_come_from_it() -> None:
    assert set(registry.FAMILIES) == {int(a) for a in Algo}
    for algo in Algo:
        family = registry.family(algo)
        assert family.name == algo.label
        assert algo.higher_is_better == family.higher_is_better
        assert algo.nonce_head_bytes == family.nonce_head_bytes == len(registry.default_entry(algo).nonce_head({}))
    assert Algo.NEURAXON.higher_is_better and not Algo.BPP9000.higher_is_better


def test_keys_are_algo_and_version_resolved_from_the_task_description() -> None:
    neuraxon = registry.lookup(0, "v1")
    assert (neuraxon.name, neuraxon.algo, neuraxon.version) == ("neuraxon", 0, "v1")
    assert registry.resolve(Algo.NEURAXON, DEFAULT_TASK.to_dict()) is neuraxon  # no model named: the default
    assert registry.resolve(Algo.NEURAXON, SMALL_JSON) is neuraxon  # a downloaded document
    assert registry.resolve(Algo.NEURAXON, {**SMALL_TASK, "model": "v1"}) is neuraxon
    with pytest.raises(registry.UnknownAlgorithmError, match=r"neuraxon version 'v9'.*known: v1, v2"):
        registry.resolve(Algo.NEURAXON, {**SMALL_TASK, "model": "v9"})
    assert registry.resolve(Algo.BPP9000, BPP9000_TASK.read_bytes()) is registry.entry("bpp9000-v1301")
    with pytest.raises(registry.UnknownAlgorithmError, match="unknown algorithm id 7"):
        registry.resolve(7, b"")
    current = registry.default_entry(Algo.BPP9000)
    assert (current.name, current.version) == ("bpp9000", "v1305")  # the family's default: core v1.305
    document = current.describe_task(current.default_task())
    assert json.loads(document)["model"] == "v1305" and registry.resolve(Algo.BPP9000, document) is current
    with pytest.raises(registry.UnknownAlgorithmError, match=r"bpp9000 version 'v1299'.*known: v1305, v1301"):
        registry.resolve(Algo.BPP9000, document.replace(b'"v1305"', b'"v1299"'))
    with pytest.raises(registry.UnknownAlgorithmError, match="known: neuraxon, neuraxon-v2, bpp9000, bpp9000-v1301"):
        registry.entry("nope")


def test_a_registry_with_two_entries_under_one_key_is_refused() -> None:
    class Copy(NeuraxonV1):
        name = "neuraxon-copy"

    with pytest.raises(RuntimeError, match="registered twice"):
        registry._check([NeuraxonV1(), Copy()])


def test_invalid_task_descriptions_are_task_errors_naming_the_field() -> None:
    with pytest.raises(registry.TaskError, match=r"task\.environment\.kind"):
        registry.entry("neuraxon").load_task({"environment": {"kind": "maze"}})
    with pytest.raises(registry.TaskError):
        registry.entry("neuraxon").load_task(b"\x00not json")
    with pytest.raises(registry.TaskError, match="binary task file"):
        registry.entry("bpp9000-v1301").load_task({"inline": True})
    damaged = bytearray(BPP9000_TASK.read_bytes())
    damaged[-1] ^= 1
    with pytest.raises(registry.TaskError, match="dataHash"):
        registry.entry("bpp9000-v1301").load_task(bytes(damaged))


def test_neuraxon_golden_vectors_through_the_registry() -> None:
    tasks = {"default": DEFAULT_TASK.to_dict(), "small": SMALL_JSON}
    by_task: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader((DATA / "golden.csv").open()):
        by_task.setdefault(row["task"], []).append(row)
    checked = 0
    for name, task_rows in by_task.items():
        entry = registry.resolve(Algo.NEURAXON, tasks[name])
        prepared = entry.prepare(entry.load_task(tasks[name]))
        for row in task_rows:
            got = entry.score_batch(prepared, public_key(row["identity"]), [bytes.fromhex(row["nonce"])])
            assert got == [int(row["score"])], row
            checked += 1
    assert checked == 60


@pytest.mark.parametrize("column", [0, 1])
def test_bpp9000_golden_vectors_through_the_registry(column: int) -> None:
    entry = registry.resolve(Algo.BPP9000, BPP9000_TASK.read_bytes())
    spec = Bpp9000Spec.of(read_task_file(BPP9000_TASK), Bpp9000Config.parse(config_texts()[column]))
    got = [entry.score(entry.prepare(spec, seed=r.seed), r.public_key, r.nonce) for r in rows()]
    assert got == [r.scores[column] for r in rows()]


def test_known_answers_pass_on_the_cpu_backend() -> None:
    from miner.selftest import check_backend

    # bpp9000 v1.305's answers are production walks (seconds each, self-tested before a miner's first
    # bpp9000 job): two, one per mutation kind; the others have at least five.
    assert all(len(entry.known_answers()) >= (2 if entry.name == "bpp9000" else 5) for entry in registry.entries())
    # neuraxon's run through the miner's own path in tests/miner/test_selftest_bench.py
    check_backend(registry.entry("bpp9000-v1301"), registry.CPU)


def test_known_answers_are_the_recorded_vectors() -> None:
    assert TaskSpec.from_dict(SMALL_TASK) == TaskSpec.from_dict(json.loads(SMALL_JSON))
    golden = {(public_key(row["identity"]), bytes.fromhex(row["nonce"]), int(row["score"]))
              for row in csv.DictReader((DATA / "golden.csv").open())}
    plain = [a for a in registry.entry("neuraxon").known_answers() if a.parent_walk is None]
    assert {(a.public_key, a.nonce, a.score) for a in plain} <= golden
    vectors = {(r.public_key, r.nonce): r.scores for r in rows()}
    for answer in registry.entry("bpp9000-v1301").known_answers():
        column = config_texts().index(str(answer.task.config))
        assert vectors[(answer.public_key, answer.nonce)][column] == answer.score
    current = {(r.public_key, r.nonce, bytes(r.seed)): F.rating_score(F.Rating(r.error, r.shift)) for r in solo_rows()}
    answers = registry.entry("bpp9000").known_answers()
    assert {F.mode_of(a.nonce) for a in answers} == {1, 3}
    for answer in answers:
        assert current[(answer.public_key, answer.nonce, answer.seed)] == answer.score


def test_prepared_work_is_shared_per_content_and_a_parent_is_checked_once() -> None:
    entry = registry.entry("neuraxon")
    small = entry.load_task(SMALL_JSON)
    first = entry.prepare(small)
    assert entry.prepare(TaskSpec.from_dict(json.loads(SMALL_JSON))) is first
    assert entry.prepare(small, shared=False) is not first
    pk = bytes(range(32))
    walk = entry.walk(first, pk, bytes(32))
    parent = registry.Parent(json.loads(json.dumps(entry.export_network(first, walk))), walk.score)
    from_parent = entry.prepare(small, parent=parent)
    assert from_parent is not first and entry.prepare(small, parent=parent) is from_parent
    assert entry.walk(from_parent, pk, bytes([1]) * 32).score >= parent.score
    with pytest.raises(registry.ParentError, match="claimed"):
        entry.prepare(small, parent=registry.Parent(parent.network, parent.score + 1))
    assert entry.is_solution(small, small.threshold) and not entry.is_solution(small, small.threshold - 1)
    assert not entry.is_solution(small, parent.score, parent) or parent.score < small.threshold


def test_bpp9000_needs_its_seed_and_takes_no_parent() -> None:
    entry = registry.entry("bpp9000-v1301")
    spec = entry.load_task(BPP9000_TASK.read_bytes())
    with pytest.raises(registry.TaskError, match="RandomSeed"):
        entry.prepare(spec)
    with pytest.raises(registry.ParentError, match="no parent"):
        entry.prepare(spec, seed=bytes(range(32)), parent=registry.Parent({}, 1), shared=False)
    assert entry.nonce_head({"changes": 4}) == bytes([1, 4, 0])
    with pytest.raises(ValueError, match=r"1\.\.10"):
        entry.nonce_head({"changes": 11})
    assert entry.check_nonce(bytes([1, 4, 0]) + bytes(29)) is None
    assert entry.check_nonce(bytes([1, 4, 1]) + bytes(29)) is not None  # K must be 0
    assert entry.check_nonce(bytes([1, 11, 0]) + bytes(29)) is not None
    assert entry.check_nonce(bytes([1, 4, 0]) + bytes(28)) is not None
    assert entry.check_nonce(entry.sample_nonce(bytes(range(32)))) is None
    again = entry.load_task(entry.describe_task(spec) or b"")  # a job carries the production task as a file
    assert np.array_equal(again.task.inputs, spec.task.inputs) and again.config == spec.config
    assert entry.describe_task(Bpp9000Spec.of(spec.task, Bpp9000Config.parse(config_texts()[0]))) is None


# --- backends ------------------------------------------------------------------------------------

class _Batch(registry.BatchScorer):
    batch_size = 8

    def __init__(self, entry: registry.Algorithm, prepared: Any, offset: int) -> None:
        self.entry, self.prepared, self.offset = entry, prepared, offset

    def score_batch(self, public_key: bytes, nonces: Sequence[bytes]) -> list[int]:
        return [v + self.offset for v in self.entry.score_batch(self.prepared, public_key, nonces)]


class FakeCuda(registry.Backend):
    """A "GPU" backend: the cpu integers plus ``offset`` (0 = correct), or unavailable."""

    name = "cuda"

    def __init__(self, why: str | None = None, offset: int = 0) -> None:
        self.why, self.offset = why, offset

    def unavailable(self) -> str | None:
        return self.why

    def bind(self, entry: registry.Algorithm, prepared: Any) -> registry.BatchScorer:
        return _Batch(entry, prepared, self.offset)


def _with(backend: registry.Backend) -> registry.Algorithm:
    class WithCuda(NeuraxonV1):
        backends: ClassVar[Mapping[str, registry.Backend]] = {"cpu": registry.CPU, "cuda": backend}

    return WithCuda()


def _vet(entry: registry.Algorithm, backend: registry.Backend) -> None:
    from miner.selftest import check_backend

    check_backend(entry, backend)


def test_backend_choice() -> None:
    class CpuOnly(NeuraxonV1):
        backends: ClassVar[Mapping[str, registry.Backend]] = {"cpu": registry.CPU}

    plain = CpuOnly()
    assert registry.choose_backend(plain, "cpu").reason == "requested"
    for requested in ("auto", "cuda"):  # no cuda backend: the cpu, whatever was asked
        choice = registry.choose_backend(plain, requested)
        assert (choice.backend.name, choice.reason) == ("cpu", "neuraxon has no cuda kernel")
    absent = _with(FakeCuda(why="no GPU found"))
    assert registry.choose_backend(absent, "auto", _vet).reason == "no GPU found"
    with pytest.raises(registry.BackendUnavailableError, match="no GPU found"):
        registry.choose_backend(absent, "cuda", _vet)
    good = _with(FakeCuda())
    choice = registry.choose_backend(good, "auto", _vet)
    assert (choice.backend.name, choice.reason) == ("cuda", "GPU present and its self-test passed")
    wrong = _with(FakeCuda(offset=1))
    choice = registry.choose_backend(wrong, "auto", _vet)
    assert choice.backend.name == "cpu" and choice.reason.startswith("cuda self-test failed: neuraxon")
    from miner.selftest import SelfTestError

    with pytest.raises(SelfTestError, match="on cuda"):
        registry.choose_backend(wrong, "cuda", _vet)
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        registry.choose_backend(plain, "gpu")
