"""Rate-limit budgets shared by every worker: a request rate per endpoint class and a cap on
simultaneous requests, kept in Redis (or, with no Redis URL, in this process).

Vendors limit an *account*, not a worker: HubSpot allows a private app 100 requests per 10 s
(190 on Professional and Enterprise) and its CRM search four a second; a Discourse admin API key
60 requests a minute (``max_admin_api_reqs_per_minute``); Mailchimp ten simultaneous connections
per account. Fifty cases at once must share those budgets instead of collecting 429s, so every
``HttpClient`` asks the store before each request.

The store
=========

``budget_store(url)`` returns a ``RedisBudgetStore`` for a Redis URL, else the process-wide
``LocalBudgetStore`` (the same semantics under a lock, for the demo and single-process tests).
Every Redis key expires shortly after its last use, so a Redis restart loses only the last
window of accounting: the next requests start a fresh window, which the vendor's own limit
(its 429 and ``Retry-After``) still backs up. Redis's clock (``TIME``) is the only clock, so
workers on machines whose clocks disagree still share one window.

Request rates — ``store.reserve(key, rate=Rate(60, 60.0), max_wait_s=30.0) -> Reservation``
    Reserves the next slot of a sliding window (a sorted set of granted slots): no window of
    ``rate.window_s`` ever holds more than ``rate.requests`` slots. ``Reservation.wait_s`` is
    how long the caller must sleep before sending; when that is longer than ``max_wait_s``,
    nothing is reserved (``reserved`` is False) and the caller should give the worker back
    (``HttpClient`` raises ``RateLimited`` with that wait as ``retry_after``).

Slots (concurrency caps and the app's bound on parallel runs)
    ``store.acquire(key, *, limit, lease_s, holder) -> bool`` takes one of ``limit`` slots for
    ``holder`` (any unique text: a request id, a run id) for ``lease_s`` seconds; taking it again
    with the same holder renews the lease. ``store.release(key, *, holder)`` gives it back early.
    ``store.holders(key) -> int`` counts the live leases. A holder that dies without releasing
    loses its slot when the lease runs out, so a killed worker never blocks a slot for ever. The
    app uses the same calls for its per-system bound on parallel runs, e.g.
    ``store.acquire(f"system:{system_id}:runs", limit=4, lease_s=600, holder=f"run:{run_id}")``.

Limits of each connector
========================

A connector names its vendor's published limits per endpoint class as ``Limit`` values
(``HttpConnector.limits``); ``budget_key`` derives the account's key from the base URL and the
credential (hashed), so two systems configured with the same HubSpot token share one budget.
``time_scale`` (a setting meant for sandboxes) divides every window, as the sandboxes' own
``time_scale`` does.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from abc import ABC, abstractmethod
from bisect import insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .base import RateLimited

# Requests leave the worker a little after their slot and reach the vendor after a variable
# delay; a window a little longer than the vendor's keeps that jitter from tipping two
# requests into the same vendor window.
WINDOW_MARGIN_S = 0.1
WINDOW_MARGIN_SHARE = 0.05


@dataclass(frozen=True)
class Rate:
    """At most ``requests`` requests in any ``window_s`` seconds."""

    requests: int
    window_s: float

    def scaled(self, time_scale: float) -> Rate:
        return replace(self, window_s=self.window_s / time_scale)

    @property
    def guarded_window_s(self) -> float:
        """The window the store enforces: the vendor's plus a margin for network jitter."""
        return self.window_s + max(WINDOW_MARGIN_S, WINDOW_MARGIN_SHARE * self.window_s)

    def as_json(self) -> dict[str, float]:
        return {"requests": self.requests, "window_s": self.window_s}


@dataclass(frozen=True)
class Limit:
    """One published limit of a vendor account: a request rate, a concurrency cap, or both.

    ``name`` keys the budget within the account ("general", "search", "admin", "connections"):
    endpoint classes that name the same limit share it.
    """

    name: str
    rate: Rate | None = None
    concurrent: int | None = None

    def scaled(self, time_scale: float) -> Limit:
        if self.rate is None or time_scale == 1:
            return self
        return replace(self, rate=self.rate.scaled(time_scale))


@dataclass(frozen=True)
class Reservation:
    """A slot under a rate: ``wait_s`` until it comes; ``reserved`` False when it was too far."""

    wait_s: float
    reserved: bool


class BudgetStore(ABC):
    """Where budgets are counted: in Redis for all workers, or in this process."""

    @abstractmethod
    def reserve(self, key: str, *, rate: Rate, max_wait_s: float) -> Reservation:
        """Reserve the next slot of ``rate`` under ``key`` unless it is more than
        ``max_wait_s`` away."""

    @abstractmethod
    def acquire(self, key: str, *, limit: int, lease_s: float, holder: str) -> bool:
        """Take (or renew) one of ``limit`` slots for ``holder`` for ``lease_s`` seconds."""

    @abstractmethod
    def release(self, key: str, *, holder: str) -> None:
        """Give ``holder``'s slot back (nothing happens when it holds none)."""

    @abstractmethod
    def holders(self, key: str) -> int:
        """How many live leases ``key`` has."""


class LocalBudgetStore(BudgetStore):
    """The budgets of one process, under a lock: the fallback when there is no Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, list[float]] = {}
        self._leases: dict[str, dict[str, float]] = {}

    def reserve(self, key: str, *, rate: Rate, max_wait_s: float) -> Reservation:
        window = rate.guarded_window_s
        with self._lock:
            now = time.monotonic()
            slots = [slot for slot in self._slots.get(key, []) if slot > now - window]
            wait = _next_slot(slots, now=now, limit=rate.requests, window=window) - now
            if wait > max_wait_s:
                self._slots[key] = slots
                return Reservation(wait_s=wait, reserved=False)
            insort(slots, now + wait)
            self._slots[key] = slots
            return Reservation(wait_s=wait, reserved=True)

    def acquire(self, key: str, *, limit: int, lease_s: float, holder: str) -> bool:
        with self._lock:
            leases = self._live(key)
            if holder not in leases and len(leases) >= limit:
                return False
            leases[holder] = time.monotonic() + lease_s
            return True

    def release(self, key: str, *, holder: str) -> None:
        with self._lock:
            self._leases.get(key, {}).pop(holder, None)

    def holders(self, key: str) -> int:
        with self._lock:
            return len(self._live(key))

    def _live(self, key: str) -> dict[str, float]:
        now = time.monotonic()
        leases = {h: until for h, until in self._leases.get(key, {}).items() if until > now}
        self._leases[key] = leases
        return leases


def _next_slot(slots: Sequence[float], *, now: float, limit: int, window: float) -> float:
    """The earliest moment from ``now`` that keeps every window within ``limit`` slots, given
    the sorted slots of the current window (some may lie in the future, reserved by waiters)."""
    if len(slots) < limit:
        return now
    return max(now, slots[len(slots) - limit] + window, slots[-1])


# The same algorithm as ``_next_slot``, atomically in Redis, on Redis's clock.
_RESERVE = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local slot = now
if count >= limit then
  local nth = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  slot = math.max(now, tonumber(nth[2]) + window, tonumber(last[2]))
end
local wait = slot - now
if wait > max_wait then
  return {0, tostring(wait)}
end
redis.call('ZADD', key, slot, ARGV[4])
redis.call('PEXPIRE', key, math.ceil((wait + window) * 1000) + 1000)
return {1, tostring(wait)}
"""

_ACQUIRE = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, ARGV[3]) or redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now + lease, ARGV[3])
  local ttl = math.ceil(lease * 1000) + 1000
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
  return 1
end
return 0
"""

_HOLDERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


class BudgetUnavailable(RateLimited):
    """The shared store does not answer (Redis restarting): nothing can be counted, so the
    caller waits and tries again, as for a rate limit; no failure of the system."""

    WAIT_S = 5.0

    def __init__(self, error: Exception) -> None:
        super().__init__(
            f"The shared rate-limit store does not answer ({type(error).__name__})",
            retry_after=self.WAIT_S,
        )


class RedisBudgetStore(BudgetStore):
    """Budgets every worker shares, in Redis, under ``prefix``. A Redis that does not answer
    raises ``BudgetUnavailable``."""

    def __init__(self, url: str, *, prefix: str = "dsar:budget:") -> None:
        import redis  # imported here: a process without Redis never needs the client

        self._redis: Any = redis.Redis.from_url(url)
        self._errors = redis.RedisError
        self._prefix = prefix
        self._reserve = self._redis.register_script(_RESERVE)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._holders = self._redis.register_script(_HOLDERS)

    def _call(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except self._errors as error:
            raise BudgetUnavailable(error) from error

    def reserve(self, key: str, *, rate: Rate, max_wait_s: float) -> Reservation:
        reserved, wait = self._call(
            self._reserve,
            keys=[self._prefix + "rate:" + key],
            args=[rate.requests, rate.guarded_window_s, max_wait_s, uuid.uuid4().hex],
        )
        return Reservation(wait_s=max(0.0, float(wait)), reserved=bool(int(reserved)))

    def acquire(self, key: str, *, limit: int, lease_s: float, holder: str) -> bool:
        taken = self._call(
            self._acquire, keys=[self._prefix + "slots:" + key], args=[limit, lease_s, holder]
        )
        return bool(int(taken))

    def release(self, key: str, *, holder: str) -> None:
        self._call(self._redis.zrem, self._prefix + "slots:" + key, holder)

    def holders(self, key: str) -> int:
        return int(self._call(self._holders, keys=[self._prefix + "slots:" + key]))


_local = LocalBudgetStore()
_redis_stores: dict[str, RedisBudgetStore] = {}
_stores_lock = threading.Lock()


def budget_store(url: str | None = None) -> BudgetStore:
    """The shared store for a Redis URL (one per URL and process), else this process's own."""
    if not url:
        return _local
    with _stores_lock:
        store = _redis_stores.get(url)
        if store is None:
            store = _redis_stores[url] = RedisBudgetStore(url)
        return store


def budget_key(*, system: str, base_url: str, credential: str) -> str:
    """The key of one vendor account: the system, and a hash of where it is and who we are
    there (never the credential itself)."""
    digest = hashlib.sha256(f"{base_url}\n{credential}".encode()).hexdigest()[:16]
    return f"{system.lower()}:{digest}"


def scaled_limits(
    limits: Mapping[str, Sequence[Limit]], *, time_scale: float
) -> dict[str, tuple[Limit, ...]]:
    """Every endpoint class's limits with their windows divided by ``time_scale``."""
    return {name: tuple(lim.scaled(time_scale) for lim in each) for name, each in limits.items()}
