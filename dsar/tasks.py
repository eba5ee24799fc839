"""Celery tasks: thin wrappers that load by id and call one function.

Each piece of work is a row (SystemRun, EmailDelivery, Job) written by a transition; a task only
wakes up to do it, so a task may arrive twice or not at all without harm: the row decides.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from . import housekeeping, jobs, outbox, runs, transitions

_LEASE = settings.DSAR["RUN_LEASE_SECONDS"]

# The database itself can hiccup (a failover, a lock timeout): each task tries again shortly, a
# few times; after that the sweeper publishes the work again.


# The hard time limit ends a run before its claim lapses, so no two workers ever run it at once.
@shared_task(
    time_limit=int(_LEASE * 0.8),
    soft_time_limit=int(_LEASE * 0.7),
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_jitter=True,
    max_retries=5,
)
def run_system_task(run_id: int) -> None:
    """One attempt of one system's part of a case; a final result moves the case on."""
    report = runs.perform_run(run_id)
    if report is not None:
        transitions.finish_run(report)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=1, retry_jitter=True, max_retries=5)
def send_email_task(delivery_id: int) -> None:
    """One attempt at one email; a passing failure schedules the next itself."""
    outbox.send_delivery(delivery_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=1, retry_jitter=True, max_retries=5)
def run_job_task(job_id: int) -> None:
    """Build a completed case's files and send the answer, or post a status callback."""
    jobs.run_job(job_id)


@shared_task
def sweep_task() -> dict[str, int]:
    return housekeeping.sweep()


@shared_task
def delete_expired_artifacts_task() -> int:
    return housekeeping.delete_expired_artifacts()


@shared_task
def send_deadline_reminders_task() -> int:
    return housekeeping.send_deadline_reminders()


@shared_task
def purge_closed_cases_task() -> int:
    return housekeeping.purge_closed_cases()


@shared_task
def expire_unverified_cases_task() -> int:
    return housekeeping.expire_unverified_cases()


@shared_task
def enforce_marketing_objections_task() -> dict[str, int]:
    return housekeeping.enforce_marketing_objections()
