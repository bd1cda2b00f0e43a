"""``neuraxon-miner verify-vectors bpp9000``: score golden rows and compare, so an operator can check a build.

Two scorer versions (``--version``; by default inferred from the files given):

* ``v1.305`` (the current ``bpp9000``): ``--task FILE --rows CSV`` scores solo rows and
  ``--ant-rows CSV`` replays ant chains in depth order (see :mod:`miner.commands.frame_vectors`);
  prints ``N/N rows match`` for each file and stops at the first mismatch, naming the row, the
  field, the expected and the computed value.
* ``v1.301`` (``bpp9000-v1301``): qubic/core's earlier golden-vector layout: a samples CSV (header, then rows
``seed, publickey, nonce`` in 32-byte hex), a scores CSV (a header naming each config as
``inputs-outputs-sequenceLength-windowWidth-maxTicks-neighbors-population-mutations-threshold``,
then one score per config and row; 4294967295 is the "invalid" marker) and the task file the
scores were made with. Every config scores the task's first ``sequenceLength`` rows, as
qubic/core's regression test does.

Exit codes: 0 every row matched, 1 some row did not, 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.bpp9000 import Bpp9000Config, Bpp9000Scorer

VERSIONS = ("v1.301", "v1.305")
EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2
#: Seconds between progress lines on long runs.
PROGRESS_EVERY = 10.0
#: Mismatching rows printed per config (all are counted).
SHOW_MISMATCHES = 10


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify-vectors",
        help="score golden-vector rows and compare with the expected scores",
        description="Score every row of SAMPLES under each config named in the header of SCORES and "
                    "compare with the expected score. Prints matched/total per config and exits 0 "
                    "only if every row matches.",
    )
    p.add_argument("algorithm", choices=["bpp9000"], help="scoring algorithm of the vectors")
    p.add_argument("--version", choices=VERSIONS, default=None,
                   help="scorer version (default: v1.301 with --samples/--scores, else v1.305)")
    p.add_argument("--task", required=True, type=Path, help="task file the scores were made with")
    p.add_argument("--samples", type=Path, help="v1.301: CSV of seed, publickey, nonce rows")
    p.add_argument("--scores", type=Path, help="v1.301: CSV of expected scores, one column per config")
    p.add_argument("--configs", default=None, help="v1.301: comma-separated config columns to check (default: all)")
    p.add_argument("--rows", default=None,
                   help="v1.305: CSV of solo rows (pubkey, nonce, miningseed, shift, score); "
                        "v1.301: check only the first N rows")
    p.add_argument("--ant-rows", type=Path, default=None,
                   help="v1.305: CSV of ant-chain rows (chain, depth, pubkey, nonce, anchor, seed, shift, score)")
    p.add_argument("--limit", type=int, default=None, help="v1.305: check only the first N solo rows and N chains")
    p.add_argument("--threads", type=int, default=1, help="scoring threads (default 1)")
    p.add_argument("--pool-dir", type=Path, default=None,
                   help="directory for on-disk random2 pools (default: $NEURAXON_BPP9000_POOL_DIR, else none)")
    p.set_defaults(func=run)


class BadInputError(Exception):
    """An input file is missing or malformed; the message says which and where."""


@dataclass(frozen=True)
class Sample:
    seed: bytes
    public_key: bytes
    nonce: bytes


def read_lines(path: Path, what: str) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc.strerror})"
        raise BadInputError(f"{what} file {reason}: {path}") from None
    except UnicodeDecodeError:
        raise BadInputError(f"{what} file {path} is not text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise BadInputError(f"{what} file {path} needs a header and at least one row")
    return lines


def hex32(cell: str, where: str) -> bytes:
    cell = cell.strip()
    try:
        value = bytes.fromhex(cell)
    except ValueError:
        raise BadInputError(f"{where}: {cell[:20]!r} is not hex") from None
    if len(value) != 32:
        raise BadInputError(f"{where}: expected 32 bytes (64 hex digits), got {len(value)}")
    return value


def read_samples(path: Path) -> list[Sample]:
    """Rows ``seed, publickey, nonce`` (32-byte hex each) after a header line."""
    samples = []
    for number, line in enumerate(read_lines(path, "samples")[1:], start=2):
        cells = line.split(",")
        if len(cells) != 3:
            raise BadInputError(f"{path}:{number}: expected 3 columns (seed, publickey, nonce), got {len(cells)}")
        seed, key, nonce = (hex32(c, f"{path}:{number} column {i + 1}") for i, c in enumerate(cells))
        samples.append(Sample(seed, key, nonce))
    return samples


def read_scores(path: Path) -> tuple[list[Bpp9000Config], list[list[int]]]:
    """The header's configs and the expected score rows."""
    from scoring.bpp9000 import Bpp9000Config

    lines = read_lines(path, "scores")
    configs = []
    for i, cell in enumerate(lines[0].split(",")):
        try:
            configs.append(Bpp9000Config.parse(cell))
        except ValueError as exc:
            raise BadInputError(f"{path}:1 column {i + 1}: {exc}") from None
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(configs) or not all(c.isdigit() for c in cells):
            raise BadInputError(f"{path}:{number}: expected {len(configs)} non-negative integers")
        rows.append([int(c) for c in cells])
    return configs, rows


def _columns(spec: str | None, available: int) -> list[int]:
    if spec is None:
        return list(range(available))
    try:
        wanted = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise BadInputError(f"--configs must be comma-separated column numbers, got {spec!r}") from None
    bad = [c for c in wanted if not 0 <= c < available]
    if not wanted or bad:
        raise BadInputError(f"--configs: columns must be in 0..{available - 1}, got {spec!r}")
    return wanted


def _check_config(scorers: Callable[[bytes], Bpp9000Scorer], samples: Sequence[Sample], expected: Sequence[int],
                  threads: int, label: str) -> list[tuple[int, int, int]]:
    """Score every sample with the registry entry's score function; return (row, got, expected) per mismatch."""
    from scoring.registry import lookup

    entry = lookup(1, "v1301")
    started = time.monotonic()
    done = 0
    mismatches: list[tuple[int, int, int]] = []
    lock = threading.Lock()
    last_report = [started]

    def one(i: int) -> None:
        nonlocal done
        got = entry.score(scorers(samples[i].seed), samples[i].public_key, samples[i].nonce)
        with lock:
            done += 1
            if got != expected[i]:
                mismatches.append((i, got, expected[i]))
            now = time.monotonic()
            if now - last_report[0] >= PROGRESS_EVERY:
                last_report[0] = now
                print(f"  {label}: {done}/{len(samples)} rows, {len(mismatches)} mismatched, "
                      f"{now - started:.0f} s", file=sys.stderr, flush=True)

    # rows are grouped by seed so one pool serves a run of rows
    order = sorted(range(len(samples)), key=lambda i: (samples[i].seed, i))
    if threads <= 1:
        for i in order:
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, order))
    return sorted(mismatches)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _version(args: Any) -> str:
    legacy = args.samples is not None or args.scores is not None
    version: str = args.version or ("v1.301" if legacy else "v1.305")
    if version == "v1.301":
        if args.samples is None or args.scores is None or args.ant_rows is not None:
            raise BadInputError("--version v1.301 needs --samples and --scores (and takes no --ant-rows)")
        if args.rows is not None:
            if not args.rows.isdigit() or int(args.rows) < 1:
                raise BadInputError(f"--rows with v1.301 vectors is a row count of at least 1, got {args.rows!r}")
            args.rows = int(args.rows)
    elif legacy or args.configs is not None or (args.rows is None and args.ant_rows is None):
        raise BadInputError("--version v1.305 needs --rows CSV and/or --ant-rows CSV "
                            "(--samples, --scores and --configs are for v1.301)")
    return version


def _run(args: Any) -> int:
    from scoring.bpp9000 import Bpp9000Scorer, TaskFileError, get_pool, read_task_file

    if args.threads < 1 or (args.limit is not None and args.limit < 1):
        raise BadInputError("--threads and --limit must be at least 1")
    if _version(args) == "v1.305":
        from miner.commands.frame_vectors import run_frame_vectors

        return run_frame_vectors(args)
    try:
        task = read_task_file(args.task)
    except TaskFileError as exc:
        raise BadInputError(str(exc)) from None
    samples = read_samples(args.samples)
    configs, expected = read_scores(args.scores)
    if len(expected) < len(samples):
        raise BadInputError(f"{args.scores} has {len(expected)} score rows for {len(samples)} samples")
    columns = _columns(args.configs, len(configs))
    if args.rows is not None:
        samples = samples[:args.rows]
    for c in columns:
        try:
            task.check_config(configs[c])
        except ValueError as exc:
            raise BadInputError(f"config {c}: {exc}") from None

    all_ok = True
    started = time.monotonic()
    for c in columns:
        config = configs[c]
        prepared: dict[bytes, Bpp9000Scorer] = {}
        prepare_lock = threading.Lock()

        def scorer_for(seed: bytes, config: Bpp9000Config = config, prepared: dict[bytes, Any] = prepared,
                       prepare_lock: threading.Lock = prepare_lock) -> Bpp9000Scorer:
            with prepare_lock:
                if seed not in prepared:
                    prepared.clear()  # rows come grouped by seed; keep one pool alive
                    prepared[seed] = Bpp9000Scorer(get_pool(seed, args.pool_dir), task, config)
                return prepared[seed]

        t0 = time.monotonic()
        label = f"config {c} ({config})"
        mismatches = _check_config(scorer_for, samples, [row[c] for row in expected], args.threads, label)
        matched = len(samples) - len(mismatches)
        print(f"{label}: {matched}/{len(samples)} matched ({time.monotonic() - t0:.1f} s)", flush=True)
        for row, got, want in mismatches[:SHOW_MISMATCHES]:
            print(f"  row {row}: got {got}, expected {want}")
        if len(mismatches) > SHOW_MISMATCHES:
            print(f"  ... and {len(mismatches) - SHOW_MISMATCHES} more")
        all_ok = all_ok and not mismatches
    print(f"{'all rows matched' if all_ok else 'MISMATCH'} in {time.monotonic() - started:.1f} s", flush=True)
    return 0 if all_ok else EXIT_MISMATCH
