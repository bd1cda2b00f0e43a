"""Known-answer self-test (a wrong scorer stops the miner), offline bench, and the dry run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from miner import exit_codes
from miner.bench import measure
from miner.daemon import MinerDaemon
from miner.scorers import JobInputs, PreparedWork, Scorer
from miner.selftest import SelfTestError, run_self_tests
from protocol.fields import Algo
from scoring.algorithms.cuda_backends import cuda_unavailable
from scoring.algorithms.neuraxon_v1 import NEURAXON_CASES
from tests.miner.fakes import HashScorer, HashWork
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
