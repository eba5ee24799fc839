"""The client's address, behind the proxies we trust and no others.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the peer that sent the
request is one of ``DSAR["TRUSTED_PROXIES"]`` (addresses or networks): otherwise anyone who
reaches the published port could choose their own address (and so escape every rate limit) or
claim HTTPS. The address found here is what every rate limit keys on
(``RATELIMIT_IP_META_KEY`` and the API's throttle).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

META_KEY = "DSAR_CLIENT_ADDR"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in configured)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.DSAR["TRUSTED_PROXIES"])))


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def find_client_address(peer: str, forwarded_for: str) -> str:
    """The first address, walking ``X-Forwarded-For`` from the right (the hop nearest to us),
    that is not a trusted proxy; the peer itself when it is not one."""
    client = peer
    if not _trusted(peer):
        return client
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not _valid(hop):
            break
        client = hop
        if not _trusted(hop):
            break
    return client


def client_address(request: HttpRequest) -> str:
    """The client's address as the middleware found it (for django-ratelimit's "ip" key)."""
    return str(request.META.get(META_KEY) or request.META.get("REMOTE_ADDR") or "")


class ClientAddressMiddleware:
    """First in the chain: records the client address and drops forwarded headers that did
    not come through a trusted proxy (before SecurityMiddleware reads X-Forwarded-Proto)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        peer = str(request.META.get("REMOTE_ADDR") or "")
        if _trusted(peer):
            forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
            request.META[META_KEY] = find_client_address(peer, forwarded)
        else:
            request.META[META_KEY] = peer
            for header in (
                "HTTP_X_FORWARDED_FOR",
                "HTTP_X_FORWARDED_PROTO",
                "HTTP_X_FORWARDED_HOST",
            ):
                request.META.pop(header, None)
        return self.get_response(request)
