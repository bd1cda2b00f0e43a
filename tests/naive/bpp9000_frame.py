"""Slow, readable twin of the rolling-frame bpp9000 walk (qubic/core v1.305), from its description.

Plain Python lists and integers, no shortcuts: every frame is a fresh rollout from the start
state (as the reference's ``advanceShift`` calls ``score`` again per frame), every step is rolled
back from a full copy, and the best network is copied whenever it is recorded. Only for small
networks and tick limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

UNKNOWN = 2
INFINITE = 0xFFFFFFFF


@dataclass
class Net:
    """``links[n]`` = the three neighbours of neuron n, ``start[n]`` its start trit, ``lut[n]`` its 27 entries."""

    links: list[list[int]]
    start: list[int]
    lut: list[list[int]]

    def copy(self) -> Net:
        return Net([list(x) for x in self.links], list(self.start), [list(x) for x in self.lut])


@dataclass
class Params:
    window: int
    shift_cap: int
    max_ticks: int
    steps: int
    control: int
    output: int
    targets: Sequence[int] = field(default_factory=list)


def frame_errors(net: Net, p: Params, shift: int) -> int:
    """Wrong emits among emits ``shift .. shift+W-1``, or INFINITE if tick ``max_ticks`` comes first."""
    state = list(net.start)
    wrong = 0
    emitted = 0
    ticks = 0
    while emitted < shift + p.window:
        ticks += 1
        if ticks >= p.max_ticks:
            return INFINITE
        state = [net.lut[n][state[a] + 3 * state[b] + 9 * state[c]] for n, (a, b, c) in enumerate(net.links)]
        if state[p.control] != UNKNOWN:
            if emitted >= shift and state[p.output] != p.targets[emitted]:
                wrong += 1
            emitted += 1
    return wrong


def advance(net: Net, p: Params, shift: int) -> tuple[int, int]:
    """Grade frame after frame while the network masters it (at most W // 3 wrong) and the cap allows."""
    while True:
        e = frame_errors(net, p, shift)
        if e > p.window // 3 or shift == p.shift_cap:
            return e, shift
        shift += 1


def mutate(net: Net, mode: int, seed: int) -> None:
    population = len(net.start)
    if mode == 1:
        n = (seed >> 1) % population
        net.start[n] = (net.start[n] + 1 + (seed & 1)) % 3
    elif mode == 2:
        slot = seed % (3 * population)
        target = (seed // (3 * population)) % population
        n, j = divmod(slot, 3)
        while target == net.links[n][j]:
            target = (target + 1) % population
        net.links[n][j] = target
    elif mode == 3:
        flat = (seed >> 1) % (27 * population)
        n, e = divmod(flat, 27)
        net.lut[n][e] = (net.lut[n][e] + 1 + (seed & 1)) % 3


def better(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Rating a = (error, shift) beats b: higher shift, then fewer errors."""
    if a[1] != b[1]:
        return a[1] > b[1]
    return a[0] < b[0]


def walk(net: Net, p: Params, seeds: Sequence[int], changes: int, explore: int, mode: int,
         shift: int) -> tuple[tuple[int, int], Net]:
    """The explore-then-exploit walk; returns the best Rating (error, shift) and its network."""
    cur = advance(net, p, shift)
    best, best_net = cur, net.copy()
    for s in range(p.steps):
        saved = net.copy()
        for i in range(changes):
            mutate(net, mode, int(seeds[10 * s + i]))
        r = advance(net, p, cur[1])
        # explore: only a no-better error; exploit: anything not worse
        keep = r[0] != INFINITE and (r[0] >= cur[0] if s < explore else not better(cur, r))
        if keep:
            cur = r
        else:
            net = saved
        if s >= explore and cur[0] != INFINITE and not better(best, cur):
            best, best_net = cur, net.copy()
    return best, best_net
