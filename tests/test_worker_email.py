"""The verification email goes through Redis to a real Celery worker and a real SMTP server."""

from __future__ import annotations

import pytest
from django.db import transaction

from dsar import transitions
from dsar.models import Verification
from tests.conftest import Mailbox, body_text, first_link

pytestmark = [pytest.mark.worker]


def test_the_worker_sends_the_verification_email_after_the_case_is_committed(
    celery_worker, mailbox: Mailbox
) -> None:
    with transaction.atomic():
        case = transitions.submit_case(
            case_type="erasure",
            email="grace.hopper@example.org",
            name="Grace Hopper",
            language="en",
        )
    [message] = mailbox.wait_for("grace.hopper@example.org")
    assert case.reference in str(message["Subject"])
    link = first_link(body_text(message), "/verify/")
    token = link.rstrip("/").rsplit("/", 1)[-1]
    # The worker stored only the token's hash; the raw token exists only in the email.
    verification = Verification.objects.get(case=case)
    assert verification.token_hash == Verification.hash_token(token)
    html = message.get_body(preferencelist=("html",))
    assert html is not None and link in html.get_content()


def test_the_worker_sends_the_verification_email_with_no_sweeper_running(
    celery_worker, mailbox: Mailbox
) -> None:
    transitions.submit_case(
        case_type="access", email="katherine.johnson@example.org", name="K J", language="en"
    )
    # The tests' worker runs no beat, so no sweeper: on PostgreSQL only the worker's email
    # dispatcher, notified by the submission's INSERT, can have queued it (the request publishes
    # nothing there); elsewhere the request published it on commit.
    [message] = mailbox.wait_for("katherine.johnson@example.org", timeout=10)
    assert "katherine.johnson@example.org" in str(message["To"])
