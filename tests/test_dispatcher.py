"""New emails wake their sender through the database on PostgreSQL: the submission's INSERT
notifies, and the one worker dispatcher that holds the lock publishes the task, so the web
request makes no broker call of its own (dsar.dispatcher)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from celery import current_app
from django.db import connection

from dsar import dispatcher, queue, transitions
from dsar.housekeeping import broker_queue_size
from dsar.models import EmailDelivery

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="NOTIFY is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def tasks_to_the_broker() -> Iterator[None]:
    """Tasks published by this process go to Redis (no worker takes them), and the queues are
    empty before and after."""
    current_app.conf.task_always_eager = False
    current_app.control.purge()
    yield
    current_app.control.purge()


def listener() -> psycopg.Connection:
    db = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    db.execute(f"LISTEN {queue.EMAIL_CHANNEL}")
    return db


def wait_for_queue_size(size: int, timeout: float = 10.0) -> int | None:
    deadline = time.monotonic() + timeout
    while (found := broker_queue_size()) != size and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_submission_notifies_the_dispatcher_and_publishes_nothing_itself(
    tasks_to_the_broker: None,
) -> None:
    with listener() as db:
        transitions.submit_case(
            case_type="access", email="ada@example.com", name="Ada", language="en"
        )
        notes = list(db.notifies(timeout=2.0, stop_after=1))

    delivery = EmailDelivery.objects.get(kind="verification")
    assert [(n.channel, n.payload) for n in notes] == [(queue.EMAIL_CHANNEL, str(delivery.pk))]
    assert delivery.queued_at is not None  # the sweeper's to take up should nobody listen
    assert broker_queue_size() == 0


def test_a_submission_rolled_back_notifies_nobody(tasks_to_the_broker: None) -> None:
    from django.db import transaction

    with listener() as db:
        with transaction.atomic():
            transitions.submit_case(
                case_type="access", email="ada@example.com", name="Ada", language="en"
            )
            transaction.set_rollback(True)
        assert list(db.notifies(timeout=1.0, stop_after=1)) == []
    assert not EmailDelivery.objects.exists()


def test_one_dispatcher_of_two_publishes_and_the_other_takes_over_when_it_stops(
    tasks_to_the_broker: None,
) -> None:
    stops = [threading.Event(), threading.Event()]
    started = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=dispatcher.dispatch, args=(stop,), kwargs={"started": go})
        for stop, go in zip(stops, started, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not any(go.is_set() for go in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the other would have started by now, were the lock not held
        assert [go.is_set() for go in started].count(True) == 1
        first = [go.is_set() for go in started].index(True)

        queue.email_soon(101, marked=True)  # outside a transaction: notified at once
        assert wait_for_queue_size(1) == 1
        time.sleep(0.5)
        assert broker_queue_size() == 1  # published once, not by both

        stops[first].set()
        threads[first].join(timeout=10)
        other = 1 - first
        assert started[other].wait(timeout=dispatcher.STANDBY_SECONDS + 5)
        queue.email_soon(102, marked=True)
        assert wait_for_queue_size(2) == 2
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(timeout=10)
