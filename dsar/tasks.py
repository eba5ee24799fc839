"""Celery tasks: thin wrappers that load by id and call one function.

The status-callback tasks live in dsar.callbacks, which transitions imports (so they register)."""

from __future__ import annotations

from celery import Task, chord, group, shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from . import downloads, emails, runs, transitions
from .deliverables.assemble import build_artifacts, delete_expired_artifacts
from .events import SYSTEM, append_event
from .models import Case, CaseStatus, DownloadLink, SystemRun
from .tokens import issue_verification

# Sending fails for passing reasons (SMTP or ESP down): retry with backoff, boundedly often.
email_task = shared_task(
    autoretry_for=(OSError,),
    retry_backoff=10,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)


@email_task
def send_verification_email_task(case_id: int) -> None:
    """Issue a fresh single-use token and email its link; the raw token exists only here."""
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.status != CaseStatus.AWAITING_VERIFICATION:
            return
        token = issue_verification(case)
    emails.send_verification_email(case, token=token)


@email_task
def send_confirmation_email_task(case_id: int) -> None:
    emails.send_confirmation_email(Case.objects.get(pk=case_id))


@email_task
def send_rejection_email_task(case_id: int) -> None:
    emails.send_rejection_email(Case.objects.get(pk=case_id))


@email_task
def send_information_request_task(case_id: int) -> None:
    emails.send_information_request(Case.objects.get(pk=case_id))


@email_task
def send_restriction_lift_email_task(case_id: int) -> None:
    emails.send_restriction_lift_notice(Case.objects.get(pk=case_id))


@shared_task(
    autoretry_for=(OperationalError, OSError),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=5,
)
def assemble_deliverables_task(case_id: int) -> None:
    """Build the completed case's files, then email the person a download link."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return
    build_artifacts(case)
    token = downloads.issue_link(case)
    emails.send_completion_email(case, token=token)


@shared_task(autoretry_for=(OperationalError, OSError), retry_backoff=5, max_retries=5)
def rebuild_deliverables_task(case_id: int) -> None:
    """Staff asked for the files again (after a fix): rebuild them, send nothing."""
    build_artifacts(Case.objects.get(pk=case_id))


@email_task
def send_download_code_task(link_id: int) -> None:
    """Issue a one-time code and email it; the raw code exists only here and in the email."""
    link = DownloadLink.objects.select_related("case").get(pk=link_id)
    emails.send_download_code(link, code=downloads.issue_code(link))


@shared_task
def delete_expired_artifacts_task() -> int:
    return delete_expired_artifacts()


@email_task
def send_extension_email_task(case_id: int) -> None:
    emails.send_extension_email(Case.objects.get(pk=case_id))


@email_task
def send_reminder_task(case_id: int, days_left: int) -> None:
    emails.send_reminder(Case.objects.select_related("assignee").get(pk=case_id), days_left)


@shared_task
def send_deadline_reminders_task() -> int:
    return transitions.send_deadline_reminders()


@shared_task
def purge_closed_cases_task() -> int:
    return transitions.purge_closed_cases()


@shared_task
def expire_unverified_cases_task() -> int:
    return transitions.expire_unverified_cases()


_LEASE = settings.DSAR["RUN_LEASE_SECONDS"]


# The hard time limit ends a run before its claim lapses, so no two workers ever run it at once.
@shared_task(
    bind=True,
    # The database itself can hiccup (a failover, a lock timeout): try again shortly.
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_jitter=True,
    max_retries=None,  # bounded by RUN_MAX_ATTEMPTS, which runs.perform_run counts
    time_limit=int(_LEASE * 0.8),
    soft_time_limit=int(_LEASE * 0.7),
)
def run_system_task(self: Task[[int], None], run_id: int) -> None:
    """One system's part of a case; retried later when the system or the claim says so."""
    result = runs.perform_run(run_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)


@shared_task
def finish_case_task(case_id: int) -> None:
    """The chord's closing step; each run also settles the case as it ends, so a lost or
    early callback cannot leave it stuck."""
    transitions.settle_case(case_id)


def fan_out(case_id: int, run_ids: list[int]) -> None:
    """Every system at once, then the closing step."""
    if not run_ids:
        finish_case_task.delay(case_id)
        return
    chord(group(run_system_task.si(run_id) for run_id in run_ids))(finish_case_task.si(case_id))


@email_task
def notify_recipients_task(run_id: int) -> None:
    """Art. 19: tell each recipient of a system's data about an erasure, restriction or
    rectification there."""
    run = SystemRun.objects.select_related("case", "system").get(pk=run_id)
    addresses = [line.strip() for line in run.system.recipient_emails.splitlines() if line.strip()]
    for address in addresses:
        emails.send_recipient_notice(run, address=address)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=run.case_id)
        append_event(
            case,
            actor=SYSTEM,
            action="recipients_notified",
            data={"system": run.system.key, "action": run.action, "recipients": len(addresses)},
        )
