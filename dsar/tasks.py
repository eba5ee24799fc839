"""Celery tasks: thin wrappers that load by id and call one function."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from . import emails, transitions
from .models import Case, CaseStatus
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


@shared_task
def expire_unverified_cases_task() -> int:
    return transitions.expire_unverified_cases()
