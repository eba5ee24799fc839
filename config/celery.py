"""The Celery application; its configuration is the CELERY_* part of config/settings.py."""

import logging.config
import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dsar_desk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker runs the email dispatcher's thread (one of them listens; dsar.dispatcher), named
# here so that it is imported once Django is set up.
app.steps["worker"].add("dsar.dispatcher:EmailDispatcher")


# Building answers and other jobs (dsar.jobs) take a worker for seconds each.
_ANSWER_TASKS = frozenset({"dsar.tasks.run_job_task"})


def route_task(name: str, *args: Any, **kwargs: Any) -> dict[str, str] | None:
    """Jobs go to the answers' queue beside the default one (CELERY_TASK_QUEUES), named after
    the default queue as it is when the task is sent."""
    if name in _ANSWER_TASKS:
        from django.conf import settings

        return {"queue": app.conf.task_default_queue + settings.DELIVERABLES_QUEUE_SUFFIX}
    return None


@signals.setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """The worker and beat log as the web process does (settings.LOGGING), not Celery's way."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
@signals.beat_init.connect
def stop_if_unsafe_production(**kwargs: Any) -> None:
    # Celery logs and swallows a signal handler's exceptions; SystemExit ends the process.
    from django.core.exceptions import ImproperlyConfigured

    from config.checks import refuse_unsafe_production

    try:
        refuse_unsafe_production()
    except ImproperlyConfigured as refusal:
        raise SystemExit(str(refusal)) from refusal


@signals.task_postrun.connect
def close_spent_connections(sender: Any = None, **kwargs: Any) -> None:
    """With CELERY_DB_REUSE_MAX the worker keeps its database connection across tasks; as
    Django does after each request, close it here when it failed or outlived CONN_MAX_AGE, so
    that the next task opens a fresh one. Tasks run in-process (eagerly) share their caller's
    connection and transaction, which stay as they are."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
