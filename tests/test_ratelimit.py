"""The public form's rate limits: still limiting, counted in one Redis round trip, and the
submission itself without needless work (no read of an event chain that cannot exist yet)."""

from __future__ import annotations

from collections import Counter

import pytest
import redis.connection
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dsar import transitions
from dsar.events import verify_chain
from dsar.models import Case
from tests.test_request_form import VALID

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_commands(monkeypatch) -> Counter[str]:
    """Every command this process sends to Redis, by name."""
    sent: Counter[str] = Counter()
    real = redis.connection.AbstractConnection.send_command

    def counting(self, *args, **kwargs):
        sent[str(args[0]).upper()] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_command", counting)
    return sent


def post(client: Client, captured, **overrides: str):
    with captured(execute=True):
        return client.post(reverse("dsar:request"), {**VALID, **overrides})


def test_a_request_checks_both_its_limits_in_one_round_trip_to_redis(
    client, django_capture_on_commit_callbacks, redis_commands
) -> None:
    assert post(client, django_capture_on_commit_callbacks).status_code == 302
    redis_commands.clear()  # the script is known to Redis from now on

    response = post(client, django_capture_on_commit_callbacks, email="b@example.org")

    assert response.status_code == 302
    assert sum(redis_commands.values()) == 1, redis_commands
    assert redis_commands["EVALSHA"] == 1


def test_the_limits_are_counted_through_one_redis_client_not_a_new_one_per_request(
    client, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    assert post(client, django_capture_on_commit_callbacks).status_code == 302
    built: list[object] = []
    real = redis.Redis.__init__

    def building(self, *args, **kwargs):
        built.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", building)

    for n in range(3):
        response = post(client, django_capture_on_commit_callbacks, email=f"c{n}@example.org")
        assert response.status_code == 302

    assert built == []


def test_a_post_refused_for_its_address_does_not_count_against_its_email_address(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.DSAR = {**settings.DSAR, "RATE_PER_IP": "1/h", "RATE_PER_EMAIL": "1/h"}
    here, elsewhere = Client(REMOTE_ADDR="192.0.2.1"), Client(REMOTE_ADDR="192.0.2.2")
    assert post(here, django_capture_on_commit_callbacks, email="a@example.org").status_code == 302
    refused = post(here, django_capture_on_commit_callbacks, email="b@example.org")
    assert refused.status_code == 429
    # b@ was not counted by the refused POST: its one request an hour is still free.
    ok = post(elsewhere, django_capture_on_commit_callbacks, email="b@example.org")
    assert ok.status_code == 302
    again = post(elsewhere, django_capture_on_commit_callbacks, email="B@example.org")
    assert again.status_code == 429
    assert Case.objects.count() == 2


def test_invalid_posts_count_against_the_address_limit(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.DSAR = {**settings.DSAR, "RATE_PER_IP": "2/h", "RATE_PER_EMAIL": "100/h"}
    client = Client(REMOTE_ADDR="192.0.2.3")
    for _ in range(2):
        assert (
            post(client, django_capture_on_commit_callbacks, email="not-an-address").status_code
            == 400
        )
    assert post(client, django_capture_on_commit_callbacks).status_code == 429


def test_a_new_case_gets_its_first_event_without_reading_any_event() -> None:
    with CaptureQueriesContext(connection) as queries:
        case = transitions.submit_case(
            case_type="access", email="ada@example.com", name="Ada", language="en"
        )

    reads_of_events = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and "dsar_event" in q["sql"]
    ]
    assert reads_of_events == []
    assert verify_chain(case.pk) is None
    assert [event.seq for event in case.events.order_by("seq")] == [1]
