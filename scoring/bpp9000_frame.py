"""Qubic's current bpp9000 scorer (core v1.305, "rolling frame"), bit-exact with qubic/core.

Selectable as ``bpp9000`` (:data:`NAME`); the earlier scorer (core v1.301, :mod:`scoring.bpp9000`)
is ``bpp9000-v1301``. Both read the same task file and share the random2 pool of the mining seed.

A score is a :class:`Rating` ``{error, shift}``: the network walked to the frame position
``shift`` (higher is better) and got ``error`` emits wrong inside that frame (lower is better);
a higher shift always wins. Everything is a pure function of (mining seed, task, config, public
key, nonce[, parent network, parent shift, anchor]):

1. the pool of the mining seed (:mod:`scoring.bpp9000_pool`) and, from ``K12(seed)``, the epoch's
   control and output neurons (:func:`control_output`);
2. the identity's root network from ``K12(public key)`` (:func:`root_network`);
3. the walk's mutation seeds from ``K12(public key || nonce' [|| anchor])`` where ``nonce'`` has
   bytes 0..2 zeroed (:func:`mutation_seeds`);
4. the walk (:mod:`engine.bpp9000_frame`) with ``L = nonce[1] & 15``, mode ``nonce[1] >> 4``
   and, for a chain step, ``K = nonce[2]`` explore steps.

Solo (:meth:`FrameScorer.score`): from the root at shift 0 with K = 0. Chain
(:meth:`FrameScorer.score_from_parent`): from a parent network and its shift, with the anchor;
it returns the best network kept, which becomes the next parent (:meth:`Network.to_bytes` is
qubic/core's exchanged ``ANN`` layout).

Score on the wire (:func:`rating_score`): one integer, **lower is better** like every bpp9000
score (``StratumJob.is_solution`` compares with ``<=``), equal to core's ``rankingKey``:
``(0xFFFF - shift) << 16 | error`` for a valid Rating and ``0xFFFFFFFF`` for a void one. Because
``error <= W < 2**16`` the shift decides first. Core's frame-0 floor ("shift > 0 or error <= 302")
is exactly ``score <= rating_score(Rating(302, 0))`` (:meth:`FrameConfig.threshold_score`).

Nonces: canonical means ``nonce[0] == 1``, ``1 <= L <= 10``, mode 1..3, bits 6-7 of ``nonce[1]``
zero; a chain step also needs ``K <= S``; a solo step ignores ``nonce[2]`` (as core's
``computeScore`` does; whoever accepts solo solutions requires it to be 0). A non-canonical
nonce scores ``Rating.worst()`` here (core leaves L > 10 undefined).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from engine import bpp9000_frame as kernels
from engine.keccak import random2
from scoring.bpp9000_pool import get_pool
from scoring.bpp9000_task import Bpp9000Task, CoreParams, bytes32, round64
from scoring.ids import k12

__all__ = [
    "ALGO_ID",
    "INVALID_SCORE",
    "NAME",
    "PRODUCTION_FRAME_CONFIG",
    "VERSION",
    "ChainResult",
    "FrameConfig",
    "FrameScorer",
    "Network",
    "Rating",
    "control_output",
    "is_canonical_ant_nonce",
    "is_canonical_nonce",
    "make_nonce",
    "mutation_seeds",
    "rating_from_score",
    "rating_score",
    "root_network",
]

#: Name under which this scorer is selected, and the qubic/core release it reproduces.
NAME = "bpp9000"
VERSION = "v1.305"
#: ``nonce[0]`` of a bpp9000 nonce.
ALGO_ID = 1
#: Wire score of a void Rating (also core's ``INVALID_SCORE_VALUE``).
INVALID_SCORE = kernels.INFINITE_ERROR
_MODES = (kernels.MODE_START, kernels.MODE_WIRING, kernels.MODE_LUT)


@dataclass(frozen=True)
class FrameConfig(CoreParams):
    """qubic/core's ``Bpp9000Params``: ``inputs-outputs-sequenceLength-windowWidth-maxTicks-
    neighbors-population-mutations-solutionThreshold-shiftCap``.

    ``inputs`` is only the task file's row layout (the network has no inputs any more);
    ``window_width`` W is the frame width; ``solution_threshold`` the frame-0 floor.
    ``parse("18-1-8760-672-100000-3-2048-1000-302-168")`` reads the dashed form.
    """

    KIND: ClassVar[str] = "rolling-frame config"

    solution_threshold: int
    shift_cap: int

    def __post_init__(self) -> None:
        problems = []
        if self.neighbors != kernels.NEIGHBORS:
            problems.append(f"neighbors must be 3, got {self.neighbors}")
        if self.outputs != 1:
            problems.append(f"outputs must be 1, got {self.outputs}")
        if not 1 <= self.window_width < self.sequence_length:
            problems.append("window width must be in 1..sequenceLength-1")
        if not 1 <= self.shift_cap <= self.sequence_length - self.window_width:
            problems.append("shift cap must be in 1..sequenceLength-windowWidth")
        if self.max_ticks <= self.shift_cap + self.window_width:
            problems.append("max ticks must exceed shiftCap + windowWidth")
        if not self.advance_threshold < self.solution_threshold < self.window_width:
            problems.append("solution threshold must lie between windowWidth/3 and windowWidth")
        if not 2 <= self.population <= 65536 or self.mutations < 0:
            problems.append("population must be in 2..65536 and mutations non-negative")
        if problems:
            raise ValueError(f"bad rolling-frame config {self}: " + "; ".join(problems))

    @property
    def advance_threshold(self) -> int:
        """A frame with at most this many wrong emits is mastered: the frame slides on (W // 3)."""
        return self.window_width // 3

    def threshold_score(self) -> int:
        """The wire score of the frame-0 floor: ``score <= this`` iff the Rating clears it."""
        return rating_score(Rating(self.solution_threshold, 0))



#: core v1.305.0 (epoch 232): ``Bpp9000Params<18, 1, 8760, 672, 100000, 3, 2048, 1000, 302, 168>``.
PRODUCTION_FRAME_CONFIG = FrameConfig(18, 1, 8760, 672, 100_000, 3, 2048, 1000, 302, 168)


@dataclass(frozen=True, order=False)
class Rating:
    """What a walk reached: ``error`` wrong emits in the frame at ``shift`` (0xFFFFFFFF: void)."""

    error: int
    shift: int

    @property
    def is_valid(self) -> bool:
        return self.error != INVALID_SCORE

    def is_better_than(self, other: Rating) -> bool:
        """Higher shift wins; at equal shift, fewer errors."""
        if self.shift != other.shift:
            return self.shift > other.shift
        return self.error < other.error

    def clears_floor(self, threshold: int) -> bool:
        """Core's frame-0 floor: any advance, or at most ``threshold`` errors in frame 0."""
        return self.shift > 0 or self.error <= threshold

    @classmethod
    def worst(cls) -> Rating:
        return cls(INVALID_SCORE, 0)


def rating_score(rating: Rating) -> int:
    """The Rating as one lower-is-better integer (core's ``rankingKey``; void: 0xFFFFFFFF)."""
    if not rating.is_valid:
        return INVALID_SCORE
    return ((0xFFFF - (rating.shift & 0xFFFF)) << 16) | (rating.error & 0xFFFF)


def rating_from_score(score: int) -> Rating:
    """Inverse of :func:`rating_score` (0xFFFFFFFF gives ``Rating.worst()``)."""
    if score == INVALID_SCORE:
        return Rating.worst()
    if not 0 <= score < INVALID_SCORE:
        raise ValueError(f"a rolling-frame score is a uint32, got {score}")
    return Rating(score & 0xFFFF, 0xFFFF - (score >> 16))


@dataclass(frozen=True, eq=False)
class Network:
    """A whole network: ``neighbors`` int32[3P] links, ``start`` uint8[P] and ``lut`` uint8[27P] trits.

    Read-only arrays; :meth:`to_bytes` / :meth:`from_bytes` use core's ``ANN`` layout
    (``uint16 neighbor[3P]`` little-endian, ``start[P]``, ``lut[27P]``; 34P bytes).
    """

    neighbors: npt.NDArray[np.int32]
    start: npt.NDArray[np.uint8]
    lut: npt.NDArray[np.uint8]

    def __post_init__(self) -> None:
        for a in (self.neighbors, self.start, self.lut):
            a.flags.writeable = False

    @property
    def population(self) -> int:
        return int(self.start.shape[0])

    @classmethod
    def of(cls, neighbors: npt.ArrayLike, start: npt.ArrayLike, lut: npt.ArrayLike) -> Network:
        """A validated copy; ValueError if shapes or values are out of range."""
        nb = np.array(neighbors, dtype=np.int64).reshape(-1)
        st = np.array(start, dtype=np.int64).reshape(-1)
        lt = np.array(lut, dtype=np.int64).reshape(-1)
        p = st.shape[0]
        if p < 2 or nb.shape[0] != 3 * p or lt.shape[0] != kernels.LUT_SIZE * p:
            raise ValueError(f"a network of P neurons has 3P links and 27P LUT entries; got {nb.shape[0]} "
                             f"links, {p} start trits, {lt.shape[0]} LUT entries")
        if nb.min() < 0 or nb.max() >= p:
            raise ValueError(f"a link target is outside 0..{p - 1}")
        if st.max() > 2 or st.min() < 0 or lt.max() > 2 or lt.min() < 0:
            raise ValueError("start and LUT values must be trits 0, 1, 2")
        return cls(nb.astype(np.int32), st.astype(np.uint8), lt.astype(np.uint8))

    def to_bytes(self) -> bytes:
        """Core's ``ANN``: 2*3P bytes of links, P start trits, 27P LUT trits."""
        return self.neighbors.astype("<u2").tobytes() + self.start.tobytes() + self.lut.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, population: int) -> Network:
        """Decode :meth:`to_bytes`; ValueError on a wrong length or out-of-range value."""
        p = population
        if len(data) != 34 * p:
            raise ValueError(f"a network of {p} neurons is {34 * p} bytes, got {len(data)}")
        nb = np.frombuffer(data, dtype="<u2", count=3 * p)
        st = np.frombuffer(data, dtype=np.uint8, count=p, offset=6 * p)
        lt = np.frombuffer(data, dtype=np.uint8, offset=7 * p)
        return cls.of(nb, st, lt)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return all(np.array_equal(a, b) for a, b in ((self.neighbors, other.neighbors),
                                                     (self.start, other.start), (self.lut, other.lut)))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class ChainResult:
    """A chain step's Rating and the best network it kept (``None`` when the step was refused)."""

    rating: Rating
    network: Network | None


def changes_per_step(nonce: bytes) -> int:
    """L, ``nonce[1] & 15``."""
    return nonce[1] & 0x0F


def mode_of(nonce: bytes) -> int:
    """The mutation kind, ``(nonce[1] >> 4) & 3``: 1 start state, 2 wiring, 3 LUT."""
    return (nonce[1] >> 4) & 0x03


def is_canonical_nonce(nonce: bytes) -> bool:
    """Algo byte 1, ``1 <= L <= 10``, mode 1..3 and bits 6-7 of ``nonce[1]`` clear (K not checked)."""
    nonce = bytes32(nonce, "nonce")
    return (nonce[0] == ALGO_ID and 1 <= changes_per_step(nonce) <= kernels.MAX_CHANGES_PER_STEP
            and mode_of(nonce) in _MODES and nonce[1] & 0xC0 == 0)


def is_canonical_ant_nonce(nonce: bytes, steps: int) -> bool:
    """:func:`is_canonical_nonce` and ``K = nonce[2] <= steps``."""
    return is_canonical_nonce(nonce) and nonce[2] <= steps


def make_nonce(changes: int, mode: int, explore: int, tail: bytes) -> bytes:
    """``[1, L | mode << 4, K] + tail`` (``tail``: the 29 searchable bytes)."""
    if not 1 <= changes <= kernels.MAX_CHANGES_PER_STEP or mode not in _MODES or not 0 <= explore <= 255:
        raise ValueError("need 1 <= changes <= 10, mode 1..3 and 0 <= explore <= 255")
    if len(tail) != 29:
        raise ValueError(f"the nonce tail is 29 bytes, got {len(tail)}")
    return bytes([ALGO_ID, changes | mode << 4, explore]) + bytes(tail)


def control_output(pool: npt.NDArray[np.uint8], seed: bytes, population: int) -> tuple[int, int]:
    """The epoch's (control, output) neurons: words 0 and 1 of ``random2(K12(seed))`` mod P (output
    stepped past control)."""
    words = random2(k12(bytes32(seed, "mining seed")), pool, 64).view("<u8")
    control = int(words[0]) % population
    output = int(words[1]) % population
    if output == control:
        output = (output + 1) % population
    return control, output


def root_network(pool: npt.NDArray[np.uint8], public_key: bytes, population: int) -> Network:
    """The identity's root: one ``random2(K12(public key))`` draw of 27P LUT bytes, P start bytes
    (each mod 3) and 3P little-endian uint64 link targets (each mod P), in that order."""
    p = population
    nbytes = kernels.LUT_SIZE * p + p + 8 * kernels.NEIGHBORS * p
    raw = random2(k12(bytes32(public_key, "public key")), pool, round64(nbytes))
    lut = raw[:kernels.LUT_SIZE * p] % 3
    start = raw[kernels.LUT_SIZE * p:28 * p] % 3
    links = raw[28 * p:nbytes].view("<u8") % np.uint64(p)
    return Network(links.astype(np.int32), start.astype(np.uint8), lut.astype(np.uint8))


def mutation_seeds(pool: npt.NDArray[np.uint8], public_key: bytes, nonce: bytes, anchor: bytes | None,
                   steps: int) -> npt.NDArray[np.uint64]:
    """The walk's seeds, uint64[>= 10 * steps]: ``random2(K12(public key || nonce' [|| anchor]))``."""
    search = bytearray(bytes32(public_key, "public key") + bytes32(nonce, "nonce"))
    search[32:35] = b"\x00\x00\x00"
    if anchor is not None:
        search += bytes32(anchor, "anchor")
    raw = random2(k12(bytes(search)), pool, round64(steps * kernels.MAX_CHANGES_PER_STEP * 8))
    return raw.view("<u8").astype(np.uint64)


class FrameScorer:
    """Pool, epoch neurons, targets and config prepared once; scores many walks.

    ``seed`` is the mining seed the ``pool`` was built from. Immutable after construction and
    safe to share between threads (each walk works on its own copies; the kernels release the
    GIL).
    """

    def __init__(self, pool: npt.NDArray[np.uint8], seed: bytes, task: Bpp9000Task, config: FrameConfig) -> None:
        if task.outputs.shape[1] != config.outputs or task.sequence_length < config.sequence_length:
            raise ValueError(f"task has {task.sequence_length} rows of {task.outputs.shape[1]} outputs, config "
                             f"{config} needs {config.sequence_length} rows of {config.outputs}")
        self.pool = pool
        self.config = config
        self.control, self.output = control_output(pool, seed, config.population)
        targets = np.ascontiguousarray(task.outputs[:config.sequence_length, 0], dtype=np.uint8)
        targets.flags.writeable = False
        self.targets = targets

    @classmethod
    def for_seed(cls, seed: bytes, task: Bpp9000Task, config: FrameConfig = PRODUCTION_FRAME_CONFIG, *,
                 cache_dir: str | Path | None = None) -> FrameScorer:
        """A scorer on the process-wide pool of ``seed`` (built once, see :func:`get_pool`)."""
        return cls(get_pool(seed, cache_dir), seed, task, config)

    def root(self, public_key: bytes) -> Network:
        """The identity's root network (a chain's depth-0 parent, at shift 0)."""
        return root_network(self.pool, public_key, self.config.population)

    def evaluate(self, network: Network, shift: int = 0) -> Rating:
        """The Rating one network reaches from ``shift`` without mutations (core's ``advanceShift``)."""
        c = self.config
        e, s = kernels.advance(network.lut, network.neighbors, network.start, self.control, self.output,
                               self.targets, shift, c.shift_cap, c.window_width, c.advance_threshold,
                               c.max_ticks, INVALID_SCORE)
        return Rating(int(e), int(s))

    def walk(self, network: Network, shift: int, seeds: npt.NDArray[np.uint64], changes: int, explore: int,
             mode: int) -> ChainResult:
        """The walk from ``network`` at ``shift``: its best Rating and the network behind it."""
        c = self.config
        lut, nbr, start = network.lut.copy(), network.neighbors.copy(), network.start.copy()
        b_lut, b_nbr, b_start = np.empty_like(lut), np.empty_like(nbr), np.empty_like(start)
        e, s = kernels.walk(lut, nbr, start, seeds, changes, explore, mode, c.mutations, shift, self.control,
                            self.output, self.targets, c.shift_cap, c.window_width, c.advance_threshold,
                            c.max_ticks, b_lut, b_nbr, b_start)
        best = Network(b_nbr, b_start, b_lut)
        return ChainResult(Rating(int(e), int(s)), best)

    def score_network(self, public_key: bytes, nonce: bytes) -> ChainResult:
        """Solo walk (root of ``public_key``, shift 0, K = 0) with the network it kept."""
        nonce = bytes32(nonce, "nonce")
        if not is_canonical_nonce(nonce):
            return ChainResult(Rating.worst(), None)
        seeds = mutation_seeds(self.pool, public_key, nonce, None, self.config.mutations)
        return self.walk(self.root(public_key), 0, seeds, changes_per_step(nonce), 0, mode_of(nonce))

    def score(self, public_key: bytes, nonce: bytes) -> Rating:
        """Solo Rating of (public key, nonce): core's ``computeScore``."""
        return self.score_network(public_key, nonce).rating

    def score_from_parent(self, parent: Network, parent_shift: int, public_key: bytes, nonce: bytes,
                          anchor: bytes) -> ChainResult:
        """Chain step (core's ``computeScoreFromParent``): walk on from ``parent`` at ``parent_shift``
        with ``K = nonce[2]`` explore steps and the anchor mixed into the seeds.

        ``Rating.worst()`` (no network) for a non-canonical nonce, a shift above the cap, or a
        parent of another population or with the control and output neurons equal.
        """
        nonce = bytes32(nonce, "nonce")
        c = self.config
        if (not is_canonical_ant_nonce(nonce, c.mutations) or not 0 <= parent_shift <= c.shift_cap
                or parent.population != c.population or self.control == self.output):
            return ChainResult(Rating.worst(), None)
        seeds = mutation_seeds(self.pool, public_key, nonce, bytes32(anchor, "anchor"), c.mutations)
        return self.walk(parent, parent_shift, seeds, changes_per_step(nonce), nonce[2], mode_of(nonce))

