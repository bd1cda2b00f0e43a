"""The bpp9000 scorer: task files, configs, pool cache, golden vectors, twin agreement."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.keccak import random2
from scoring import bpp9000 as sb
from scoring.bpp9000_pool import PoolCache, pool_file_name
from scoring.bpp9000_task import HEADER, pack_trits, unpack_trits
from scoring.ids import k12
from tests.bpp9000_vectors import TASK, config_texts, rows, vector_pool, vector_seed
from tests.naive import bpp9000 as naive

# Golden rows checked by default: every row of the two small configs, a spread of rows of the
# two large ones (the full 256 x 4 set runs with -m slow and through the CLI test).
DEFAULT_ROWS = {0: range(256), 1: range(256), 2: range(0, 256, 8), 3: range(0, 256, 8)}


@pytest.fixture(scope="session")
def pool() -> np.ndarray:
    return vector_pool()


@pytest.fixture(scope="session")
def task() -> sb.Bpp9000Task:
    return sb.read_task_file(TASK)


@pytest.fixture(scope="session")
def scorers(pool: np.ndarray, task: sb.Bpp9000Task) -> list[sb.Bpp9000Scorer]:
    return [sb.Bpp9000Scorer(pool, task, sb.Bpp9000Config.parse(c)) for c in config_texts()]


# --- K12 and configs -------------------------------------------------------------------------

def test_k12_known_answers() -> None:
    assert k12(bytes(range(32))).hex() == "e2e8cf093fd921598aa5441ac12e577d7e200af2e8730f708db25c2524929ab0"
    assert k12(bytes(range(64))).hex() == "21a9962295fb748cf50dc975a868bb7178d8f1067112a2f377bc9a4f272971fb"


def test_config_round_trips_through_the_csv_header_form() -> None:
    for text in config_texts():
        assert str(sb.Bpp9000Config.parse(text)) == text
    prod = sb.PRODUCTION_CONFIG
    assert (prod.inputs, prod.sequence_length, prod.window_width, prod.max_ticks, prod.mutations) == (
        18, 8760, 672, 100_000, 100)
    assert prod.windows == 8088


@pytest.mark.parametrize("text", ["18-1-128-32-5000-3-64-10", "18-1-128-32-5000-3-64-10-x", "",
                                  "18-1-128-32-5000-4-64-10-76", "18-2-128-32-5000-3-64-10-76"])
def test_bad_config_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        sb.Bpp9000Config.parse(text)


# --- task files ------------------------------------------------------------------------------

def test_example_task_decodes_with_checked_hashes(task: sb.Bpp9000Task) -> None:
    assert task.inputs.shape == (8760, 18) and task.outputs.shape == (8760, 1)
    assert task.population == 64 and task.neighbor_indices.shape == (64, 3)
    assert task.input_indices.tolist()[:3] == [15, 9, 46] and task.signal_index == 48
    assert int(task.inputs.max()) == 2 and not task.inputs.flags.writeable


def test_task_encodes_and_decodes_to_the_same_task(task: sb.Bpp9000Task) -> None:
    # the example file carries arbitrary trits in unused positions of its bytes, which
    # decoding ignores and encoding writes as zero, so compare decoded forms
    again = sb.parse_task(sb.encode_task(task))
    for name in ("inputs", "outputs", "input_indices", "output_indices", "neighbor_indices"):
        assert np.array_equal(getattr(again, name), getattr(task, name)), name
    assert again.signal_index == task.signal_index


def test_trit_packing_is_base_3_five_per_byte() -> None:
    trits = np.array([[1, 2, 0, 1, 2, 2, 1]], dtype=np.uint8)
    packed = pack_trits(trits)
    assert packed.tolist() == [[1 + 3 * 2 + 27 * 1 + 81 * 2, 2 + 3 * 1]]
    assert unpack_trits(packed, 7).tolist() == trits.tolist()


def _corrupt(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1:]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d[:50], "shorter than the 96-byte header"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d + b"\0", "trailing bytes"),
    (lambda d: _corrupt(d, 0, 0), "magic"),
    (lambda d: _corrupt(d, 4, 2), "version 2"),
    (lambda d: _corrupt(d, 200, d[200] ^ 1), "topology block does not match"),
    (lambda d: _corrupt(d, 2000, d[2000] ^ 1), "data block does not match"),
])
def test_damaged_task_files_are_refused_with_the_reason(mutate: object, message: str) -> None:
    data = mutate(TASK.read_bytes())  # type: ignore[operator]
    with pytest.raises(sb.TaskFileError, match=message):
        sb.parse_task(data)


def _rehash(data: bytes) -> bytes:
    _, _, n, m, _, p, kk = struct.unpack_from("<IIIIQII", data, 0)
    topo_len = 4 * (n + m + 1 + p * kk)
    topo, block = data[96:96 + topo_len], data[96 + topo_len:]
    return data[:32] + k12(topo) + k12(block) + data[96:]


def test_a_byte_above_242_or_an_index_out_of_range_is_refused_even_with_matching_hashes() -> None:
    data = TASK.read_bytes()
    data_start = HEADER.size + 4 * (18 + 1 + 1 + 64 * 3)
    with pytest.raises(sb.TaskFileError, match="not 5 packed trits"):
        sb.parse_task(_rehash(_corrupt(data, data_start + 7, 250)))
    bad_index = data[:HEADER.size + 4 * 20] + struct.pack("<I", 64) + data[HEADER.size + 4 * 21:]
    with pytest.raises(sb.TaskFileError, match="neighbour index"):
        sb.parse_task(_rehash(bad_index))


def test_missing_task_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(sb.TaskFileError, match=r"cannot read task file .*nope\.bin"):
        sb.read_task_file(tmp_path / "nope.bin")


def test_synthetic_task_follows_cores_construction(pool: np.ndarray) -> None:
    config = sb.Bpp9000Config.parse(config_texts()[0])
    task = sb.synthetic_task(pool, config)
    assert task.inputs.shape == (128, 18) and task.outputs.shape == (128, 1)
    for n, nb in enumerate(task.neighbor_indices.tolist()):
        assert n not in nb and len(set(nb)) == 3
    roles = [*task.input_indices.tolist(), *task.output_indices.tolist(), task.signal_index]
    assert len(set(roles)) == len(roles)
    # the first draw byte picks neuron 0's first neighbour (byte mod 64, bumped past 0)
    first = int(random2(bytes(32), pool, 64)[0]) % 64
    assert task.neighbor_indices[0, 0] == (first if first != 0 else 1)
    assert sb.synthetic_task(pool, config).inputs.tobytes() == task.inputs.tobytes()
    assert sb.parse_task(sb.encode_task(task)).inputs.tobytes() == task.inputs.tobytes()


# --- the pool cache --------------------------------------------------------------------------

def test_one_pool_per_seed_however_many_threads_score(task: sb.Bpp9000Task) -> None:
    cache = PoolCache()
    config = sb.Bpp9000Config.parse(config_texts()[0])
    sample = rows()[:8]
    results: dict[int, int] = {}
    start = threading.Barrier(8)

    def work(i: int) -> None:
        start.wait()
        results[i] = sb.score(sample[i].seed, sample[i].public_key, sample[i].nonce, task, config, pool_cache=cache)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.builds == 1
    assert [results[i] for i in range(8)] == [r.scores[0] for r in sample]


def test_disk_cache_is_written_atomically_and_reloaded(tmp_path: Path, pool: np.ndarray) -> None:
    seed = vector_seed()
    first = PoolCache(cache_dir=tmp_path)
    first._write(tmp_path / pool_file_name(seed), pool)  # as a build would, without building again
    assert sorted(p.name for p in tmp_path.iterdir()) == [pool_file_name(seed)]
    second = PoolCache(cache_dir=tmp_path)
    loaded = second.get(seed)
    assert (second.loads, second.builds) == (1, 0)
    assert np.array_equal(loaded[:4096], pool[:4096]) and np.array_equal(loaded[-4096:], pool[-4096:])


def test_a_pool_file_that_is_not_the_chain_is_not_trusted(tmp_path: Path, pool: np.ndarray,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seed = vector_seed()
    with (tmp_path / pool_file_name(seed)).open("wb") as fh:
        fh.truncate(len(pool))  # right size, all zeros (sparse)
    built: list[bytes] = []
    monkeypatch.setattr("scoring.bpp9000_pool.build_pool", lambda s: built.append(s) or pool)
    monkeypatch.setattr(PoolCache, "_write", lambda self, path, p: None)
    cache = PoolCache(cache_dir=tmp_path)
    assert cache.get(seed) is pool
    assert (cache.loads, cache.builds, built) == (0, 1, [seed])


# --- scores ------------------------------------------------------------------------------------

@pytest.mark.parametrize("column", [0, 1, 2, 3])
def test_golden_rows_reproduce(scorers: list[sb.Bpp9000Scorer], column: int) -> None:
    scorer = scorers[column]
    got = {r.index: scorer.score(r.public_key, r.nonce) for r in rows() if r.index in DEFAULT_ROWS[column]}
    want = {r.index: r.scores[column] for r in rows() if r.index in DEFAULT_ROWS[column]}
    assert got == want
    assert sb.INVALID_SCORE in want.values()


@pytest.mark.slow
@pytest.mark.parametrize("column", [0, 1, 2, 3])
def test_all_golden_rows_reproduce(scorers: list[sb.Bpp9000Scorer], column: int) -> None:
    scorer = scorers[column]
    assert [scorer.score(r.public_key, r.nonce) for r in rows()] == [r.scores[column] for r in rows()]


def test_per_window_baseline_gives_the_same_scores(pool: np.ndarray, task: sb.Bpp9000Task) -> None:
    baseline = sb.Bpp9000Scorer(pool, task, sb.Bpp9000Config.parse(config_texts()[0]), kernel="per_window")
    for r in rows()[:12]:
        assert baseline.score(r.public_key, r.nonce) == r.scores[0]


def test_twin_walk_agrees_with_the_scorer_on_config_0(pool: np.ndarray, task: sb.Bpp9000Task) -> None:
    config = sb.Bpp9000Config.parse(config_texts()[0])
    r = rows()[0]
    head = task.head(config.sequence_length)
    lut = sb.root_lut(pool, r.public_key, config.population)
    seeds = sb.mutation_seeds(pool, r.public_key, r.nonce, config.mutations)
    want = naive.walk(lut.tolist(), seeds.tolist(), min(max(r.nonce[1], 1), 10), config.mutations,
                      head.neighbor_indices.tolist(), head.input_indices.tolist(), head.signal_index,
                      int(head.output_indices[0]), head.inputs.tolist(), head.outputs[:, 0].tolist(),
                      config.window_width, config.max_ticks)
    assert want == r.scores[0] == sb.score(r.seed, r.public_key, r.nonce, task, config)


def test_root_and_seeds_come_from_random2_of_k12(pool: np.ndarray) -> None:
    r = rows()[3]
    raw = naive.random2(k12(r.public_key), pool, 1728)
    assert sb.root_lut(pool, r.public_key, 64).reshape(-1).tolist() == [b % 3 for b in raw]
    zeroed = r.public_key + bytes(3) + r.nonce[3:]
    seeds = sb.mutation_seeds(pool, r.public_key, r.nonce, 5)
    assert seeds.astype("<u8").tobytes() == naive.random2(k12(zeroed), pool, 448)


def test_nonce_bytes_0_to_2_only_set_l(scorers: list[sb.Bpp9000Scorer]) -> None:
    r = rows()[0]
    same_l = bytes([0xAB, r.nonce[1], 0xCD]) + r.nonce[3:]
    assert scorers[0].score(r.public_key, same_l) == r.scores[0]


def test_verify_accepts_only_the_recomputed_score(task: sb.Bpp9000Task) -> None:
    r = rows()[1]
    config = sb.Bpp9000Config.parse(config_texts()[0])
    assert sb.verify(r.seed, r.public_key, r.nonce, task, config, r.scores[0])
    assert not sb.verify(r.seed, r.public_key, r.nonce, task, config, r.scores[0] - 1)


def test_canonical_nonces() -> None:
    tail = bytes(range(29))
    nonce = sb.canonical_nonce(3, tail)
    assert nonce[:3] == bytes([1, 3, 0]) and sb.is_canonical_nonce(nonce)
    assert not sb.is_canonical_nonce(bytes([1, 11, 0]) + tail)
    assert not sb.is_canonical_nonce(bytes([0, 3, 0]) + tail)
    assert not sb.is_canonical_nonce(bytes([1, 3, 1]) + tail)
    with pytest.raises(ValueError):
        sb.canonical_nonce(0, tail)


def test_task_shorter_than_the_config_is_refused(pool: np.ndarray, task: sb.Bpp9000Task) -> None:
    config = sb.Bpp9000Config.parse(config_texts()[1])
    with pytest.raises(ValueError, match="needs 512"):
        sb.Bpp9000Scorer(pool, task.head(300), config)
