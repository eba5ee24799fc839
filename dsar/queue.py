"""Publishing work to the Celery workers: after commit, each publication on its own, never
failing the caller.

The database is the record of pending work: a transition writes a SystemRun, EmailDelivery or
Job row in its own transaction, and asks here for a worker to be woken once that transaction
commits. A broker that is down costs nothing but time: the failure is logged, the request that
asked still succeeds, and the sweeper (``dsar.housekeeping.sweep``) publishes whatever is due
and was not taken. Tasks are looked up by name in the Celery app, so this module depends on no
other module of the app but the models (and the tests' crash points).

The public form's verification email is the exception on PostgreSQL: the submission's INSERT
sends a NOTIFY on ``EMAIL_CHANNEL`` (delivered when it commits, dropped if it rolls back), and a
worker's email dispatcher (``dsar.dispatcher``) publishes the task, so that the form makes no
broker call of its own. Other emails are published on commit here, in the order their
transaction asked for them: an email the dispatcher published would reach the queue before the
runs its transaction started, and take a worker process they were waiting for.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import current_app
from django.db import connection, models, transaction
from django.utils import timezone

from . import testhooks
from .models import EmailDelivery, Job, SystemRun

logger = logging.getLogger(__name__)

RUN_TASK = "dsar.tasks.run_system_task"
EMAIL_TASK = "dsar.tasks.send_email_task"
JOB_TASK = "dsar.tasks.run_job_task"

# The channel a new email's transaction notifies, its payload the EmailDelivery's id.
EMAIL_CHANNEL = "dsar_email_due"


# On Redis, 0 is the highest of the message priorities (kombu's steps 0, 3, 6, 9) and every task
# goes out at CELERY_TASK_DEFAULT_PRIORITY (3): a run woken for the slot just handed to it goes
# out at 0, ahead of every task queued before it.
AHEAD = 0


def _publish(
    model: type[models.Model],
    task_name: str,
    pk: int,
    countdown: float | None,
    priority: int | None = None,
    marked: bool = False,
) -> bool:
    """Send the task now; record when, so the sweeper knows it was queued (unless the row was
    written ``marked`` as queued already). False if the broker could not take it: the row is
    unmarked, stays due, and the sweeper tries again."""
    # A process may die here, its transaction committed and no worker woken yet.
    testhooks.crash_point(f"before_publish:{task_name.rsplit('.', 1)[-1]}")
    try:
        options: dict[str, Any] = {"countdown": countdown} if countdown else {}
        if priority is not None:
            options["priority"] = priority
        # One try: the Redis client reconnects a dropped connection by itself, and a broker
        # that does not answer is the sweeper's to wait for, not the request's (kombu's own
        # retry layer cost each publish a quarter of its time).
        current_app.tasks[task_name].apply_async((pk,), retry=False, **options)
    except Exception as error:  # any broker failure: the row keeps the work
        logger.warning(
            "could not queue %s for %s %s (%s); the sweeper will",
            task_name,
            model._meta.model_name,
            pk,
            type(error).__name__,
        )
        if marked:
            model._default_manager.filter(pk=pk).update(queued_at=None)
        return False
    if not marked:
        model._default_manager.filter(pk=pk).update(queued_at=timezone.now())
    return True


def _on_commit(
    model: type[models.Model],
    task_name: str,
    pk: int,
    countdown: float | None,
    priority: int | None = None,
) -> None:
    # robust: one hook that raises never keeps the others from running.
    transaction.on_commit(partial(_publish, model, task_name, pk, countdown, priority), robust=True)


def run_soon(run_id: int, *, countdown: float | None = None, ahead: bool = False) -> None:
    """Wake a worker for this system run once the current transaction commits; ``ahead`` of
    the tasks already queued (a run a slot was handed to)."""
    _on_commit(SystemRun, RUN_TASK, run_id, countdown, AHEAD if ahead else None)


def emails_wake_through_database() -> bool:
    """Whether a new case's verification email wakes its sender through the database: on
    PostgreSQL, where the workers' dispatcher listens, unless tasks run in this process
    (eagerly), where nobody listens and the task runs on commit."""
    return connection.vendor == "postgresql" and not current_app.conf.task_always_eager


def email_soon(delivery_id: int, *, countdown: float | None = None, marked: bool = False) -> None:
    """Wake a worker to send this email once the current transaction commits. ``marked``: the
    caller wrote the row with ``queued_at`` set (saving an UPDATE after the commit); should the
    process die before publishing, the sweeper takes such a row up once it looks lost."""
    transaction.on_commit(
        partial(_publish, EmailDelivery, EMAIL_TASK, delivery_id, countdown, None, marked),
        robust=True,
    )


def job_soon(job_id: int, *, countdown: float | None = None) -> None:
    """Wake a worker for this job once the current transaction commits."""
    _on_commit(Job, JOB_TASK, job_id, countdown)


def publish_email(delivery_id: int) -> bool:
    """For the email dispatcher: publish the task for an email written marked as queued."""
    return _publish(EmailDelivery, EMAIL_TASK, delivery_id, None, None, marked=True)


def publish_now(model: type[models.Model], pk: int) -> bool:
    """For the sweeper: publish at once, outside any transaction."""
    task = {SystemRun: RUN_TASK, EmailDelivery: EMAIL_TASK, Job: JOB_TASK}[model]
    return _publish(model, task, pk, None)
