"""A new case's verification email wakes its sender through the database on PostgreSQL: the
submission's INSERT notifies, and the one worker dispatcher that holds the lock publishes the
task, so the web request makes no broker call of its own (dsar.dispatcher)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from celery import current_app
from celery.signals import before_task_publish
from django.db import connection

from dsar import dispatcher, queue, transitions
from dsar.models import EmailDelivery

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="NOTIFY is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


class Published(list[tuple[str, tuple[object, ...]]]):
    """The tasks this process sent to the broker (Celery's own signal, just before sending)."""

    def __call__(self, sender: str, headers: dict[str, object], **kwargs: object) -> None:
        self.append((sender, tuple(kwargs["body"][0])))  # type: ignore[index]

    def emails(self) -> list[object]:
        return [args[0] for name, args in self if name == queue.EMAIL_TASK]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    """Tasks go to the broker, not run in this process. A worker process that earlier tests
    started may still run against this database, its dispatcher listening: these tests notify
    a channel of their own and take a lock of their own, which it does not know."""
    monkeypatch.setattr(queue, "EMAIL_CHANNEL", f"{queue.EMAIL_CHANNEL}_{os.getpid()}")
    monkeypatch.setattr(dispatcher, "LOCK_KEY", dispatcher.LOCK_KEY + os.getpid())
    current_app.conf.task_always_eager = False
    sent = Published()
    before_task_publish.connect(sent, weak=False)
    yield sent
    before_task_publish.disconnect(sent)
    current_app.control.purge()


def listener() -> psycopg.Connection:
    db = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    db.execute(f"LISTEN {queue.EMAIL_CHANNEL}")
    return db


@contextmanager
def running_dispatcher() -> Iterator[threading.Event]:
    stop, started = threading.Event(), threading.Event()
    thread = threading.Thread(target=dispatcher.dispatch, args=(stop,), kwargs={"started": started})
    thread.start()
    try:
        assert started.wait(timeout=10)
        yield started
    finally:
        stop.set()
        thread.join(timeout=10)


def notify(delivery_id: int) -> None:
    """What a submission's INSERT sends when it commits."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [queue.EMAIL_CHANNEL, str(delivery_id)])


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_submission_notifies_the_dispatcher_and_publishes_nothing_itself(
    published: Published,
) -> None:
    with listener() as db:
        transitions.submit_case(
            case_type="access", email="ada@example.com", name="Ada", language="en"
        )
        notes = list(db.notifies(timeout=2.0, stop_after=1))

    delivery = EmailDelivery.objects.get(kind="verification")
    assert [(n.channel, n.payload) for n in notes] == [(queue.EMAIL_CHANNEL, str(delivery.pk))]
    assert delivery.queued_at is not None  # the sweeper's to take up should nobody listen
    assert published == []


def test_a_submission_rolled_back_notifies_nobody(published: Published) -> None:
    from django.db import transaction

    with listener() as db:
        with transaction.atomic():
            transitions.submit_case(
                case_type="access", email="ada@example.com", name="Ada", language="en"
            )
            transaction.set_rollback(True)
        assert list(db.notifies(timeout=1.0, stop_after=1)) == []
    assert not EmailDelivery.objects.exists()
    assert published == []


def test_one_dispatcher_of_two_publishes_and_the_other_takes_over_when_it_stops(
    published: Published,
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

        notify(101)
        assert wait_for(lambda: published.emails() == [101])
        time.sleep(0.5)
        assert published.emails() == [101]  # published once, not by both

        stops[first].set()
        threads[first].join(timeout=10)
        other = 1 - first
        assert started[other].wait(timeout=dispatcher.STANDBY_SECONDS + 5)
        notify(102)
        assert wait_for(lambda: published.emails() == [101, 102])
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_an_email_written_while_nobody_listened_is_published_when_a_dispatcher_starts(
    published: Published,
) -> None:
    transitions.submit_case(case_type="access", email="ada@example.com", name="Ada", language="en")
    delivery = EmailDelivery.objects.get()

    with running_dispatcher():
        assert wait_for(lambda: published.emails() == [delivery.pk])


def test_a_notification_that_names_no_email_does_not_stop_the_dispatcher(
    published: Published,
) -> None:
    with running_dispatcher():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, 'not an id')", [queue.EMAIL_CHANNEL])
        notify(7)
        assert wait_for(lambda: published.emails() == [7])


def test_the_submissions_two_statements_are_prepared_once_per_connection(
    published: Published,
) -> None:
    connection.close()  # a session of its own, no statement prepared yet
    for n in range(3):
        transitions.submit_case(
            case_type="access", email=f"p{n}@example.com", name="P", language="en"
        )

    # The server parsed and planned each once, and bound the values of later submissions.
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert len(statements) == 2
    assert any("nextval" in s for s in statements)
    assert any("INSERT" in s and "pg_notify" in s for s in statements)
    assert EmailDelivery.objects.count() == 3


def test_a_dispatcher_whose_session_was_killed_connects_again_and_goes_on(
    published: Published,
) -> None:
    with running_dispatcher():
        [first] = _listening_sessions()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        # It connects again after its first backoff (1 s), takes the lock and listens.
        assert wait_for(
            lambda: len(_listening_sessions()) == 1 and first not in _listening_sessions()
        )
        notify(5)
        assert wait_for(lambda: published.emails() == [5])


def _listening_sessions() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE query = %s",
            [f"LISTEN {queue.EMAIL_CHANNEL}"],
        )
        return [row[0] for row in cursor.fetchall()]
