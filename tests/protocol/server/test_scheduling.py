"""The fair verification queue on its own: turn order, bounds, displacement, drops (no server, no scorer)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.server.scheduling import (
    SERVER_ACCOUNT,
    FairQueue,
    FairScheduler,
    QueueItem,
    SchedulerBusyError,
    VerificationDroppedError,
)
from protocol.server.verify import Verifier, VerifyOutcome, VerifyRequest
from tests.protocol.server.helpers import StubVerifier, run


def _queue(**bounds: int) -> FairQueue:
    values = {"max_queued": 1000, "max_per_account": 1000, "max_per_connection": 1000}
    values.update(bounds)
    return FairQueue(**values)


def test_round_robin_serves_one_item_per_account_in_turn() -> None:
    queue = _queue()
    for i in range(5):
        queue.admit(QueueItem("flood", f"f{i}", i))
    queue.admit(QueueItem("alice", "a", "a1"))
    queue.admit(QueueItem("bob", "b", "b1"))
    queue.admit(QueueItem("alice", "a", "a2"))
    order = []
    while (item := queue.pop()) is not None:
        order.append((item.account, item.payload))
    assert order == [("flood", 0), ("alice", "a1"), ("bob", "b1"), ("flood", 1), ("alice", "a2"),
                     ("flood", 2), ("flood", 3), ("flood", 4)]


def test_bounds_per_connection_and_per_account_count_running_items_too() -> None:
    queue = _queue(max_per_account=3, max_per_connection=2)
    queue.admit(QueueItem("acct", "c1"))
    running = queue.pop()
    assert running is not None
    queue.admit(QueueItem("acct", "c1"))
    with pytest.raises(SchedulerBusyError, match="connection"):
        queue.admit(QueueItem("acct", "c1"))  # one running + one queued
    queue.admit(QueueItem("acct", "c2"))
    with pytest.raises(SchedulerBusyError, match="account"):
        queue.admit(QueueItem("acct", "c3"))
    queue.admit(QueueItem(SERVER_ACCOUNT, None, bounded=False))  # the server's own work has no bound
    queue.finished(running)
    queue.admit(QueueItem("acct", "c3"))  # a finished item frees its place
    assert queue.in_flight("acct") == 3


def test_a_full_queue_takes_from_the_longest_queue_never_from_a_light_account() -> None:
    queue = _queue(max_queued=4)
    for i in range(3):
        queue.admit(QueueItem("flood", "f", i))
    queue.admit(QueueItem("carol", "c", "c1"))
    (victim,) = queue.admit(QueueItem("alice", "a", "a1"))
    assert (victim.account, victim.payload) == ("flood", 2)  # the flood's newest
    with pytest.raises(SchedulerBusyError, match="full"):
        queue.admit(QueueItem("flood", "f", 9))  # the longest queue cannot push out others
    (victim,) = queue.admit(QueueItem("bob", "b", "b1"))
    assert victim.account == "flood"
    with pytest.raises(SchedulerBusyError, match="full"):
        queue.admit(QueueItem("dave", "d", "d1"))  # every account has one item: nobody to take from
    assert len(queue) == 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("admit"), st.integers(0, 5)), st.just(("pop", 0))), max_size=120))
def test_an_item_of_an_idle_account_waits_for_at_most_one_item_of_each_other_account(
        steps: list[tuple[str, int]]) -> None:
    queue = _queue()
    watched: dict[int, Counter[str]] = {}  # item id -> pops of other accounts since it was queued
    serial = 0
    for op, account_number in steps:
        if op == "admit":
            account, low = f"a{account_number}", account_number >= 4  # a4 and a5 are suspects
            if queue.in_flight(account) == 0 and not low:  # nothing queued: an "honest" account
                watched[serial] = Counter()
            queue.admit(QueueItem(account, None, serial, low=low))
            serial += 1
            continue
        item = queue.pop()
        if item is None:
            continue
        watched.pop(item.payload, None)
        queue.finished(item)
        for other in watched.values():
            other[item.account] += 1
    for counts in watched.values():
        assert all(n <= 1 for n in counts.values()), counts
        assert counts["a4"] == counts["a5"] == 0, counts  # a suspect never goes before an honest account


def test_a_suspect_account_is_served_only_when_nobody_else_waits() -> None:
    queue = _queue()
    for i in range(3):
        queue.admit(QueueItem("cheat", "c", i, low=True))
    queue.admit(QueueItem("alice", "a", "a1"))
    queue.admit(QueueItem("bob", "b", "b1"))
    first = [queue.pop() for _ in range(2)]
    queue.admit(QueueItem("carol", "c2", "c1"))
    rest = []
    while (item := queue.pop()) is not None:
        rest.append(item)
    assert [i.payload for i in first + rest] == ["a1", "b1", "c1", 0, 1, 2]
    queue.admit(QueueItem("dave", "d", "d1"))
    queue.admit(QueueItem("dave", "d", "d2"))
    queue.admit(QueueItem("erin", "e", "e1"))
    queue.admit(QueueItem("dave", "d", "d3", low=True))  # dave made a wrong claim meanwhile: demoted
    assert [queue.pop().payload for _ in range(4)] == ["e1", "d1", "d2", "d3"]  # type: ignore[union-attr]


class _GatedExecutor:
    """An executor whose computations wait until the test releases them, one by one."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.started: list[bytes] = []
        self.gate = asyncio.Semaphore(0)

    async def run(self, verifier: Verifier, request: VerifyRequest, *, force: bool = False,
                  priority: int = 0) -> VerifyOutcome:
        self.started.append(request.nonce)
        await self.gate.acquire()
        return VerifyOutcome(len(self.started))


def _request(tag: int) -> VerifyRequest:
    return VerifyRequest(task=None, public_key=bytes(32), nonce=bytes([tag]) * 32)


def test_the_scheduler_never_overfills_the_executor_and_drops_what_nobody_waits_for() -> None:
    async def body() -> None:
        executor = _GatedExecutor(workers=2)
        drops: list[str] = []
        scheduler = FairScheduler(executor, max_queued=100, max_per_account=10, max_per_connection=10,
                                  on_drop=lambda item, reason: drops.append(reason))
        verifier = StubVerifier()
        gone = [asyncio.ensure_future(scheduler.run(verifier, _request(i), account="x", connection="closed"))
                for i in range(4)]
        honest = asyncio.ensure_future(scheduler.run(verifier, _request(9), account="h", connection="h"))
        for _ in range(5):  # let the submits queue and the first computations start
            await asyncio.sleep(0)
        assert len(executor.started) == 2 and scheduler.pending == 5  # two running, three queued
        assert scheduler.drop_connection("closed") == 2  # its queued items (two of its run already)
        for future in gone[2:]:
            with pytest.raises(VerificationDroppedError):
                await future
        for _ in range(3):
            executor.gate.release()
        assert (await honest).score == 3 and executor.started[-1] == bytes([9]) * 32
        await asyncio.gather(*gone[:2])
        assert drops == ["disconnected", "disconnected"] and scheduler.pending == 0

    run(body())


def test_with_pool_wide_turns_the_lowest_turn_goes_first_and_suspects_still_last() -> None:
    queue = _queue()
    for tag in (3, 4, 5):  # a flood whose turns run ahead of the pool's clock
        queue.admit(QueueItem("flood", "f", f"f{tag}", tag=tag))
    queue.admit(QueueItem("cheat", "c", "c1", low=True, tag=1))
    queue.admit(QueueItem("alice", "a", "a2", tag=2))
    queue.admit(QueueItem("alice", "a", "a1", tag=1))  # its turns arrived out of order: kept in order
    queue.admit(QueueItem("bob", "b", "b2", tag=2))
    order = []
    while (item := queue.pop()) is not None:
        order.append(item.payload)
    assert order == ["a1", "b2", "a2", "f3", "f4", "f5", "c1"]  # a tie: whoever waited longer
