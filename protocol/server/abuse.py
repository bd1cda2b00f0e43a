"""Who is refused service, and for how long: bans for repeated wrong claims and repeated floods.

A claimed score is recomputed before it is believed, so a wrong claim costs the server a full
verification and its sender nothing. qubic/core makes a wrong claim cost a deposit (refunded only when
the recomputed score equals the claim) and pools ban shares that keep failing; here (the numbers are
``ServerConfig`` fields, documented in ``docs/workserver.md``, "Abuse"):

* **Wrong claims.** Each account and each client address has a budget of ``max_wrong_claims - 1``
  wrong claims that refills by one every ``wrong_claim_refill_seconds``; the claim that finds it
  empty — the ``max_wrong_claims``-th in a row, 5 by default — bans the account *and* the address.
* **Floods.** A connection closed for sending faster than its rate limit (``max_rate_strikes``) is a
  flood; the ``max_flood_closes``-th flood of an address within the same kind of budget bans it.
* **Suspects.** Until its budget has refilled, an account with a wrong claim is a suspect: its
  verifications run only when no other account's wait (:meth:`Bans.suspect`).
* **Backoff.** A ban lasts ``ban_seconds`` (60 s), doubling with each further ban of the same key up
  to ``ban_max_seconds`` (a day); a key that stays clean that long after its last ban starts over.

This module only keeps the books (no I/O); :class:`~protocol.server.service.WorkService` enforces a
ban (closes the account's connections, drops its queued verifications, logs it once, counts it),
keeps it in the ledger, and :mod:`protocol.server.admission` refuses banned addresses at accept time.
A ban issued elsewhere — by another front-end of the pool, or before a restart — is taken in with
:meth:`Bans.adopt`; the budgets stay this front-end's own.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from protocol.server.limits import BucketTable

__all__ = ["AbusePolicy", "Ban", "Bans", "account_key", "address_key", "banned_parties"]


@dataclass(frozen=True)
class AbusePolicy:
    """The thresholds (see the module docstring)."""

    max_wrong_claims: int = 5
    wrong_claim_refill_seconds: float = 600.0
    max_flood_closes: int = 3
    flood_refill_seconds: float = 600.0
    ban_seconds: float = 60.0
    ban_max_seconds: float = 86_400.0
    #: Also ban the client address (not only the account) of an offender.
    ban_addresses: bool = True

    def __post_init__(self) -> None:
        if self.max_wrong_claims < 1 or self.max_flood_closes < 1:
            raise ValueError("abuse thresholds must be >= 1")
        if min(self.wrong_claim_refill_seconds, self.flood_refill_seconds, self.ban_seconds) <= 0:
            raise ValueError("abuse periods must be positive")
        if self.ban_max_seconds < self.ban_seconds:
            raise ValueError("ban_max_seconds must be >= ban_seconds")


@dataclass(frozen=True)
class Ban:
    """An active ban: why, for how long (seconds, monotonic ``until``) and which ban of the key it is."""

    reason: str
    seconds: float
    until: float
    offence: int
    #: The keys it covers: ``account:<account>`` and/or ``address:<address>``.
    keys: tuple[str, ...] = ()

    def remaining(self, now: float) -> float:
        """Seconds left at monotonic time ``now``."""
        return max(0.0, self.until - now)

    def describe(self, now: float) -> str:
        """What the banned client is told, e.g. ``refused for 59 more seconds: repeated wrong score claims``."""
        why = {"wrong_claims": "repeated wrong score claims", "flooding": "repeated message floods"}
        return f"refused for {max(1.0, self.remaining(now)):.0f} more seconds: {why.get(self.reason, self.reason)}"


@dataclass
class _Record:
    offences: int
    ban: Ban


_ACCOUNT, _ADDRESS = "account:", "address:"


def account_key(account: str) -> str:
    """The ban key of an account."""
    return _ACCOUNT + account


def address_key(address: str) -> str:
    """The ban key of a client address."""
    return _ADDRESS + address


def banned_parties(keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The account and the address that ban ``keys`` name (``None`` for one they do not)."""
    account = next((k.removeprefix(_ACCOUNT) for k in keys if k.startswith(_ACCOUNT)), None)
    address = next((k.removeprefix(_ADDRESS) for k in keys if k.startswith(_ADDRESS)), None)
    return account, address


class Bans:
    """Wrong-claim and flood budgets per account and address, and the bans they lead to.

    ``clock`` is monotonic seconds (injectable for tests); at most ``max_keys`` keys are remembered
    (least recently used forgotten first).
    """

    def __init__(self, policy: AbusePolicy, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.policy = policy
        self._clock = clock
        self.max_keys = max_keys
        self._claims = BucketTable(1.0 / policy.wrong_claim_refill_seconds, policy.max_wrong_claims - 1,
                                   max_keys, clock)
        self._floods = BucketTable(1.0 / policy.flood_refill_seconds, policy.max_flood_closes - 1, max_keys, clock)
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _keys(self, account: str | None, address: str | None) -> list[str]:
        keys = [] if account is None else [account_key(account)]
        if address is not None and self.policy.ban_addresses:
            keys.append(address_key(address))
        return keys

    def wrong_claim(self, account: str, address: str | None) -> Ban | None:
        """Count one wrong claim of ``account`` from ``address``; the new ban if this one crossed the line."""
        keys = [account_key(account)] + ([] if address is None else [address_key(address)])
        spent = [self._claims.take(key) for key in keys]  # every budget pays, so none lags behind
        if all(spent):
            return None
        return self._ban(self._keys(account, address), "wrong_claims")

    def suspect(self, account: str) -> bool:
        """Whether ``account`` made a wrong claim whose budget has not refilled yet (its verifications
        then wait until no other account's do: see :mod:`protocol.server.scheduling`)."""
        return not self._claims.full(account_key(account))

    def flood(self, address: str | None, account: str | None = None) -> Ban | None:
        """Count one flood close from ``address``; the new ban if it was one too many."""
        if address is None or self._floods.take(address_key(address)):
            return None
        return self._ban(self._keys(account, address), "flooding")

    def of(self, *, account: str | None = None, address: str | None = None) -> Ban | None:
        """The active ban covering ``account`` or ``address``, if any."""
        now = self._clock()
        for key in self._keys(account, address):
            record = self._records.get(key)
            if record is not None and record.ban.until > now:
                return record.ban
        return None

    def active(self) -> int:
        """Keys banned right now."""
        now = self._clock()
        return sum(1 for r in self._records.values() if r.ban.until > now)

    def adopt(self, keys: tuple[str, ...], reason: str, offence: int, seconds: float, until: float) -> Ban | None:
        """Take in a ban issued elsewhere (``until`` on this clock); a key keeps the later of its ban and
        this one, and the higher offence. Returns the ban when it bans a key that was not banned here
        (the caller enforces it); an ended one is only remembered, so the key's next ban doubles from it."""
        now = self._clock()
        ban = Ban(reason, seconds, until, offence, keys)
        new = False
        for key in keys:
            record = self._records.get(key)
            if record is None or record.ban.until < until:
                was_banned = record is not None and record.ban.until > now
                self._records[key] = _Record(max(offence, record.offences if record else 0), ban)
                new = new or (until > now and not was_banned)
            elif record.offences < offence:
                record.offences = offence
            self._records.move_to_end(key)
        self._forget_oldest()
        return ban if new else None

    def _forget_oldest(self) -> None:
        while len(self._records) > self.max_keys:
            self._records.popitem(last=False)

    def _ban(self, keys: list[str], reason: str) -> Ban | None:
        if not keys:
            return None
        now = self._clock()
        p = self.policy
        offences = 0
        for key in keys:
            record = self._records.get(key)
            if record is not None and record.ban.until > now:
                return None  # already banned: nothing new to enforce or log
            if record is not None and now - record.ban.until < p.ban_max_seconds:
                offences = max(offences, record.offences)
        offences += 1
        seconds = min(p.ban_max_seconds, p.ban_seconds * 2.0 ** (offences - 1))
        ban = Ban(reason, seconds, now + seconds, offences, tuple(keys))
        for key in keys:
            self._records[key] = _Record(offences, ban)
            self._records.move_to_end(key)
        self._forget_oldest()
        return ban
