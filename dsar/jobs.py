"""Carrying out a Job row: building a completed case's files and sending the answer, or posting
an OpenDSR status callback. A job is claimed under a lease like a run; a passing failure waits
(``not_before``) and is tried again, boundedly; a job that gives up is recorded on the case."""

from __future__ import annotations

import datetime as dt
import logging
import random

from django.conf import settings
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone

from . import callbacks, queue, transitions
from .deliverables.assemble import build_artifacts, ensure_artifacts
from .events import SYSTEM, record_event
from .models import Case, Job, JobKind, JobState

logger = logging.getLogger(__name__)


class JobPassingError(Exception):
    """A failure worth another try later."""


def _claim(job_id: int, now: dt.datetime) -> Job | None:
    lease = now + dt.timedelta(seconds=settings.DSAR["RUN_LEASE_SECONDS"])
    claimed = Job.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
        Q(state=JobState.DUE) | Q(state=JobState.RUNNING, lease_until__lte=now),
        pk=job_id,
    ).update(state=JobState.RUNNING, lease_until=lease)
    if claimed != 1:
        return None
    job = Job.objects.get(pk=job_id)
    Job.objects.filter(pk=job_id).update(attempts=job.attempts + 1)
    job.attempts += 1
    return job


def run_job(job_id: int, *, now: dt.datetime | None = None) -> str:
    """One attempt at one job; returns its state afterwards ("" when it was not ours)."""
    now = now or timezone.now()
    job = _claim(job_id, now)
    if job is None:
        return ""
    try:
        if job.kind == JobKind.DELIVERABLES:
            _deliver_answer(job.case_id)
        elif job.kind == JobKind.REBUILD:
            build_artifacts(Case.objects.get(pk=job.case_id))
        else:
            _post_callback(job)
    except (JobPassingError, OSError, OperationalError) as error:
        return _failed(job, f"{type(error).__name__}: {error}"[:500], now=now)
    Job.objects.filter(pk=job.pk).update(
        state=JobState.DONE, finished_at=timezone.now(), lease_until=None, last_error=""
    )
    return JobState.DONE


def _deliver_answer(case_id: int) -> None:
    """The completed case's files (built only where missing or damaged), then the email with
    the download link, once."""
    case = Case.objects.get(pk=case_id)
    ensure_artifacts(case)
    transitions.send_answer(case_id)


def _post_callback(job: Job) -> None:
    outcome = callbacks.deliver_status_callback(
        job.case_id, url_index=int(job.args["url_index"]), status=str(job.args["status"])
    )
    if outcome == callbacks.RETRY:
        raise JobPassingError("the callback receiver did not take the status yet")


def _failed(job: Job, message: str, *, now: dt.datetime) -> str:
    if job.attempts >= settings.DSAR["JOB_MAX_ATTEMPTS"]:
        Job.objects.filter(pk=job.pk).update(
            state=JobState.FAILED, lease_until=None, last_error=message, finished_at=now
        )
        record_event(
            job.case_id,
            actor=SYSTEM,
            action="job_failed",
            data={"job": job.kind, "attempts": job.attempts, "error": message},
        )
        if job.kind == JobKind.CALLBACK:
            record_event(
                job.case_id,
                actor=SYSTEM,
                action="callback_failed",
                data={**job.args, "error": "gave_up"},
            )
        return JobState.FAILED
    backoff = min(settings.DSAR["JOB_BACKOFF_SECONDS"] * 2 ** (job.attempts - 1), 600.0)
    wait = random.uniform(backoff / 2, backoff)  # noqa: S311  # nosec B311  # jitter
    Job.objects.filter(pk=job.pk).update(
        state=JobState.DUE,
        lease_until=None,
        last_error=message,
        not_before=now + dt.timedelta(seconds=wait),
        queued_at=None,
    )
    logger.warning("job %s (%s) failed, attempt %s: %s", job.pk, job.kind, job.attempts, message)
    if wait <= settings.DSAR["MAX_COUNTDOWN_SECONDS"]:
        queue.job_soon(job.pk, countdown=wait)
    return JobState.DUE
