"""Outbound HTTP that checks the address it actually connects to.

Checking a URL's host and then letting the HTTP client resolve it again leaves a gap: the name can
resolve to a public address for the check and to ``127.0.0.1`` or ``169.254.169.254`` for the
connection (DNS rebinding). ``GuardedTransport`` closes it: its network backend resolves the host
once, refuses private, loopback, link-local, multicast, reserved and unspecified addresses (unless
the ``NetworkPolicy`` allows private networks, for an on-premises system), and connects to the
very address it checked; TLS still verifies the certificate for the host name (SNI), and the
``Host`` header is the URL's. A redirect is a new request through the same check, so no redirect
reaches such an address either. Every request has a total time budget that caps each network
operation, so a server dripping its answer byte by byte cannot hold a worker.

OpenDSR status callbacks and the connectors' HTTP helper both send through it.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressRefused(httpx.RequestError):
    """The host resolves to an address outbound requests may not reach. Not a transport
    error: trying again changes nothing, so callers treat it as final."""

    def __init__(self, message: str, *, host: str, kind: str) -> None:
        super().__init__(message)
        self.host = host
        self.kind = kind


def address_kind(address: str) -> str | None:
    """What makes ``address`` non-public ("loopback", "private", …), or None if it is public."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if ip.is_loopback:
        return "loopback"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


# What an on-premises allowance opens: the organisation's own networks, not the cloud's
# link-local metadata service, multicast or reserved space.
_ON_PREMISES_KINDS = frozenset({"private", "loopback"})


@dataclass(frozen=True)
class NetworkPolicy:
    """Where outbound requests may connect.

    ``allow_private`` lets an on-premises system reach private and loopback addresses;
    ``allowed_networks`` opens exactly the networks listed; ``resolver`` is the name lookup
    (the system's unless a test or an operator gives another).
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = system_resolver

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NetworkPolicy:
        """From a data system's settings: ``allow_private_network: true`` for an on-premises
        system, or ``allowed_networks: ["10.20.0.0/16"]`` for exactly its network."""
        networks = config.get("allowed_networks", [])
        if not isinstance(networks, list):
            raise ValueError("allowed_networks must be a list of networks, e.g. 10.20.0.0/16")
        return cls(
            allow_private=config.get("allow_private_network") is True,
            allowed_networks=tuple(ipaddress.ip_network(str(n), strict=False) for n in networks),
        )

    def refusal(self, address: str) -> str | None:
        """Why connecting to ``address`` is refused, or None if it is allowed."""
        kind = address_kind(address)
        if kind is None:
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip in network for network in self.allowed_networks):
            return None
        if self.allow_private and kind in _ON_PREMISES_KINDS:
            return None
        return kind

    def check(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` once; return its addresses if every one may be reached, else raise
        ``AddressRefused`` (a name that also points inward is not trusted at all)."""
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError) as error:
            raise httpx.ConnectError(f"{host} cannot be resolved") from error
        if not addresses:
            raise httpx.ConnectError(f"{host} has no address")
        for address in addresses:
            kind = self.refusal(address)
            if kind is not None:
                raise AddressRefused(
                    f"{host} resolves to {address}, a {kind} address; requests go to public "
                    "addresses only, unless the system is marked as on the organisation's own "
                    "network (allow_private_network)",
                    host=host,
                    kind=kind,
                )
        return addresses


class _Budget(threading.local):
    """The deadline of the request this thread is sending."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.deadline: float | None = None

    def start(self) -> None:
        self.deadline = None if self.seconds is None else time.monotonic() + self.seconds

    def cap(self, timeout: float | None, exc: type[Exception]) -> float | None:
        if self.deadline is None:
            return timeout
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise exc(f"the request's time budget of {self.seconds:g} s is spent")
        return remaining if timeout is None else min(timeout, remaining)


class _BudgetStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, budget: _Budget) -> None:
        self._stream = stream
        self._budget = budget

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._budget.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._budget.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        secured = self._stream.start_tls(
            ssl_context, server_hostname, self._budget.cap(timeout, httpcore.ConnectTimeout)
        )
        return _BudgetStream(secured, self._budget)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects to the checked address; TLS then runs over that socket
    with the URL's host name, as httpcore does for any connection."""

    def __init__(self, policy: NetworkPolicy, budget: _Budget) -> None:
        self._policy = policy
        self._budget = budget
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self._policy.check(host, port):
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=self._budget.cap(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
                continue
            return _BudgetStream(stream, self._budget)
        raise last_error or httpcore.ConnectError(f"{host} could not be reached")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("outbound requests use TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for every transport (loading the CA bundle takes a while)."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through ``NetworkPolicy.check`` at
    connect time, within ``budget_s`` seconds in all per request. No proxy from the
    environment is used: a proxy would connect on our behalf, unchecked."""

    def __init__(
        self, policy: NetworkPolicy | None = None, *, budget_s: float | None = None
    ) -> None:
        # Not HTTPTransport's own set-up: the pool it builds, with our network backend in place
        # of the plain one, is all its request handling uses.
        self._budget = _Budget(budget_s)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            network_backend=_GuardedBackend(policy or NetworkPolicy(), self._budget),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._budget.start()
        return super().handle_request(request)
