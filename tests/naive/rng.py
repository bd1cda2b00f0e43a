"""Plain-Python twin of :mod:`engine.rng` (xoshiro256**), for comparing kernels draw for draw."""

from __future__ import annotations

from collections.abc import Sequence

_M = (1 << 64) - 1


class Xoshiro:
    def __init__(self, words: Sequence[int]) -> None:
        self.s = [int(w) & _M for w in words]

    @staticmethod
    def _rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & _M

    def next_u64(self) -> int:
        s = self.s
        result = (self._rotl((s[1] * 5) & _M, 7) * 9) & _M
        t = (s[1] << 17) & _M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def random(self) -> float:
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.random()

    def below(self, n: int) -> int:
        return int(self.random() * n)
