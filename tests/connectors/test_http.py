"""The HTTP helper against a scripted local server: what it retries, how long it waits, and how
it names what went wrong."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.base import ConnectorError, RateLimited
from connectors.budget import Limit, LocalBudgetStore, Rate
from connectors.http import Budgets, HttpClient, RetryPolicy
from connectors.netguard import NetworkPolicy
from connectors.sandbox_base import Raw, Request, Response, Route, SandboxServer, route

# The scripted server runs on this machine, as an on-premises system would.
ON_THIS_MACHINE = NetworkPolicy(allow_private=True)


class ScriptedServer(SandboxServer):
    """Answers ``/thing`` with the scripted replies in turn, then with 200 ``{"ok": true}``."""

    system = "Scripted"

    def load(self) -> None:
        self.script: list[Response] = []

    def routes(self) -> list[Route]:
        return [route("GET", "/thing", self.thing), route("POST", "/thing", self.thing)]

    def thing(self, request: Request) -> Response:
        return self.script.pop(0) if self.script else Response(200, {"ok": True})

    def authenticate(self, request: Request) -> Response | None:
        return None

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"message": message})

    def too_many(self, wait_s: float | None, limit_class: str = "general") -> Response:
        return Response(429, {"message": "slow down"})

    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer(hang_s=5)
    scripted.start()
    yield scripted
    scripted.stop()


@pytest.fixture
def scripted(server: ScriptedServer) -> Iterator[ScriptedServer]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def client(scripted: ScriptedServer, retry: RetryPolicy) -> Iterator[HttpClient]:
    with HttpClient(
        system="Scripted",
        base_url=scripted.base_url,
        timeout_s=0.5,
        credentials_hint="check SCRIPTED_TOKEN",
        retry=retry,
        network=ON_THIS_MACHINE,
    ) as http:
        yield http


def statuses(server: ScriptedServer) -> list[int | None]:
    return [call["status"] for call in server.calls()]


def test_passing_failures_are_tried_again_until_one_succeeds(
    scripted: ScriptedServer, client: HttpClient, sleeps: list[float]
) -> None:
    scripted.script = [Response(500, {}), Response(503, {})]

    reply = client.request("GET", "/thing", what="thing read")

    assert reply.json_object() == {"ok": True}
    assert statuses(scripted) == [500, 503, 200]
    assert sleeps == [0.5, 1.0]


def test_after_the_last_try_the_error_is_passing_so_the_caller_retries_later(
    scripted: ScriptedServer, client: HttpClient
) -> None:
    scripted.script = [Response(502, {})] * 3

    with pytest.raises(ConnectorError) as caught:
        client.request("GET", "/thing", what="thing read")

    assert caught.value.retryable
    assert "Scripted had a server error (HTTP 502) on the thing read" in str(caught.value)
    assert len(scripted.calls()) == 3


def test_final_errors_are_never_tried_again(
    scripted: ScriptedServer, client: HttpClient, sleeps: list[float]
) -> None:
    scripted.script = [Response(400, {"message": "Property values were not valid"})]

    with pytest.raises(ConnectorError) as caught:
        client.request("POST", "/thing", what="thing update", json={})

    assert not caught.value.retryable
    assert str(caught.value) == (
        "Scripted refused the thing update (HTTP 400): Property values were not valid"
    )
    assert len(scripted.calls()) == 1
    assert sleeps == []


def test_rejected_credentials_are_final_and_say_what_to_check(
    scripted: ScriptedServer, client: HttpClient
) -> None:
    scripted.script = [Response(401, {})]

    with pytest.raises(ConnectorError) as caught:
        client.request("GET", "/thing", what="thing read")

    assert not caught.value.retryable
    assert caught.value.system == "Scripted"
    assert str(caught.value) == (
        "Scripted rejected the credentials (HTTP 401) on the thing read: check SCRIPTED_TOKEN"
    )


def test_a_refused_permission_sends_staff_to_the_permission_not_the_credentials(
    scripted: ScriptedServer, retry: RetryPolicy
) -> None:
    scripted.script = [Response(403, {"message": "This app lacks the crm.objects.contacts.write"})]
    with (
        HttpClient(
            system="Scripted",
            base_url=scripted.base_url,
            timeout_s=0.5,
            credentials_hint="check SCRIPTED_TOKEN",
            permission_hint="give the app the write scope",
            retry=retry,
            network=ON_THIS_MACHINE,
        ) as http,
        pytest.raises(ConnectorError) as caught,
    ):
        http.request("POST", "/thing", what="thing update", json={})

    assert not caught.value.retryable
    assert str(caught.value) == (
        "Scripted refused permission for the thing update (HTTP 403): This app lacks the "
        "crm.objects.contacts.write: give the app the write scope"
    )


def test_a_403_that_names_bad_credentials_is_a_credentials_error(
    scripted: ScriptedServer, retry: RetryPolicy
) -> None:
    scripted.script = [Response(403, {"errors": ["The API username or key is invalid."]})]
    with (
        HttpClient(
            system="Scripted",
            base_url=scripted.base_url,
            timeout_s=0.5,
            credentials_hint="check SCRIPTED_TOKEN",
            credential_markers=("API username or key is invalid",),
            retry=retry,
            network=ON_THIS_MACHINE,
        ) as http,
        pytest.raises(ConnectorError) as caught,
    ):
        http.request("GET", "/thing", what="thing read")

    assert str(caught.value).startswith("Scripted rejected the credentials (HTTP 403)")


def test_retry_after_in_seconds_is_waited_out(
    scripted: ScriptedServer, client: HttpClient, sleeps: list[float]
) -> None:
    scripted.script = [Response(429, {}, headers={"Retry-After": "7"})]

    client.request("GET", "/thing", what="thing read")

    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_is_waited_out(
    scripted: ScriptedServer, client: HttpClient, sleeps: list[float]
) -> None:
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    scripted.script = [Response(503, {}, headers={"Retry-After": later})]

    client.request("GET", "/thing", what="thing read")

    assert len(sleeps) == 1
    assert 17 < sleeps[0] <= 20


def test_discourse_exact_wait_seconds_beat_its_fixed_retry_after_minute(
    scripted: ScriptedServer, client: HttpClient, sleeps: list[float]
) -> None:
    body = {"errors": ["wait"], "error_type": "rate_limit", "extras": {"wait_seconds": 4}}
    scripted.script = [Response(429, body, headers={"Retry-After": "60"})]

    client.request("GET", "/thing", what="thing read")

    assert sleeps == [4.0]


def test_a_wait_beyond_the_cap_goes_back_to_the_caller_at_once_as_only_waiting(
    scripted: ScriptedServer, client: HttpClient, sleeps: list[float]
) -> None:
    scripted.script = [Response(429, {}, headers={"Retry-After": "120"})]

    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/thing", what="thing read")

    assert caught.value.retryable
    assert caught.value.waiting_only
    assert caught.value.retry_after == 120
    assert "try again in 120 s" in str(caught.value)
    assert sleeps == []
    assert len(scripted.calls()) == 1


def test_a_server_that_does_not_answer_in_time_is_a_passing_error(
    scripted: ScriptedServer, client: HttpClient
) -> None:
    scripted.configure(fail_rate=1.0, fail_modes=["timeout"])

    with pytest.raises(ConnectorError) as caught:
        client.request("GET", "/thing", what="thing read")

    assert caught.value.retryable
    assert str(caught.value) == "Scripted did not answer the thing read within 0.5 s"


def test_an_unreachable_server_is_a_passing_error(retry: RetryPolicy) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with (
        HttpClient(
            system="Scripted",
            base_url=f"http://127.0.0.1:{closed_port}",
            timeout_s=1,
            credentials_hint="",
            retry=retry,
            network=ON_THIS_MACHINE,
        ) as http,
        pytest.raises(ConnectorError) as caught,
    ):
        http.request("GET", "/thing", what="thing read")

    assert caught.value.retryable
    assert str(caught.value) == "Could not reach Scripted for the thing read: ConnectError"


def test_a_reply_that_is_not_json_is_a_final_error_naming_the_system(
    scripted: ScriptedServer, client: HttpClient
) -> None:
    scripted.script = [Response(200, Raw(b'{"results": [{"id": '))]

    reply = client.request("GET", "/thing", what="thing read")
    with pytest.raises(ConnectorError) as caught:
        reply.json_object()

    assert not caught.value.retryable
    assert str(caught.value) == (
        "Scripted sent a malformed reply to the thing read: it is not valid JSON"
    )


def test_a_reply_missing_a_field_is_a_named_final_error_not_a_key_error(
    scripted: ScriptedServer, client: HttpClient
) -> None:
    scripted.script = [Response(200, {"results": [{"name": "x"}], "total": True})]
    reply = client.request("GET", "/thing", what="thing read")
    data = reply.json_object()

    with pytest.raises(ConnectorError, match="'id' is missing"):
        reply.get(reply.objects(data, "results")[0], "id", str)
    with pytest.raises(ConnectorError, match="'total' is not of type int"):
        reply.get(data, "total", int)


def test_statuses_the_caller_accepts_come_back_as_replies(
    scripted: ScriptedServer, client: HttpClient
) -> None:
    scripted.script = [Response(404, {"title": "Resource Not Found"})]

    reply = client.request("GET", "/thing", what="thing read", accept=(404,))

    assert reply.status == 404
    assert len(scripted.calls()) == 1


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    policy = RetryPolicy(backoff_s=0.5, max_backoff_s=3.0, jitter=lambda: 0.0)

    assert [policy.backoff(attempt) for attempt in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 1.5, 1.5]


def budgeted(server: ScriptedServer, *, limits: list[Limit], store: LocalBudgetStore) -> HttpClient:
    return HttpClient(
        system="Scripted",
        base_url=server.base_url,
        timeout_s=2,
        credentials_hint="",
        retry=RetryPolicy(max_wait_s=1.0, slot_poll_s=0.01),
        budgets=Budgets(store=store, account="scripted:test", limits={"general": limits}),
        network=ON_THIS_MACHINE,
    )


def test_the_budget_spaces_requests_so_the_server_sees_no_more_than_its_rate(
    scripted: ScriptedServer,
) -> None:
    scripted.configure(rate_limit={"requests": 5, "window_s": 0.5})
    store = LocalBudgetStore()
    with budgeted(scripted, limits=[Limit("api", rate=Rate(5, 0.5))], store=store) as http:
        for _ in range(12):
            http.request("GET", "/thing", what="thing read")

    stats = scripted.stats()["limits"]["general"]
    assert stats["rejected"] == 0
    assert stats["max_in_window"] <= 5
    assert stats["accepted"] == 12


def test_a_budget_wait_beyond_the_cap_is_rate_limited_without_a_request(
    scripted: ScriptedServer,
) -> None:
    store = LocalBudgetStore()
    with budgeted(scripted, limits=[Limit("api", rate=Rate(2, 60))], store=store) as http:
        http.request("GET", "/thing", what="thing read")
        http.request("GET", "/thing", what="thing read")
        with pytest.raises(RateLimited) as caught:
            http.request("GET", "/thing", what="thing read")

    assert caught.value.waiting_only
    assert 55 < caught.value.retry_after <= 63.5
    assert "the run continues then" in str(caught.value)
    assert len(scripted.calls()) == 2


def test_a_connection_cap_holds_requests_back_until_a_slot_frees(
    scripted: ScriptedServer,
) -> None:
    scripted.configure(latency_s=0.1)
    store = LocalBudgetStore()

    def one(_: int) -> int:
        with budgeted(scripted, limits=[Limit("conn", concurrent=2)], store=store) as http:
            return http.request("GET", "/thing", what="thing read").status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses_seen = list(pool.map(one, range(6)))

    assert statuses_seen == [200] * 6
    assert scripted.stats()["max_in_flight"] <= 2
    assert store.holders("scripted:test:conn") == 0
