"""Outbound HTTP checks the address it connects to: a name that resolves to a public address
when checked and to a loopback one when connecting is refused, redirects never reach such
addresses, and every request has a total time budget. Servers here run on this machine's
loopback addresses; a resolver hook plays the part of a DNS server that changes its answer."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.netguard import AddressRefused, GuardedTransport, NetworkPolicy, address_kind
from dsar.callbacks import deliver_status_callback, post_callback, validate_callback_url
from dsar.models import CaseStatus
from tests.factories import CaseFactory

PUBLIC = "93.184.215.14"  # resolved only: no test connects to it


class Server:
    """An HTTP server on a loopback address: records each request's path, and answers with
    ``answer(handler)`` (200 by default)."""

    def __init__(self, host: str, answer: Callable[[BaseHTTPRequestHandler], None] | None = None):
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                server.paths.append(self.path)
                if answer is not None:
                    answer(self)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def rebinding(*answers: str) -> Callable[[str, int], list[str]]:
    """A resolver whose n-th lookup answers ``answers[n]`` (then the last), as a DNS server
    controlled by an attacker can."""
    calls = {"n": 0}

    def resolve(host: str, port: int) -> list[str]:
        answer = answers[min(calls["n"], len(answers) - 1)]
        calls["n"] += 1
        return [answer]

    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address to refuse, not to bind)
        ("240.0.0.1", "reserved"),
        (PUBLIC, None),
    ],
)
def test_each_kind_of_non_public_address_is_named(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


def test_an_on_premises_allowance_opens_private_networks_but_not_the_metadata_service() -> None:
    on_premises = NetworkPolicy(allow_private=True)
    assert on_premises.refusal("10.1.2.3") is None and on_premises.refusal("127.0.0.1") is None
    assert on_premises.refusal("169.254.169.254") == "link-local"
    exact = NetworkPolicy(allowed_networks=(ip_network("10.20.0.0/16"),))
    assert exact.refusal("10.20.1.1") is None and exact.refusal("10.21.1.1") == "private"


@pytest.mark.django_db
def test_a_callback_host_public_when_checked_and_loopback_when_connecting_is_refused(
    settings, servers: list[Server]
) -> None:
    settings.DSAR = {**settings.DSAR, "CALLBACK_ALLOW_PRIVATE": False}
    inside = Server("127.0.0.1")
    servers.append(inside)
    url = f"https://hooks.example.test:{inside.port}/status"
    resolver = rebinding(PUBLIC, "127.0.0.1")

    assert validate_callback_url(url, resolver=resolver) == url
    with pytest.raises(AddressRefused, match=r"127\.0\.0\.1, a loopback address"):
        post_callback(url, {"request_status": "completed"}, resolver=resolver)
    assert inside.paths == []


def test_a_connector_host_public_when_checked_and_loopback_when_connecting_is_refused(
    servers: list[Server],
) -> None:
    inside = Server("127.0.0.1")
    servers.append(inside)
    policy = NetworkPolicy(resolver=rebinding(PUBLIC, "127.0.0.1"))
    policy.check("crm.example.test", inside.port)  # what a check before sending would see

    with (
        HttpClient(
            system="CRM",
            base_url=f"http://crm.example.test:{inside.port}",
            timeout_s=2,
            credentials_hint="",
            retry=RetryPolicy(sleep=lambda _s: None),
            network=policy,
        ) as client,
        pytest.raises(ConnectorError) as refused,
    ):
        client.request("GET", "/contacts", what="contact search")
    assert not refused.value.retryable
    assert "CRM was not contacted for the contact search" in str(refused.value)
    assert "loopback" in str(refused.value)
    assert inside.paths == []


def redirect_to(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


def test_a_redirect_to_loopback_is_refused_at_the_connection(servers: list[Server]) -> None:
    inside = Server("127.0.0.1")
    # The first hop is a network this policy allows; the redirect points at loopback.
    outside = Server("127.0.0.2", redirect_to(f"http://127.0.0.1:{inside.port}/"))
    servers.extend([inside, outside])
    policy = NetworkPolicy(allowed_networks=(ip_network("127.0.0.2/32"),))

    with (
        httpx.Client(transport=GuardedTransport(policy), follow_redirects=True) as client,
        pytest.raises(AddressRefused, match=r"127\.0\.0\.1"),
    ):
        client.get(f"http://127.0.0.2:{outside.port}/start")
    assert outside.paths == ["/start"]
    assert inside.paths == []


def test_a_connector_never_follows_a_redirect(servers: list[Server]) -> None:
    inside = Server("127.0.0.1")
    outside = Server("127.0.0.2", redirect_to(f"http://127.0.0.1:{inside.port}/"))
    servers.extend([inside, outside])
    with (
        HttpClient(
            system="CRM",
            base_url=f"http://127.0.0.2:{outside.port}",
            timeout_s=2,
            credentials_hint="",
            network=NetworkPolicy(allowed_networks=(ip_network("127.0.0.2/32"),)),
        ) as client,
        pytest.raises(ConnectorError, match="HTTP 302"),
    ):
        client.request("GET", "/contacts", what="contact search")
    assert inside.paths == []


@pytest.mark.django_db
def test_a_callback_redirected_to_http_127_0_0_1_is_not_followed(
    settings, servers: list[Server]
) -> None:
    settings.DSAR = {**settings.DSAR, "CALLBACK_ALLOW_PRIVATE": True}
    inside = Server("127.0.0.1")
    outside = Server("127.0.0.1", redirect_to(f"http://127.0.0.1:{inside.port}/"))
    servers.extend([inside, outside])
    case = CaseFactory(
        external_id=uuid.uuid4(), callback_urls=[f"http://127.0.0.1:{outside.port}/hook"]
    )
    deliver_status_callback(case.pk, url_index=0, status=CaseStatus.CANCELLED)
    assert outside.paths == ["/hook"] and inside.paths == []
    assert case.events.get(action="callback_failed").data["http_status"] == 302


def drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(1000):
        try:
            handler.wfile.write(b"x")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.1)


def test_a_server_dripping_its_answer_is_cut_off_at_the_time_budget(
    servers: list[Server],
) -> None:
    slow = Server("127.0.0.1", drip)
    servers.append(slow)
    transport = GuardedTransport(NetworkPolicy(allow_private=True), budget_s=1.0)
    started = time.monotonic()
    with (
        httpx.Client(transport=transport, timeout=5) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get(f"http://127.0.0.1:{slow.port}/")
    assert time.monotonic() - started < 2.5
