"""Golden rows of the rolling-frame bpp9000 scorer (core v1.305): reading, scoring, chain replay.

Solo rows: ``pubkey, nonce, miningseed, shift, score`` (a header line, then 32-byte hex and
integers). Ant rows: ``chain, depth, pubkey, nonce, anchor, seed, shift, score``; a chain is
replayed in depth order, depth 0 from the identity's root network at shift 0, each later depth
from the network and shift the previous depth kept. ``score`` is the Rating's error.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miner.commands.verify_vectors import EXIT_MISMATCH, PROGRESS_EVERY, BadInputError, hex32, read_lines

if TYPE_CHECKING:
    from scoring.bpp9000_frame import FrameScorer, Rating
    from scoring.bpp9000_task import Bpp9000Task

SOLO_COLUMNS = ("pubkey", "nonce", "miningseed", "shift", "score")
ANT_COLUMNS = ("chain", "depth", "pubkey", "nonce", "anchor", "seed", "shift", "score")


@dataclass(frozen=True)
class SoloRow:
    line: int  # 1-based line in its file
    public_key: bytes
    nonce: bytes
    seed: bytes
    shift: int
    error: int


@dataclass(frozen=True)
class AntRow:
    line: int
    chain: int
    depth: int
    public_key: bytes
    nonce: bytes
    anchor: bytes
    seed: bytes
    shift: int
    error: int


def _cells(path: Path, what: str, columns: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    lines = read_lines(path, what)
    header = [c.strip().lower() for c in lines[0].split(",")]
    if tuple(header) != columns:
        raise BadInputError(f"{path}:1: expected the header {', '.join(columns)}, got {lines[0].strip()!r}")
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(columns):
            raise BadInputError(f"{path}:{number}: expected {len(columns)} columns, got {len(cells)}")
        yield number, cells


def _uint(cell: str, where: str) -> int:
    if not cell.isdigit() or int(cell) > 0xFFFFFFFF:
        raise BadInputError(f"{where}: {cell[:20]!r} is not an unsigned 32-bit integer")
    return int(cell)


def read_solo_rows(path: Path) -> list[SoloRow]:
    """The rows of a solo golden file; BadInputError naming the file, line and column."""
    rows = []
    for number, c in _cells(path, "rows", SOLO_COLUMNS):
        where = [f"{path}:{number} column {name}" for name in SOLO_COLUMNS]
        rows.append(SoloRow(number, hex32(c[0], where[0]), hex32(c[1], where[1]), hex32(c[2], where[2]),
                            _uint(c[3], where[3]), _uint(c[4], where[4])))
    return rows


def read_ant_chains(path: Path) -> list[list[AntRow]]:
    """The chains of an ant golden file, each in depth order 0, 1, ... (in order of first appearance)."""
    chains: dict[int, list[AntRow]] = {}
    for number, c in _cells(path, "ant rows", ANT_COLUMNS):
        where = [f"{path}:{number} column {name}" for name in ANT_COLUMNS]
        row = AntRow(number, _uint(c[0], where[0]), _uint(c[1], where[1]), hex32(c[2], where[2]),
                     hex32(c[3], where[3]), hex32(c[4], where[4]), hex32(c[5], where[5]),
                     _uint(c[6], where[6]), _uint(c[7], where[7]))
        chains.setdefault(row.chain, []).append(row)
    out = []
    for chain, rows in chains.items():
        rows.sort(key=lambda r: r.depth)
        depths = [r.depth for r in rows]
        if depths != list(range(len(rows))):
            raise BadInputError(f"{path}: chain {chain} has depths {depths}; a chain needs each depth 0..n-1 once")
        if len({(r.public_key, r.seed) for r in rows}) != 1:
            raise BadInputError(f"{path}: chain {chain} changes its pubkey or seed between depths")
        out.append(rows)
    return out


def score_solo(scorer: FrameScorer, row: SoloRow) -> Rating:
    return scorer.score(row.public_key, row.nonce)


def replay_chain(scorer: FrameScorer, rows: list[AntRow],
                 on_row: Callable[[AntRow, Rating], bool]) -> None:
    """Score ``rows`` (one chain, depth order) from the root; ``on_row`` returns False to stop."""
    parent = scorer.root(rows[0].public_key)
    shift = 0
    for row in rows:
        result = scorer.score_from_parent(parent, shift, row.public_key, row.nonce, row.anchor)
        if not on_row(row, result.rating) or result.network is None:
            return
        parent, shift = result.network, result.rating.shift


def first_difference(shift: int, error: int, got: Rating) -> str | None:
    """``"field: expected X, got Y"`` for the first field of the Rating that differs, else None."""
    if got.shift != shift:
        return f"field shift: expected {shift}, got {got.shift}"
    if got.error != error:
        return f"field score: expected {error}, got {got.error}"
    return None


class _Scorers:
    """One FrameScorer per mining seed, the last one kept (rows come grouped by seed)."""

    def __init__(self, task: Bpp9000Task, pool_dir: Path | None) -> None:
        self._task = task
        self._pool_dir = pool_dir
        self._lock = threading.Lock()
        self._made: dict[bytes, FrameScorer] = {}

    def __call__(self, seed: bytes) -> FrameScorer:
        from scoring.bpp9000_frame import FrameScorer

        with self._lock:
            if seed not in self._made:
                self._made.clear()
                self._made[seed] = FrameScorer.for_seed(seed, self._task, cache_dir=self._pool_dir)
            return self._made[seed]


def _check(label: str, jobs: list[Callable[[], str | None]], threads: int) -> bool:
    """Run ``jobs`` (each returns None, or the description of its first mismatch) in order; stop at a mismatch."""
    last_report = time.monotonic()
    matched = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for result in pool.map(lambda job: job(), jobs):
            if result is not None:
                pool.shutdown(wait=False, cancel_futures=True)
                print(f"{label}: MISMATCH at {result} ({matched} matched before it)", flush=True)
                return False
            matched += 1
            if time.monotonic() - last_report >= PROGRESS_EVERY:
                last_report = time.monotonic()
                print(f"  {label}: {matched}/{len(jobs)} checked", file=sys.stderr, flush=True)
    return True


def run_frame_vectors(args: Any) -> int:
    """``verify-vectors bpp9000 --version v1.305``: 0 all rows match, 1 at the first mismatch."""
    from scoring.bpp9000_task import TaskFileError, read_task_file

    try:
        task = read_task_file(args.task)
    except TaskFileError as exc:
        raise BadInputError(str(exc)) from None
    solo = read_solo_rows(Path(args.rows)) if args.rows is not None else None
    chains = read_ant_chains(args.ant_rows) if args.ant_rows is not None else None
    if args.limit is not None:
        solo = solo[:args.limit] if solo is not None else None
        chains = chains[:args.limit] if chains is not None else None
    scorers = _Scorers(task, args.pool_dir)

    started = time.monotonic()
    if solo is not None:
        def solo_job(row: SoloRow) -> Callable[[], str | None]:
            def job() -> str | None:
                diff = first_difference(row.shift, row.error, score_solo(scorers(row.seed), row))
                return None if diff is None else f"row {row.line - 1} (line {row.line}): {diff}"
            return job

        if not _check(str(args.rows), [solo_job(r) for r in solo], args.threads):
            return EXIT_MISMATCH
        print(f"{args.rows}: {len(solo)}/{len(solo)} rows match", flush=True)
    if chains is not None:
        def chain_job(rows: list[AntRow]) -> Callable[[], str | None]:
            def job() -> str | None:
                found: list[str] = []

                def on_row(row: AntRow, got: Rating) -> bool:
                    diff = first_difference(row.shift, row.error, got)
                    if diff is not None:
                        found.append(f"row {row.line - 1} (line {row.line}, chain {row.chain} depth {row.depth}): "
                                     f"{diff}")
                    return diff is None

                replay_chain(scorers(rows[0].seed), rows, on_row)
                return found[0] if found else None
            return job

        if not _check(str(args.ant_rows), [chain_job(c) for c in chains], args.threads):
            return EXIT_MISMATCH
        n = sum(len(c) for c in chains)
        print(f"{args.ant_rows}: {n}/{n} rows match ({len(chains)} chains)", flush=True)
    print(f"all rows matched in {time.monotonic() - started:.1f} s", flush=True)
    return 0
