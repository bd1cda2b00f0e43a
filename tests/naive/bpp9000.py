"""Slow, readable twins of the bpp9000 kernels: Keccak-p[1600,12], random2, window errors, walk.

Written from the algorithm's description (qubic/core's reference scorer and FIPS 202), not from
the numba code, with plain Python integers and lists so that every step can be read and checked
by eye. Only for small inputs: one pure-Python LUT lookup per neuron per tick.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNKNOWN = 2
INFINITE = 0xFFFFFFFF
MASK64 = (1 << 64) - 1

# FIPS 202: round constants of Keccak-f[1600]; Keccak-p[1600, 12] runs the last 12 rounds.
_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]


def _rho_offsets() -> list[list[int]]:
    # FIPS 202 3.2.2: walk (x, y) <- (y, 2x + 3y) from (1, 0), offset (t+1)(t+2)/2 mod 64
    offsets = [[0] * 5 for _ in range(5)]
    x, y = 1, 0
    for t in range(24):
        offsets[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return offsets


_RHO = _rho_offsets()


def _rot(v: int, n: int) -> int:
    n %= 64
    return ((v << n) | (v >> (64 - n))) & MASK64 if n else v


def keccak_p1600_12(state: bytes) -> bytes:
    """Keccak-p[1600, 12] of a 200-byte state, lane (x, y) at bytes 8*(x + 5y)."""
    a = [[int.from_bytes(state[8 * (x + 5 * y):8 * (x + 5 * y) + 8], "little") for y in range(5)] for x in range(5)]
    for rc in _RC[12:]:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rot(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rot(a[x][y], _RHO[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(25))


def pool_prefix(seed: bytes, n_states: int) -> bytes:
    """The first ``n_states`` 200-byte states of the random2 pool chain for ``seed``."""
    state = bytes(seed) + bytes(168)
    out = []
    for _ in range(n_states):
        state = keccak_p1600_12(state)
        out.append(state)
    return b"".join(out)


def random2(seed: bytes, pool: np.ndarray, n_bytes: int) -> bytes:
    """random2 draw: eight LCG-driven bit offsets, one unaligned 64-bit read each per segment."""
    assert n_bytes % 64 == 0
    x = [int.from_bytes(seed[4 * i:4 * i + 4], "little") for i in range(8)]
    out = bytearray()
    for _ in range(n_bytes // 64):
        for i in range(8):
            byte = x[i] >> 3
            chunk = int.from_bytes(pool[byte:byte + 9].tobytes(), "little")  # 72 bits cover any offset
            out += ((chunk >> (x[i] & 7)) & MASK64).to_bytes(8, "little")
            x[i] = (x[i] * 1664525 + 1013904223) % (1 << 32)
    return bytes(out)


def window_result(lut: Sequence[Sequence[int]], nbr: Sequence[Sequence[int]], input_idx: Sequence[int],
                  signal: int, output: int, inputs: Sequence[Sequence[int]], targets: Sequence[int],
                  window: int, window_width: int, max_ticks: int) -> int | None:
    """One window: None if it times out, else 1 for a wrong prediction, 0 for a right one."""
    population = len(lut)
    is_input = [False] * population
    for n in input_idx:
        is_input[n] = True
    state = [UNKNOWN] * population
    fed = 0
    for _tick in range(max_ticks):
        if state[signal] == UNKNOWN:
            if fed >= window_width:
                return int(state[output] != targets[window + fed])
            row = inputs[window + fed]
            fed += 1
        else:
            row = [UNKNOWN] * len(input_idx)
        for k, n in enumerate(input_idx):
            state[n] = row[k]
        state = [state[n] if is_input[n] else
                 lut[n][state[nbr[n][0]] + 3 * state[nbr[n][1]] + 9 * state[nbr[n][2]]]
                 for n in range(population)]
    return None


def errors(lut: Sequence[Sequence[int]], nbr: Sequence[Sequence[int]], input_idx: Sequence[int], signal: int,
           output: int, inputs: Sequence[Sequence[int]], targets: Sequence[int], window_width: int,
           max_ticks: int) -> int:
    """Wrong predictions over all ``T - W`` windows, or INFINITE if any window times out."""
    fails = 0
    for w in range(len(inputs) - window_width):
        r = window_result(lut, nbr, input_idx, signal, output, inputs, targets, w, window_width, max_ticks)
        if r is None:
            return INFINITE
        fails += r
    return fails


def walk(lut: Sequence[Sequence[int]], seeds: Sequence[int], changes: int, steps: int,
         nbr: Sequence[Sequence[int]], input_idx: Sequence[int], signal: int, output: int,
         inputs: Sequence[Sequence[int]], targets: Sequence[int], window_width: int, max_ticks: int) -> int:
    """The mutation walk from ``lut``: keep a step unless it is worse; return the best count."""
    population = len(lut)
    updated = [n for n in range(population) if n not in set(input_idx)]
    table = [list(row) for row in lut]

    def count() -> int:
        return errors(table, nbr, input_idx, signal, output, inputs, targets, window_width, max_ticks)

    cur = count()
    best = cur
    for s in range(steps):
        saved = [list(row) for row in table]
        for i in range(changes):
            m = int(seeds[s * 10 + i])
            flat = (m >> 1) % (len(updated) * 27)
            n, line = updated[flat // 27], flat % 27
            table[n][line] = (table[n][line] + 1 + (m & 1)) % 3
        r = count()
        if r <= cur:
            cur = r
        else:
            table = saved
        best = min(best, cur)
    return best
