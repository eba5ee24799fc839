"""The verification email goes through Redis to a real Celery worker and a real SMTP server."""

from __future__ import annotations

import time

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


def test_the_verification_email_leaves_before_the_sweeper_could_have_found_it(
    celery_worker, mailbox: Mailbox
) -> None:
    from dsar.housekeeping import LOST_AFTER_SECONDS

    started = time.monotonic()
    transitions.submit_case(
        case_type="access", email="katherine.johnson@example.org", name="K J", language="en"
    )
    mailbox.wait_for("katherine.johnson@example.org")
    # On PostgreSQL the worker's dispatcher was notified by the INSERT; elsewhere the request
    # published the task on commit. Either way, not the sweeper's rescue of a lost email.
    assert time.monotonic() - started < LOST_AFTER_SECONDS
