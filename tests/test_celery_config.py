"""How the workers are set up: database connections kept across tasks, no results kept or
subscribed to, answers on a queue of their own that workers take from after the runs'."""

from __future__ import annotations

import pytest
import redis
from celery import signals
from celery.fixups.django import DjangoWorkerFixup
from django.conf import settings

from config import celery_app
from dsar import queue
from dsar.models import EmailDelivery


def test_celerys_django_fixup_keeps_a_workers_database_connection_across_tasks() -> None:
    # Celery's fixup closes the connection around every task unless this is set.
    assert DjangoWorkerFixup(celery_app).db_reuse_max == settings.CELERY_DB_REUSE_MAX
    assert settings.CELERY_DB_REUSE_MAX >= 100


def test_answers_go_to_their_own_queue_which_workers_take_from_after_the_default_one() -> None:
    default = celery_app.conf.task_default_queue
    route = celery_app.amqp.router.route({}, "dsar.tasks.run_job_task")
    assert route["queue"].name == f"{default}.deliverables"
    assert celery_app.amqp.router.route({}, "dsar.tasks.run_system_task")["queue"].name == default
    assert [q.name for q in celery_app.conf.task_queues] == [
        settings.CELERY_TASK_DEFAULT_QUEUE,
        settings.CELERY_TASK_DEFAULT_QUEUE + ".deliverables",
    ]
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] == "priority"


@pytest.mark.django_db
def test_queuing_a_task_neither_stores_nor_subscribes_to_its_result() -> None:
    sent: list[str] = []

    def remember(headers: dict[str, str], **kwargs: object) -> None:
        sent.append(headers["id"])

    signals.after_task_publish.connect(remember, weak=False)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = "dsar-test-no-results"
    try:
        assert queue._publish(EmailDelivery, queue.EMAIL_TASK, 0, None)
    finally:
        signals.after_task_publish.disconnect(remember)
        celery_app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.delete("dsar-test-no-results")

    [task_id] = sent
    channel = f"celery-task-meta-{task_id}"
    assert client.pubsub_numsub(channel) == [(channel.encode(), 0)]
    assert client.exists(channel) == 0
