"""Keccak-p[1600, 12] and Qubic's random2 pool, as numba kernels.

The permutation is the round function KangarooTwelve uses (the last 12 of Keccak-f[1600]'s 24
rounds). Qubic chains it over a 200-byte state to fill a ~512 MiB "random2 pool" once per mining
seed; ``random2`` then draws pseudo-random bytes from unaligned 64-bit reads of that pool at
positions driven by eight 32-bit linear congruential generators.

Layout conventions: the Keccak state is 25 little-endian ``uint64`` lanes, lane ``x + 5*y``; the
pool is a C-contiguous ``uint8`` array of :data:`POOL_BYTES` bytes (a whole number of 8-byte
words, so it can be viewed as ``uint64``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine._jit import njit

__all__ = [
    "POOL_BYTES",
    "POOL_WORDS",
    "STATE_BYTES",
    "build_pool",
    "keccak_p1600_12",
    "pool_prefix",
    "random2",
]

#: Bytes of one Keccak-p[1600] state.
STATE_BYTES = 200
#: Pool size: 2^32 + 64 bits rounded up to whole 200-byte states (536,871,000 bytes).
POOL_BYTES = ((((1 << 32) + 64) // 8 + STATE_BYTES - 1) // STATE_BYTES) * STATE_BYTES
#: The pool as 64-bit words.
POOL_WORDS = POOL_BYTES // 8

# Round constants of rounds 12..23 of Keccak-f[1600].
_RC12 = np.array(
    [
        0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
        0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
        0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
    ],
    dtype=np.uint64,
)


@njit(inline="always", alloc=False)
def _rotl(x: np.uint64, n: int) -> np.uint64:
    # n is never 0 or 64 at the call sites (the zero rotation of lane 0 is skipped).
    return (x << np.uint64(n)) | (x >> np.uint64(64 - n))


@njit(alloc=False)
def _permute(s: npt.NDArray[np.uint64], rc: npt.NDArray[np.uint64]) -> None:
    """Keccak-p[1600, 12] in place on ``s`` (uint64[25]); lanes held in locals for speed."""
    a00 = s[0]; a01 = s[1]; a02 = s[2]; a03 = s[3]; a04 = s[4]  # noqa: E702
    a05 = s[5]; a06 = s[6]; a07 = s[7]; a08 = s[8]; a09 = s[9]  # noqa: E702
    a10 = s[10]; a11 = s[11]; a12 = s[12]; a13 = s[13]; a14 = s[14]  # noqa: E702
    a15 = s[15]; a16 = s[16]; a17 = s[17]; a18 = s[18]; a19 = s[19]  # noqa: E702
    a20 = s[20]; a21 = s[21]; a22 = s[22]; a23 = s[23]; a24 = s[24]  # noqa: E702
    for r in range(12):
        # theta
        c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20
        c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21
        c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22
        c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23
        c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24
        d0 = c4 ^ _rotl(c1, 1)
        d1 = c0 ^ _rotl(c2, 1)
        d2 = c1 ^ _rotl(c3, 1)
        d3 = c2 ^ _rotl(c4, 1)
        d4 = c3 ^ _rotl(c0, 1)
        # rho and pi: b[y, 2x+3y] = rot(a[x, y] ^ d[x], r[x, y])
        b00 = a00 ^ d0
        b10 = _rotl(a01 ^ d1, 1)
        b20 = _rotl(a02 ^ d2, 62)
        b05 = _rotl(a03 ^ d3, 28)
        b15 = _rotl(a04 ^ d4, 27)
        b16 = _rotl(a05 ^ d0, 36)
        b01 = _rotl(a06 ^ d1, 44)
        b11 = _rotl(a07 ^ d2, 6)
        b21 = _rotl(a08 ^ d3, 55)
        b06 = _rotl(a09 ^ d4, 20)
        b07 = _rotl(a10 ^ d0, 3)
        b17 = _rotl(a11 ^ d1, 10)
        b02 = _rotl(a12 ^ d2, 43)
        b12 = _rotl(a13 ^ d3, 25)
        b22 = _rotl(a14 ^ d4, 39)
        b23 = _rotl(a15 ^ d0, 41)
        b08 = _rotl(a16 ^ d1, 45)
        b18 = _rotl(a17 ^ d2, 15)
        b03 = _rotl(a18 ^ d3, 21)
        b13 = _rotl(a19 ^ d4, 8)
        b14 = _rotl(a20 ^ d0, 18)
        b24 = _rotl(a21 ^ d1, 2)
        b09 = _rotl(a22 ^ d2, 61)
        b19 = _rotl(a23 ^ d3, 56)
        b04 = _rotl(a24 ^ d4, 14)
        # chi (row by row) and iota
        a00 = b00 ^ (~b01 & b02)
        a01 = b01 ^ (~b02 & b03)
        a02 = b02 ^ (~b03 & b04)
        a03 = b03 ^ (~b04 & b00)
        a04 = b04 ^ (~b00 & b01)
        a05 = b05 ^ (~b06 & b07)
        a06 = b06 ^ (~b07 & b08)
        a07 = b07 ^ (~b08 & b09)
        a08 = b08 ^ (~b09 & b05)
        a09 = b09 ^ (~b05 & b06)
        a10 = b10 ^ (~b11 & b12)
        a11 = b11 ^ (~b12 & b13)
        a12 = b12 ^ (~b13 & b14)
        a13 = b13 ^ (~b14 & b10)
        a14 = b14 ^ (~b10 & b11)
        a15 = b15 ^ (~b16 & b17)
        a16 = b16 ^ (~b17 & b18)
        a17 = b17 ^ (~b18 & b19)
        a18 = b18 ^ (~b19 & b15)
        a19 = b19 ^ (~b15 & b16)
        a20 = b20 ^ (~b21 & b22)
        a21 = b21 ^ (~b22 & b23)
        a22 = b22 ^ (~b23 & b24)
        a23 = b23 ^ (~b24 & b20)
        a24 = b24 ^ (~b20 & b21)
        a00 ^= rc[r]
    s[0] = a00; s[1] = a01; s[2] = a02; s[3] = a03; s[4] = a04  # noqa: E702
    s[5] = a05; s[6] = a06; s[7] = a07; s[8] = a08; s[9] = a09  # noqa: E702
    s[10] = a10; s[11] = a11; s[12] = a12; s[13] = a13; s[14] = a14  # noqa: E702
    s[15] = a15; s[16] = a16; s[17] = a17; s[18] = a18; s[19] = a19  # noqa: E702
    s[20] = a20; s[21] = a21; s[22] = a22; s[23] = a23; s[24] = a24  # noqa: E702


@njit(alloc=False)
def _build_pool_kernel(
    state: npt.NDArray[np.uint64], rc: npt.NDArray[np.uint64], pool: npt.NDArray[np.uint64]
) -> None:
    # pool: uint64[POOL_WORDS]; each permutation's whole 25-lane state is appended.
    n_states = pool.shape[0] // 25
    for i in range(n_states):
        _permute(state, rc)
        base = i * 25
        for j in range(25):
            pool[base + j] = state[j]


@njit(alloc=False)
def _random2_kernel(
    x: npt.NDArray[np.uint32], pool: npt.NDArray[np.uint64], out: npt.NDArray[np.uint64]
) -> None:
    # x: uint32[8] LCG states (consumed); out: uint64[8 * segments].
    segments = out.shape[0] // 8
    for j in range(segments):
        for i in range(8):
            xi = x[i]
            word = np.int64(xi >> np.uint32(6))
            shift = np.uint64(xi & np.uint32(63))
            u0 = pool[word]
            if shift == 0:
                out[8 * j + i] = u0
            else:
                out[8 * j + i] = (u0 >> shift) | (pool[word + 1] << (np.uint64(64) - shift))
            x[i] = xi * np.uint32(1664525) + np.uint32(1013904223)


def keccak_p1600_12(state: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Return Keccak-p[1600, 12] of a 200-byte state (uint8[200]); the input is not modified."""
    arr = np.ascontiguousarray(state, dtype=np.uint8)
    if arr.shape != (STATE_BYTES,):
        raise ValueError(f"state must be {STATE_BYTES} bytes, got shape {arr.shape}")
    lanes = arr.copy().view("<u8").astype(np.uint64)
    _permute(lanes, _RC12)
    return lanes.astype("<u8").view(np.uint8).copy()


def build_pool(seed: bytes | npt.NDArray[np.uint8], out: npt.NDArray[np.uint8] | None = None) -> npt.NDArray[np.uint8]:
    """Fill the random2 pool for a 32-byte mining seed.

    The state starts as ``seed || 0^168``; each of the 2,684,355 steps permutes it and appends the
    whole 200-byte state. Returns ``out`` (or a new array): uint8[POOL_BYTES], C-contiguous.
    Runs without the GIL.
    """
    seed_arr = np.frombuffer(bytes(seed), dtype=np.uint8) if not isinstance(seed, np.ndarray) else seed
    if seed_arr.shape != (32,):
        raise ValueError(f"mining seed must be 32 bytes, got {seed_arr.shape}")
    if out is None:
        out = np.empty(POOL_BYTES, dtype=np.uint8)
    if out.shape != (POOL_BYTES,) or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError("pool buffer must be a C-contiguous uint8 array of POOL_BYTES")
    state_bytes = np.zeros(STATE_BYTES, dtype=np.uint8)
    state_bytes[:32] = seed_arr
    state = state_bytes.view("<u8").astype(np.uint64)
    _build_pool_kernel(state, _RC12, out.view(np.uint64))
    return out


def pool_prefix(seed: bytes | npt.NDArray[np.uint8], n_states: int) -> npt.NDArray[np.uint8]:
    """The first ``n_states`` 200-byte states of the pool chain (uint8[200 * n_states]), same kernel."""
    seed_arr = np.frombuffer(bytes(seed), dtype=np.uint8) if not isinstance(seed, np.ndarray) else seed
    if seed_arr.shape != (32,) or n_states < 0:
        raise ValueError("need a 32-byte seed and a non-negative state count")
    state_bytes = np.zeros(STATE_BYTES, dtype=np.uint8)
    state_bytes[:32] = seed_arr
    out = np.empty(n_states * 25, dtype=np.uint64)
    _build_pool_kernel(state_bytes.view("<u8").astype(np.uint64), _RC12, out)
    return out.astype("<u8").view(np.uint8)


def random2(seed: bytes | npt.NDArray[np.uint8], pool: npt.NDArray[np.uint8], n_bytes: int) -> npt.NDArray[np.uint8]:
    """Draw ``n_bytes`` (a multiple of 64) from ``pool`` driven by a 32-byte seed.

    The seed is read as eight little-endian uint32 bit offsets into the pool; each output
    segment of 64 bytes takes one unaligned 64-bit read per offset, then advances every offset
    with the Numerical-Recipes LCG. Returns uint8[n_bytes].
    """
    if n_bytes % 64 != 0 or n_bytes < 0:
        raise ValueError(f"random2 draws whole 64-byte segments, got {n_bytes}")
    seed_arr = np.frombuffer(bytes(seed), dtype=np.uint8) if not isinstance(seed, np.ndarray) else seed
    if seed_arr.shape != (32,):
        raise ValueError(f"random2 seed must be 32 bytes, got {seed_arr.shape}")
    if pool.dtype != np.uint8 or pool.shape != (POOL_BYTES,) or not pool.flags.c_contiguous:
        raise ValueError("pool must be a C-contiguous uint8 array of POOL_BYTES (see build_pool)")
    x = seed_arr.copy().view("<u4").astype(np.uint32)
    out = np.empty(n_bytes // 8, dtype=np.uint64)
    _random2_kernel(x, pool.view(np.uint64), out)
    return out.astype("<u8").view(np.uint8)
