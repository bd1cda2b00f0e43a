"""Known-answer self-test (a wrong scorer stops the miner), offline bench, and the dry run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from miner import exit_codes
from miner.bench import measure
from miner.daemon import MinerDaemon
from miner.preparation import JobPreparer
from miner.scorers import JobInputs, PreparedWork, Scorer
from miner.selftest import SelfTestError, run_self_tests, self_test_entry
from miner.stats import MinerStats
from miner.workers import JobBoard
from protocol.fields import Algo
from protocol.identity import identity_from_public_key
from protocol.messages import StratumJob
from scoring import registry
from scoring.algorithms.bpp9000_v1305 import PRODUCTION_TASK_FILE, FrameSpec
from scoring.algorithms.cuda_backends import cuda_unavailable
from scoring.algorithms.neuraxon_v1 import NEURAXON_CASES
from scoring.ids import k12_hex
from tests.miner.fakes import FakeConnection, HashScorer, HashWork
from tests.miner.harness import WALLET, ServerProcess, fast_settings

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "neuraxon-task" / "golden.csv"


class _OffByOne(PreparedWork):
    def __init__(self, inner: PreparedWork) -> None:
        self.inner = inner

    def score(self, nonce: bytes) -> int:
        return self.inner.score(nonce) + 1


class BrokenScorer(Scorer):
    """Computes every score one too high."""

    def __init__(self) -> None:
        super().__init__(Algo.NEURAXON)

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        return _OffByOne(super().prepare(inputs))


def test_known_answers_come_from_the_golden_file() -> None:
    rows = {tuple(line.split(",")[1:]) for line in GOLDEN.read_text().splitlines()[1:]}
    for _, identity, nonce, score in NEURAXON_CASES:
        assert (identity, nonce, str(score)) in rows


def test_self_test_passes_on_the_real_scorer_and_catches_a_wrong_one() -> None:
    [report] = run_self_tests({Algo.NEURAXON: Scorer(Algo.NEURAXON)})
    assert report.cases == 11  # neuraxon v1 (5) and v2 (6) known answers
    with pytest.raises(SelfTestError, match="known answer"):
        run_self_tests({Algo.NEURAXON: BrokenScorer()})


def test_a_miner_with_a_wrong_scorer_refuses_to_mine(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, ["ws://127.0.0.1:9/ws"], self_test=True)
    daemon = MinerDaemon(settings, scorers={Algo.NEURAXON: BrokenScorer()})
    assert asyncio.run(daemon.run()) == exit_codes.EXIT_SELF_TEST


def test_bench_counts_iterations_of_the_worker_threads() -> None:
    result = measure(HashScorer(HashWork(delay=0.002)), HashWork(delay=0.002), 2, 0.5, warmup=0.1)
    assert result.threads == 2 and 200 <= result.iterations <= 600
    assert result.rate == pytest.approx(result.iterations / result.seconds)


def test_dry_run_connects_once_and_mines_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ServerProcess(tmp_path / "ledger.sqlite").start()
    try:
        settings = fast_settings(tmp_path, ["ws://127.0.0.1:9/ws", server.url], wallet=WALLET)
        code, report = asyncio.run(MinerDaemon(settings).dry_run())
        assert code == 0, report
        assert "ws://127.0.0.1:9/ws: FAILED" in report and f"{server.url}: ok over websocket" in report
        assert f"backend neuraxon: cpu ({cuda_unavailable()})" in report  # auto, and why it chose the cpu
        assert f"backend bpp9000-v1301: cpu ({cuda_unavailable()})" in report
        down = fast_settings(tmp_path, ["ws://127.0.0.1:9/ws"])
        code, report = asyncio.run(MinerDaemon(down).dry_run())
        assert code == exit_codes.EXIT_UNHEALTHY and "no server answered" in report
    finally:
        server.stop()


def test_a_cuda_backend_that_cannot_run_is_a_configuration_error(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from miner.cli import main

    assert main(["bench", "--backend", "cuda", "--algo", "neuraxon", "--seconds", "0.1"]) == 2
    assert f"cuda backend unavailable for neuraxon: {cuda_unavailable()}" in capsys.readouterr().err
    settings = fast_settings(tmp_path, ["ws://127.0.0.1:9/ws"], backend="cuda")
    assert asyncio.run(MinerDaemon(settings).run()) == exit_codes.EXIT_CONFIG
    code, report = asyncio.run(MinerDaemon(settings).dry_run())
    assert code == exit_codes.EXIT_CONFIG and "--backend cuda" in report and str(cuda_unavailable()) in report
    assert main(["run", "--backend", "gpu", "--dry-run", "--journal-file", str(tmp_path / "j.jsonl")]) == 2
    assert "backend" in capsys.readouterr().err


def test_self_test_of_one_entry_runs_only_that_version() -> None:
    scorer = Scorer(Algo.NEURAXON)
    v1 = self_test_entry(scorer, registry.entry("neuraxon"))
    assert (v1.algo, v1.cases) == ("neuraxon", len(registry.entry("neuraxon").known_answers())) and v1.cases == 5
    with pytest.raises(SelfTestError, match="known answer"):
        self_test_entry(BrokenScorer(), registry.entry("neuraxon"))


class _CheapBpp9000(Scorer):
    """The real bpp9000 scorer's entry resolution, without its 512 MiB pool (the test counts self-tests)."""

    def __init__(self) -> None:
        super().__init__(Algo.BPP9000)

    def prepare(self, inputs: JobInputs) -> PreparedWork:
        self.entry_for(inputs)
        return HashWork()


class _Documents(FakeConnection):
    """A session that serves task documents by URL."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self.documents = documents

    async def fetch(self, target: str) -> bytes:
        return self.documents[target]


def _bpp9000_job(job_id: str, url: str, document: bytes) -> StratumJob:
    return StratumJob(job_id=job_id, epoch=1, algo=Algo.BPP9000, random_seed="01" * 32,
                      identity=identity_from_public_key(bytes(32)), task_id=k12_hex(document), task_url=url,
                      task_hash=k12_hex(document), threshold=100, nonce_prefix="")


@pytest.mark.parametrize("first", ["bpp9000-v1301", "bpp9000"])
def test_a_bpp9000_job_self_tests_its_own_version_only_and_once(first: str) -> None:
    """A v1.301 job runs v1.301's known answers, not v1.305's (each of which builds a 512 MiB pool), and
    vice versa; a later job of a tested version runs none."""
    bare = PRODUCTION_TASK_FILE.read_bytes()  # what v1.301 pools serve: the bare core task file
    documents = {"bpp9000-v1301": bare, "bpp9000": FrameSpec.of(bare).document()}
    second = next(name for name in documents if name != first)
    calls: list[str] = []

    async def scenario() -> None:
        board = JobBoard()
        preparer = JobPreparer(board, {Algo.BPP9000: _CheapBpp9000()},
                               MinerStats(threads=1, algos=["bpp9000"], worker="w", embedded=False),
                               self_test=lambda scorer, entry: calls.append(entry.name))
        task = asyncio.get_running_loop().create_task(preparer.run())
        conn = _Documents({f"/tasks/{name}": doc for name, doc in documents.items()})
        try:
            for i, name in enumerate([first, first, second, first, second]):
                job = _bpp9000_job(f"j{i}", f"/tasks/{name}", documents[name])
                preparer.offer(conn, job)
                while board.current is None or board.current.job != job:
                    await asyncio.sleep(0.01)
                assert board.current.computable
                if i == 0:
                    assert calls == [first]
        finally:
            task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert calls == [first, second]


def test_bench_measures_one_registry_entry_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    from miner.cli import main

    assert main(["bench", "--algo", "neuraxon-v2", "--threads", "1", "--seconds", "0.5", "--warmup", "0",
                 "--backend", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("neuraxon")]
    assert [row[:2] for row in rows] == [["neuraxon-v2", "1"]]  # that entry only, not the family's v1
    assert "backend neuraxon-v2: cpu" in out and "backend neuraxon:" not in out
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--algo", "bpp9001"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert all(repr(name) in err for name in ["all", *(e.name for e in registry.entries())])  # from the registry
