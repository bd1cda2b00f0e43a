"""bpp9000 task files and configs: reading, validating, packing, and the synthetic test task.

Task file layout (qubic/core ``task_file.h``), all little-endian:
``[96-byte header][topology block][data block]``

* header: ``magic u32 = 0x5454554C``, ``version u32 = 1``, ``numInputTrits u32 (N)``,
  ``numOutputTrits u32 (M)``, ``numPairs u64 (T)``, ``population u32 (P)``,
  ``numNeighbors u32 (K)``, ``topologyHash[32]``, ``dataHash[32]`` (K12 of each block);
* topology: u32 ``inputNeuronIndices[N]``, ``outputNeuronIndices[M]``, ``signalNeuronIndex``,
  ``neighborIndices[P*K]``;
* data: per row ``ceil(N/5)`` input bytes then ``ceil(M/5)`` output bytes, trits packed five
  per byte as ``t0 + 3 t1 + 9 t2 + 27 t3 + 81 t4`` (a byte is 0..242).
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self, TypeVar

import numpy as np
import numpy.typing as npt

from engine.keccak import random2
from scoring.ids import k12, k12_hex

__all__ = [
    "PRODUCTION_CONFIG",
    "TASK_MAGIC",
    "TASK_VERSION",
    "Bpp9000Config",
    "Bpp9000Spec",
    "Bpp9000Task",
    "CoreParams",
    "DashedConfig",
    "TaskFileError",
    "bytes32",
    "encode_task",
    "pack_trits",
    "parse_task",
    "read_task_file",
    "round64",
    "synthetic_task",
    "unpack_trits",
]

_Array = TypeVar("_Array", bound=np.ndarray)

TASK_MAGIC = 0x5454554C
TASK_VERSION = 1
HEADER = struct.Struct("<IIIIQII32s32s")
TRITS_PER_BYTE = 5
_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.int64)


class TaskFileError(ValueError):
    """A task file is truncated, malformed, or does not match its header's hashes."""


def bytes32(value: bytes, what: str) -> bytes:
    """``value`` as bytes; ValueError naming ``what`` unless it is exactly 32 bytes long."""
    value = bytes(value)
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(value)}")
    return value


def round64(n: int) -> int:
    """``n`` rounded up to a whole number of 64-byte random2 segments."""
    return -(-n // 64) * 64


class DashedConfig:
    """Mixin for a frozen dataclass of integers written ``a-b-c-...`` in field order (core's
    parameter lists, e.g. the golden CSV headers); ``KIND`` names it in errors."""

    KIND: ClassVar[str] = "config"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse the dashed form; ValueError unless it has one non-negative integer per field."""
        count = len(dataclasses.fields(cls))  # type: ignore[arg-type]
        parts = text.strip().split("-")
        if len(parts) != count or not all(p.isdigit() for p in parts):
            raise ValueError(f"a {cls.KIND} is {count} non-negative integers joined by '-', got {text!r}")
        return cls(*(int(p) for p in parts))

    def __str__(self) -> str:
        return "-".join(str(v) for v in dataclasses.astuple(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class CoreParams(DashedConfig):
    """The parameters every bpp9000 version starts with (qubic/core ``Bpp9000Params``): the task's
    row layout (``inputs``, ``outputs``), rows used, window or frame width, tick limit,
    neighbours, population and walk steps. Each version adds its own and checks them."""

    inputs: int
    outputs: int
    sequence_length: int
    window_width: int
    max_ticks: int
    neighbors: int
    population: int
    mutations: int


@dataclass(frozen=True)
class Bpp9000Config(CoreParams):
    """The 9 numbers ``inputs-outputs-sequenceLength-windowWidth-maxTicks-neighbors-population-mutations-threshold``.

    ``mutations`` is the number of walk steps S; ``threshold`` is the largest error count that
    counts as a solution. ``parse("18-1-8760-672-100000-3-64-100-3838")`` reads the golden CSV
    header form.
    """

    KIND: ClassVar[str] = "bpp9000 config"

    threshold: int

    def __post_init__(self) -> None:
        if self.neighbors != 3:
            raise ValueError(f"bpp9000 LUTs index 3 neighbours, config has {self.neighbors}")
        if self.outputs != 1:
            raise ValueError(f"bpp9000 grades one output neuron, config has {self.outputs}")
        if not 2 <= self.window_width < self.sequence_length:
            raise ValueError("window width must be at least 2 and below the sequence length")
        if self.population <= self.inputs + self.outputs + 1:
            raise ValueError("population must exceed inputs + outputs + 1 (signal)")
        if self.max_ticks <= self.window_width or self.mutations < 0 or self.inputs < 1:
            raise ValueError(f"inconsistent config {self}")

    @property
    def windows(self) -> int:
        """Number of graded windows, ``T - W``."""
        return self.sequence_length - self.window_width



#: Qubic's live bpp9000 parameters (qubic/core @45f5d6d9: 100 steps, threshold 3838).
PRODUCTION_CONFIG = Bpp9000Config(18, 1, 8760, 672, 100_000, 3, 64, 100, 3838)


@dataclass(frozen=True, eq=False)
class Bpp9000Task:
    """A decoded task: ``inputs`` uint8[T, N] and ``outputs`` uint8[T, M] trits, and a topology.

    ``input_indices`` int32[N], ``output_indices`` int32[M], ``signal_index``,
    ``neighbor_indices`` int32[P, K]. Arrays are read-only.
    """

    inputs: npt.NDArray[np.uint8]
    outputs: npt.NDArray[np.uint8]
    input_indices: npt.NDArray[np.int32]
    output_indices: npt.NDArray[np.int32]
    signal_index: int
    neighbor_indices: npt.NDArray[np.int32]

    @property
    def sequence_length(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def population(self) -> int:
        return int(self.neighbor_indices.shape[0])

    def head(self, rows: int) -> Bpp9000Task:
        """The first ``rows`` rows with the same topology (how core's tests sub-view a task)."""
        if not 0 < rows <= self.sequence_length:
            raise ValueError(f"task has {self.sequence_length} rows, asked for {rows}")
        if rows == self.sequence_length:
            return self
        return dataclasses.replace(self, inputs=self.inputs[:rows], outputs=self.outputs[:rows])

    def check_config(self, config: Bpp9000Config) -> None:
        """Raise ValueError unless this task can be scored under ``config``."""
        got = (self.inputs.shape[1], self.outputs.shape[1], self.population, self.neighbor_indices.shape[1])
        want = (config.inputs, config.outputs, config.population, config.neighbors)
        if got != want:
            raise ValueError(f"task has inputs/outputs/population/neighbours {got}, config {config} wants {want}")
        if self.sequence_length < config.sequence_length:
            raise ValueError(f"task has {self.sequence_length} rows, config {config} needs {config.sequence_length}")

    def validate(self) -> None:
        """Raise TaskFileError unless indices are in range and input/output/signal are distinct."""
        p = self.population
        roles = [*self.input_indices.tolist(), *self.output_indices.tolist(), self.signal_index]
        if any(not 0 <= i < p for i in roles):
            raise TaskFileError(f"a neuron index of the topology is outside 0..{p - 1}")
        if len(set(roles)) != len(roles):
            raise TaskFileError("input, output and signal neurons must all be distinct")
        if self.neighbor_indices.size and not (0 <= self.neighbor_indices.min() and self.neighbor_indices.max() < p):
            raise TaskFileError(f"a neighbour index is outside 0..{p - 1}")
        if (self.inputs.size and self.inputs.max() > 2) or (self.outputs.size and self.outputs.max() > 2):
            raise TaskFileError("data trits must be 0, 1 or 2")


@dataclass(frozen=True, eq=False)
class Bpp9000Spec:
    """A bpp9000 task as it is scored: the decoded task, the scoring config (qubic/core's production
    one unless a test says otherwise: a job cannot carry another), and ``task_hash``, K12 of the task
    file (the job's ``TaskHash``, and the content key of prepared scorers)."""

    task: Bpp9000Task
    config: Bpp9000Config
    task_hash: str

    @classmethod
    def from_file(cls, data: bytes, config: Bpp9000Config = PRODUCTION_CONFIG, *,
                  source: str = "task file") -> Bpp9000Spec:
        """The spec of task-file bytes (hashes checked, :class:`TaskFileError`; ``ValueError`` when
        the task does not fit ``config``)."""
        task = parse_task(data, source=source)
        task.check_config(config)
        return cls(task, config, k12_hex(data))

    @classmethod
    def of(cls, task: Bpp9000Task, config: Bpp9000Config = PRODUCTION_CONFIG) -> Bpp9000Spec:
        """The spec of a decoded task (its hash from the encoded file)."""
        task.check_config(config)
        return cls(task, config, k12_hex(encode_task(task)))


def pack_trits(trits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Pack uint8[R, n] trits five per byte into uint8[R, ceil(n/5)] (unused positions zero)."""
    rows, n = trits.shape
    nbytes = -(-n // TRITS_PER_BYTE)
    padded = np.zeros((rows, nbytes * TRITS_PER_BYTE), dtype=np.int64)
    padded[:, :n] = trits
    return (padded.reshape(rows, nbytes, TRITS_PER_BYTE) @ _POW3).astype(np.uint8)


def unpack_trits(packed: npt.NDArray[np.uint8], n: int) -> npt.NDArray[np.uint8]:
    """Unpack uint8[R, ceil(n/5)] into uint8[R, n]; TaskFileError if a byte is above 242."""
    if packed.size and int(packed.max()) >= 243:
        bad = np.argwhere(packed >= 243)[0]
        raise TaskFileError(f"data byte {int(packed[tuple(bad)])} at row {bad[0]} is not 5 packed trits (max 242)")
    digits = (packed[:, :, None].astype(np.int64) // _POW3) % 3
    return digits.reshape(packed.shape[0], -1)[:, :n].astype(np.uint8)


def _topology_bytes(n: int, m: int, p: int, k: int) -> int:
    return 4 * (n + m + 1 + p * k)


def parse_task(data: bytes, *, check_hashes: bool = True, source: str = "task file") -> Bpp9000Task:
    """Decode a task file's bytes; TaskFileError (naming what is wrong) if it is not valid."""
    if len(data) < HEADER.size:
        raise TaskFileError(f"{source}: {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, n, m, t, p, k, topo_hash, data_hash = HEADER.unpack_from(data, 0)
    if magic != TASK_MAGIC:
        raise TaskFileError(f"{source}: magic 0x{magic:08X} is not 0x{TASK_MAGIC:08X}")
    if version != TASK_VERSION:
        raise TaskFileError(f"{source}: version {version} is not supported (expected {TASK_VERSION})")
    if min(n, m, t, p, k) == 0:
        raise TaskFileError(f"{source}: header has a zero size (N={n} M={m} T={t} P={p} K={k})")
    topo_len = _topology_bytes(n, m, p, k)
    in_bytes, out_bytes = -(-n // TRITS_PER_BYTE), -(-m // TRITS_PER_BYTE)
    data_len = t * (in_bytes + out_bytes)
    expected = HEADER.size + topo_len + data_len
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        raise TaskFileError(f"{source}: {kind}: {len(data)} bytes, header (N={n} M={m} T={t} P={p} K={k}) "
                            f"implies {expected}")
    topo = data[HEADER.size:HEADER.size + topo_len]
    block = data[HEADER.size + topo_len:]
    if check_hashes:
        if k12(topo) != topo_hash:
            raise TaskFileError(f"{source}: K12 of the topology block does not match the header's topologyHash")
        if k12(block) != data_hash:
            raise TaskFileError(f"{source}: K12 of the data block does not match the header's dataHash")
    words = np.frombuffer(topo, dtype="<u4").astype(np.int64)
    rows = np.frombuffer(block, dtype=np.uint8).reshape(t, in_bytes + out_bytes)
    task = Bpp9000Task(
        inputs=_frozen(unpack_trits(rows[:, :in_bytes], n)),
        outputs=_frozen(unpack_trits(rows[:, in_bytes:], m)),
        input_indices=_frozen(words[:n].astype(np.int32)),
        output_indices=_frozen(words[n:n + m].astype(np.int32)),
        signal_index=int(words[n + m]),
        neighbor_indices=_frozen(words[n + m + 1:].astype(np.int32).reshape(p, k)),
    )
    try:
        task.validate()
    except TaskFileError as exc:
        raise TaskFileError(f"{source}: {exc}") from None
    return task


def read_task_file(path: str | Path) -> Bpp9000Task:
    """Read and check a task file (see :func:`parse_task`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TaskFileError(f"cannot read task file {p}: {exc.strerror or exc}") from exc
    return parse_task(data, source=str(p))


def encode_task(task: Bpp9000Task) -> bytes:
    """Serialize a task to the file format, hashes included (inverse of :func:`parse_task`)."""
    n, m, p, k = task.inputs.shape[1], task.outputs.shape[1], task.population, task.neighbor_indices.shape[1]
    topo = np.concatenate([task.input_indices, task.output_indices, [task.signal_index],
                           task.neighbor_indices.reshape(-1)]).astype("<u4").tobytes()
    block = np.concatenate([pack_trits(task.inputs), pack_trits(task.outputs)], axis=1).tobytes()
    header = HEADER.pack(TASK_MAGIC, TASK_VERSION, n, m, task.sequence_length, p, k, k12(topo), k12(block))
    return header + topo + block


def synthetic_task(pool: npt.NDArray[np.uint8], config: Bpp9000Config) -> Bpp9000Task:
    """The random task qubic/core's ``buildSyntheticTask`` builds from a pool (seed = 32 zero bytes).

    One random2 draw supplies, in order: each neuron's K distinct neighbours (a byte mod P each,
    bumped +1 mod P past itself and earlier picks), the N input, M output and one signal neuron
    (byte mod P, bumped past used neurons), then T*N input and T*M output trits (byte mod 3).
    """
    n, m, t, p, k = config.inputs, config.outputs, config.sequence_length, config.population, config.neighbors
    need = p * k + (n + m + 1) + t * n + t * m
    rnd = random2(bytes(32), pool, round64(need)).astype(np.int64)
    off = 0
    nbr = np.zeros((p, k), dtype=np.int32)
    for neuron in range(p):
        for j in range(k):
            cand = int(rnd[off]) % p
            off += 1
            while cand == neuron or cand in nbr[neuron, :j]:
                cand = (cand + 1) % p
            nbr[neuron, j] = cand
    used = np.zeros(p, dtype=bool)
    picks = []
    for _ in range(n + m + 1):
        idx = int(rnd[off]) % p
        off += 1
        while used[idx]:
            idx = (idx + 1) % p
        used[idx] = True
        picks.append(idx)
    ins = (rnd[off:off + t * n] % 3).astype(np.uint8).reshape(t, n)
    off += t * n
    outs = (rnd[off:off + t * m] % 3).astype(np.uint8).reshape(t, m)
    return Bpp9000Task(
        inputs=_frozen(ins), outputs=_frozen(outs),
        input_indices=_frozen(np.array(picks[:n], dtype=np.int32)),
        output_indices=_frozen(np.array(picks[n:n + m], dtype=np.int32)),
        signal_index=picks[n + m], neighbor_indices=_frozen(nbr),
    )


def _frozen(a: _Array) -> _Array:
    a = np.ascontiguousarray(a)  # type: ignore[assignment]
    a.flags.writeable = False
    return a
