"""The public pages' rate limits, counted in one Redis round trip.

The limits are django-ratelimit's: the same fixed windows (offset per key), the same cache keys
and the same rule (a hit beyond ``count`` in the window is refused). ``is_ratelimited`` costs two
or three round trips per limit (ADD, then INCR); the form checks two limits on every POST, so
here one Lua script counts every limit of a request at once, in order, and stops at the first
one exceeded, so that a refused hit is not counted against the later limits, as with successive
``is_ratelimited`` calls. Without a Redis cache (the demo) the limits are checked one after
another by django-ratelimit itself.

The script is bound once per Redis connection pool to a client of its own: Django's cache
builds a new client for each call (about 0.1 ms, most of it redis-py filling its table of
response callbacks), which every POST would pay.

The key and window helpers are django-ratelimit's own (private in its ``core`` module): reusing
them keeps the counters where its decorators and ``is_ratelimited`` look for them.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from django_ratelimit.core import (
    EXPIRATION_FUDGE,
    _get_ip,
    _get_window,
    _make_cache_key,
    _split_rate,
    is_ratelimited,
)

logger = logging.getLogger(__name__)

# KEYS: the counters; ARGV: per counter its expiry (seconds) and its limit. Returns the 1-based
# number of the first limit exceeded, or 0.
_HIT = """
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('EXPIRE', key, ARGV[2 * i - 1])
  end
  if n > tonumber(ARGV[2 * i]) then
    return i
  end
end
return 0
"""


# The counting script by the cache's write pool (a pool dropped with its cache drops its entry).
_SCRIPTS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _script(cache: RedisCache) -> Any:
    """The counting script, bound to one client of the cache's write pool."""
    redis_cache: Any = cache._cache  # Django's RedisCacheClient (its pools, its client class)
    pool = redis_cache._get_connection_pool(write=True)
    script = _SCRIPTS.get(pool)
    if script is None:
        # Two threads racing here each bind one; either counts the same.
        script = _SCRIPTS[pool] = redis_cache._client(connection_pool=pool).register_script(_HIT)
    return script


@dataclass(frozen=True)
class Limit:
    """``rate`` (django-ratelimit's "5/h") for ``value`` (a client address, an email) in
    ``group``."""

    group: str
    value: str
    rate: str


def client_address_limit(request: HttpRequest, *, group: str, rate: str) -> Limit:
    """The limit on the client's address (behind the trusted proxies, IPv6 by its /64), as
    django-ratelimit's ``key="ip"`` keys it."""
    return Limit(group=group, value=_get_ip(request), rate=rate)


def exceeded(request: HttpRequest, limits: Sequence[Limit]) -> bool:
    """Count one POST against each limit, in order; True when one of them is exceeded."""
    if not getattr(settings, "RATELIMIT_ENABLE", True) or not limits:
        return False
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    if not isinstance(cache, RedisCache):
        return any(
            is_ratelimited(
                request,
                group=limit.group,
                key=lambda _group, _request, value=limit.value: value,
                rate=limit.rate,
                method="POST",
                increment=True,
            )
            for limit in limits
        )
    keys: list[str] = []
    args: list[int] = []
    for limit in limits:
        count, period = _split_rate(limit.rate)
        window = _get_window(limit.value, period)
        keys.append(
            cache.make_and_validate_key(
                _make_cache_key(limit.group, window, limit.rate, limit.value, "POST")
            )
        )
        args += [period + EXPIRATION_FUDGE, count]
    try:
        # EVALSHA, and EVAL once when the server does not know the script yet.
        return bool(int(_script(cache)(keys=keys, args=args)))
    except Exception as error:  # the cache is down: as django-ratelimit, per RATELIMIT_FAIL_OPEN
        logger.warning("rate limits not checked (%s)", type(error).__name__)
        return not getattr(settings, "RATELIMIT_FAIL_OPEN", False)
