"""Qubic's current bpp9000 (algo 1, version ``v1305``, name ``bpp9000``): the registry entry over
:mod:`scoring.bpp9000_frame` (qubic/core v1.305.0, the rolling frame), the family's default.

Task model: :class:`FrameSpec` (core's task file plus a :class:`~scoring.bpp9000_frame.FrameConfig`).
A job carries it as a *versioned task document* served by ``TaskUrl``, canonical JSON bytes::

    {"config": "18-1-8760-672-100000-3-2048-1000-302-168", "model": "v1305", "task": "<base64 task file>"}

``model`` names the version (the family's ``version_of`` reads it; a bare core task file is the
form v1.301 pools serve and keeps meaning v1.301); ``config`` is the scoring config, so a job
carries everything the score depends on (tests mine small configs through the same path). The
task id is K12 of the document.

Prepared form: :class:`FrameWork`, a :class:`~scoring.bpp9000_frame.FrameScorer` on the random2 pool
of the job's ``RandomSeed`` plus, for a chain step, the parent network, its shift and the anchor.

Walks: without a parent, the solo walk from the identity's root (``nonce[2]`` must be 0, else the
walk is void); with one, the chain step from the parent (``K = nonce[2]`` explore steps), the
anchor being the parent's id (K12 of its canonical JSON) — the pool's chain, like core's ant
colony. The parent is checked when the work is prepared: its network must hold the Rating its
score claims from that shift (:meth:`FrameScorer.evaluate`), so a forged parent is refused
without replaying its lineage. The walk's best network is exported as ``{"ann": base64}`` (core's
``ANN`` bytes) and becomes the next parent when it is the pool's new best.

Known answers: two of qubic/core v1.305.0's golden solo rows (``tests/data/qubic-current``) on the
production task (shipped in ``scoring/data``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring import bpp9000_frame as F
from scoring.bpp9000_pool import PoolCache, get_pool
from scoring.bpp9000_task import Bpp9000Task, TaskFileError, parse_task
from scoring.ids import k12_hex
from scoring.registry import Algorithm, BenchCase, KnownAnswer, Parent, ParentError, TaskDescription, TaskError, Walk

__all__ = ["ENTRY", "FRAME_CASES", "FRAME_SEED", "PRODUCTION_TASK_FILE", "Bpp9000V1305", "FrameSpec", "FrameWork",
           "network_from_json", "network_json"]

MODEL = "v1305"
#: qubic/core v1.305.0's production task file (identical to tests/data/qubic-current/bpp9000.task).
PRODUCTION_TASK_FILE = Path(__file__).resolve().parent.parent / "data" / "bpp9000_production_task.bin"
#: The mining seed of core's ``gt_production.csv`` and two of its rows, one per mutation kind (LUT, start
#: state): (public key, nonce, shift, error). Two, not more: each is a production walk of seconds, and
#: the miner self-tests them (each on its own 512 MiB pool) before its first bpp9000 job.
FRAME_SEED = "61ce2e50880c09fb7f46b5148996e7f85f5956de2a8efbc9b211e2e8de32046e"
FRAME_CASES: tuple[tuple[str, str, int, int], ...] = (
    ("eda22efce9b21103d55dc1cf6c9ae5c6b7e40a86b40ac00b9d35413fd8e653ef",
     "013400a888af38c95d93d2aa83d56465c54330d5d40240ed554d161e52786944", 0, 394),
    ("810aa3eb4a789a84a3e277ff9cf831e3304bb258ca0cbdb11990917cccc138ac",
     "011600fc804f0ef2d4a802d96127b7dec87a7cdbcc9e12db861ba770a55a11b5", 0, 398),
)


@dataclass(frozen=True, eq=False)
class FrameSpec:
    """A v1.305 task as scored: the decoded task, its config, and ``task_hash`` (K12 of the task file)."""

    task: Bpp9000Task
    config: F.FrameConfig
    task_file: bytes

    @property
    def task_hash(self) -> str:
        return k12_hex(self.task_file)

    @classmethod
    def of(cls, task_file: bytes, config: F.FrameConfig = F.PRODUCTION_FRAME_CONFIG) -> FrameSpec:
        """The spec of task-file bytes under ``config``; :class:`TaskError` if they do not fit."""
        try:
            task = parse_task(task_file)
        except TaskFileError as exc:
            raise TaskError(str(exc)) from None
        if task.outputs.shape[1] != config.outputs or task.sequence_length < config.sequence_length:
            raise TaskError(f"task has {task.sequence_length} rows of {task.outputs.shape[1]} outputs, config "
                            f"{config} needs {config.sequence_length} rows of {config.outputs}")
        return cls(task, config, bytes(task_file))

    def document(self) -> bytes:
        """The versioned task document a job serves (module docstring)."""
        body = {"config": str(self.config), "model": MODEL, "task": base64.b64encode(self.task_file).decode()}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, eq=False)
class FrameWork:
    """A prepared v1.305 work: the scorer and, for a chain step, the parent, its shift and the anchor."""

    scorer: F.FrameScorer
    parent: F.Network | None = None
    parent_shift: int = 0
    anchor: bytes | None = None


def network_json(network: F.Network) -> dict[str, Any]:
    """A network as a job's ``Parent.Network`` object: ``{"ann": base64 of core's ANN bytes}``."""
    return {"ann": base64.b64encode(network.to_bytes()).decode()}


def network_from_json(obj: dict[str, Any], population: int) -> F.Network:
    """Decode :func:`network_json`; :class:`ParentError` naming the problem."""
    if not isinstance(obj, dict) or set(obj) != {"ann"} or not isinstance(obj["ann"], str):
        raise ParentError('a bpp9000 parent network is {"ann": "<base64 of core\'s ANN bytes>"}')
    try:
        return F.Network.from_bytes(base64.b64decode(obj["ann"], validate=True), population)
    except (ValueError, binascii.Error) as exc:
        raise ParentError(f"bad bpp9000 parent network: {exc}") from None


def _document_fields(description: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(description)
    except ValueError:
        raise TaskError("a bpp9000 v1.305 task document is JSON (or a bare core task file)") from None
    if not isinstance(obj, dict) or set(obj) != {"config", "model", "task"}:
        raise TaskError('a bpp9000 v1.305 task document has exactly "config", "model" and "task"')
    if obj["model"] != MODEL:
        raise TaskError(f"task document is for bpp9000 {obj['model']!r}, not {MODEL}")
    if not isinstance(obj["config"], str) or not isinstance(obj["task"], str):
        raise TaskError('"config" and "task" are strings')
    return obj


class Bpp9000V1305(Algorithm):
    """Algo 1 as of qubic/core v1.305: the rolling frame, solo walks and chains (module docstring)."""

    name = F.NAME  # "bpp9000"
    algo = 1
    version = MODEL
    needs_seed = True
    exports_network = True
    prepare_cache_size = 2  # each prepared scorer keeps its seed's 512 MiB pool alive

    def load_task(self, description: TaskDescription) -> FrameSpec:
        if not isinstance(description, bytes):
            raise TaskError("a bpp9000 task is a document served by TaskUrl, not an inline object")
        if not description.startswith(b"{"):
            return FrameSpec.of(description)  # a bare core task file: the production config
        fields = _document_fields(description)
        try:
            config = F.FrameConfig.parse(fields["config"])
            task_file = base64.b64decode(fields["task"], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise TaskError(f"bad bpp9000 task document: {exc}") from None
        return FrameSpec.of(task_file, config)

    def describe_task(self, task: FrameSpec) -> bytes:
        return task.document()

    def default_task(self) -> FrameSpec:
        return FrameSpec.of(PRODUCTION_TASK_FILE.read_bytes())

    def task_id(self, task: FrameSpec) -> str:
        return k12_hex(task.document())

    def threshold(self, task: FrameSpec) -> int:
        return task.config.threshold_score()

    def task_key(self, task: FrameSpec) -> Hashable:
        return task.task_hash, task.config

    def build(self, task: FrameSpec, seed: bytes | None, parent: Parent | None, *, shared: bool) -> FrameWork:
        assert seed is not None  # prepare() checks needs_seed
        try:
            pool = get_pool(seed) if shared else PoolCache(max_pools=1).get(seed)
            scorer = F.FrameScorer(pool, seed, task.task, task.config)
        except ValueError as exc:  # a seed that is not 32 bytes
            raise TaskError(str(exc)) from None
        if parent is None:
            return FrameWork(scorer)
        network = network_from_json(parent.network, task.config.population)
        try:
            claimed = F.rating_from_score(parent.score)
        except ValueError as exc:
            raise ParentError(f"parent score: {exc}") from None
        if not claimed.is_valid or claimed.shift > task.config.shift_cap:
            raise ParentError(f"parent score {parent.score} is not a valid Rating of this task")
        held = scorer.evaluate(network, claimed.shift)
        if held != claimed:
            raise ParentError(f"the parent network holds Rating(error={held.error}, shift={held.shift}) from shift "
                              f"{claimed.shift}, not the claimed Rating(error={claimed.error}, shift={claimed.shift})")
        return FrameWork(scorer, network, claimed.shift, bytes.fromhex(parent.id))

    def walk(self, prepared: FrameWork, public_key: bytes, nonce: bytes, *, threads: int = 1) -> Walk:
        if prepared.parent is None:
            if nonce[2] != 0:  # a solo walk has no explore steps: K must be 0 (core's computeScore ignores it)
                return Walk(F.INVALID_SCORE, F.ChainResult(F.Rating.worst(), None))
            result = prepared.scorer.score_network(public_key, nonce)
        else:
            assert prepared.anchor is not None
            result = prepared.scorer.score_from_parent(prepared.parent, prepared.parent_shift, public_key, nonce,
                                                       prepared.anchor)
        return Walk(F.rating_score(result.rating), result)

    def export_network(self, prepared: FrameWork, walk: Walk) -> dict[str, Any] | None:
        result: F.ChainResult = walk.result
        return None if result.network is None else network_json(result.network)

    def summary(self, prepared: FrameWork, walk: Walk) -> str:
        rating: F.Rating = walk.result.rating
        return f"Rating error {rating.error}, shift {rating.shift}" if rating.is_valid else "void Rating"

    def check_nonce(self, nonce: bytes) -> str | None:
        if len(nonce) == 32 and F.is_canonical_nonce(nonce):
            return None
        return "a bpp9000 v1.305 nonce is [1, L | mode << 4, K] + 29 bytes, 1 <= L <= 10, mode 1..3"

    def sample_nonce(self, raw: bytes) -> bytes:
        return F.make_nonce(raw[0] % 10 + 1, raw[1] % 3 + 1, 0, raw[3:32])

    def nonce_head(self, choices: Mapping[str, int]) -> bytes:
        """``[1, L | mode << 4, K]`` from ``changes`` (L, default 10), ``mode`` (default 3, LUT) and
        ``explore`` (K, default 0: a chain step exploits all the way)."""
        try:
            return F.make_nonce(choices.get("changes", 10), choices.get("mode", 3), choices.get("explore", 0),
                                bytes(29))[:3]
        except ValueError as exc:
            raise ValueError(f"bpp9000 nonce head: {exc}") from None

    def known_answers(self) -> list[KnownAnswer]:
        spec = self.default_task()
        seed = bytes.fromhex(FRAME_SEED)
        return [KnownAnswer(f"bpp9000 v1.305 {nonce[:8]}", spec, bytes.fromhex(key), bytes.fromhex(nonce),
                            F.rating_score(F.Rating(error, shift)), seed=seed)
                for key, nonce, shift, error in FRAME_CASES]

    def bench_case(self) -> BenchCase:
        return BenchCase(self.default_task(), bytes(range(1, 33)), bytes(range(32)))


ENTRY = Bpp9000V1305()
