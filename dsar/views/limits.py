"""The public pages' rate limits (django-ratelimit on the cache), open when the cache is down.

``RATELIMIT_FAIL_OPEN`` covers a cache that answers without a count, not one that cannot be
reached: django-ratelimit lets Redis's connection error through, and the page would answer 500
while Redis restarts. A limit that cannot be counted lets the request through, as the setting
means, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def limited(
    request: HttpRequest,
    *,
    group: str,
    key: str | Callable[[str, HttpRequest], str],
    rate: str,
) -> bool:
    """Whether this POST goes over the limit (and counts it)."""
    try:
        return bool(
            is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)
        )
    except RedisError as error:
        logger.warning("rate limit %s not checked: the cache does not answer (%s)", group, error)
        return False
