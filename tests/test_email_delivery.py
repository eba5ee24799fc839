"""Email as a tracked delivery (issues 14 and 16): a provider that is down, refuses a recipient
for good or fails twice, and the provider's signed reports of bounces. A real SMTP server
(aiosmtpd) that can refuse; a real worker process where the retries' timing matters; Mailgun's
webhook with a payload as Mailgun sends it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar import outbox, transitions
from dsar.models import Case, CaseStatus, DeliveryState, EmailDelivery, Event, Verification
from tests.conftest import Mailbox, body_text, first_link
from tests.factories import CaseFactory
from tests.support import free_port
from tests.test_team import member

PERSON = {
    "request_type": "access",
    "email": "grace.hopper@example.org",
    "name": "Grace Hopper",
    "customer_number": "",
    "forum_username": "",
}


@pytest.fixture
def smtp_relay(settings, smtp_server: tuple[Mailbox, int]) -> Any:
    """Emails go over SMTP; the returned function points them at the real server or at a
    port where nothing answers (the provider unreachable)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_TIMEOUT = 5

    def point(*, reachable: bool) -> None:
        settings.EMAIL_PORT = smtp_server[1] if reachable else free_port()

    point(reachable=True)
    return point


def _submit(client: Client) -> Case:
    assert client.post(reverse("dsar:request"), PERSON).status_code == 302
    return Case.objects.get(email=PERSON["email"])


def _work_off(case: Case, *, at: dt.datetime) -> None:
    """What the workers would do by ``at``: one attempt at every email of the case that is
    due (the others are left alone: a delivery decides itself whether it may go)."""
    for delivery_id in EmailDelivery.objects.filter(case=case).values_list("pk", flat=True):
        outbox.send_delivery(delivery_id, now=at)


def _queue_needing_attention(staff: Client, reason: str) -> str:
    page = staff.get(reverse("admin:dsar_case_changelist"), {"attention": reason})
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.django_db
def test_an_unreachable_provider_shows_on_the_case_and_a_staff_resend_sends_one_live_link(
    client: Client, smtp_relay: Any, mailbox: Mailbox
) -> None:
    smtp_relay(reachable=False)
    case = _submit(client)
    [first] = EmailDelivery.objects.filter(case=case)
    assert outbox.send_delivery(first.pk) == DeliveryState.FAILED_TRANSIENT
    first.refresh_from_db()
    earlier_link = first_link(outbox.unseal(bytes(first.sealed)).text, "/verify/")

    staff = member("handler")
    page = staff.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "1 email did not reach its recipient." in page
    assert "The mail server could not be reached" in page
    assert "An email was not delivered" in page  # the case's flag
    resend = reverse("admin:dsar_case_action", args=[case.pk, "resend-emails"])
    assert resend in page
    assert case.reference in _queue_needing_attention(staff, "failed_email")

    smtp_relay(reachable=True)
    assert staff.post(resend).status_code == 302
    # Every email of the case is tried, well after the first one's backoff: only the resend goes.
    _work_off(case, at=timezone.now() + dt.timedelta(hours=1))

    [message] = mailbox.wait_for(PERSON["email"])
    assert len(mailbox.messages) == 1
    link = first_link(body_text(message), "/verify/")
    assert link != earlier_link
    live = Verification.objects.filter(case=case, used_at__isnull=True, revoked_at__isnull=True)
    assert live.count() == 1
    first.refresh_from_db()
    assert first.state == DeliveryState.CANCELLED

    dead = client.post(urlparse(earlier_link).path)
    assert dead.status_code == 410
    assert b"replaced by a newer one" in dead.content
    assert client.post(urlparse(link).path).status_code == 302
    case.refresh_from_db()
    assert case.verified_at is not None
    page = staff.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "did not reach" not in page
    assert case.reference not in _queue_needing_attention(staff, "failed_email")


@pytest.mark.django_db
def test_a_recipient_the_mail_server_refuses_for_good_is_not_retried_and_shows_on_the_case(
    client: Client, smtp_relay: Any, mailbox: Mailbox
) -> None:
    mailbox.refuse[PERSON["email"]] = "550 5.1.1 No such user here"
    case = _submit(client)
    [delivery] = EmailDelivery.objects.filter(case=case)

    assert outbox.send_delivery(delivery.pk) == DeliveryState.FAILED_PERMANENT
    # Nothing tries it again, however long one waits.
    _work_off(case, at=timezone.now() + dt.timedelta(days=2))
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED_PERMANENT
    assert delivery.attempts == 1
    assert not mailbox.messages
    assert delivery.not_before is None

    staff = member("handler")
    page = staff.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "The mail server refused the recipient (SMTP [550])" in page
    assert "Could not send an email (Link to confirm the request), and will not retry" in page
    assert case.reference in _queue_needing_attention(staff, "failed_email")
    assert case.reference in _queue_needing_attention(staff, "any")


@pytest.mark.worker
def test_a_provider_failing_twice_then_recovering_sends_one_email_whose_single_link_works(
    celery_worker: Any, mailbox: Mailbox, client: Client
) -> None:
    mailbox.fail_next[PERSON["email"]] = ["451 4.3.0 Try again later"] * 2
    case = transitions.submit_case(
        case_type="access", email=PERSON["email"], name=PERSON["name"], language="en"
    )

    [message] = mailbox.wait_for(PERSON["email"], timeout=60)
    offered = [m for rcpts, m in mailbox.offered if PERSON["email"] in rcpts]
    assert len(offered) == 3  # two refused, the third taken
    link = first_link(body_text(message), "/verify/")
    # Each retry offered the same message: the same link, no new token.
    assert {first_link(body_text(m), "/verify/") for m in offered} == {link}
    assert Verification.objects.filter(case=case).count() == 1
    delivery = EmailDelivery.objects.get(case=case, kind="verification")
    deadline = time.monotonic() + 10
    while delivery.state != DeliveryState.SENT and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker records it just after the server took it
        delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 3)
    actions = list(Event.objects.filter(case=case).values_list("action", flat=True))
    assert actions.count("email_failed") == 2

    assert client.post(urlparse(link).path).status_code == 302
    case.refresh_from_db()
    assert case.verified_at is not None
    assert case.status != CaseStatus.AWAITING_VERIFICATION


# --- The provider's signed reports (Mailgun) ---------------------------------------------------

SIGNING_KEY = "key-test-mailgun-webhook-signing"
MESSAGE_ID = "20180812214658.1.0DF563D0B3597700@example.org"


def _mailgun_bounce(recipient: str) -> dict[str, Any]:
    """A permanent failure as Mailgun posts it to a tracking webhook (its documented
    "failed" event, severity permanent), unsigned."""
    return {
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "recipient": recipient,
            "timestamp": 1534110422.389832,
            "log-level": "error",
            "id": "G9Bn5sl1TC6nu79C8C0bwg",
            "message": {
                "headers": {
                    "to": recipient,
                    "message-id": MESSAGE_ID,
                    "from": "privacy@dsar-desk.example.com",
                    "subject": "Your request",
                },
                "attachments": [],
                "size": 809,
            },
            "delivery-status": {
                "tls": True,
                "mx-host": "aspmx.l.example.org",
                "attempt-no": 1,
                "description": "",
                "session-seconds": 2.952177047729492,
                "utf8": True,
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist.",
                "certificate-verified": True,
            },
            "flags": {"is-routed": False, "is-authenticated": True, "is-test-mode": False},
            "user-variables": {},
            "tags": [],
        }
    }


def _signed(payload: dict[str, Any], *, key: str) -> str:
    timestamp = str(int(payload["event-data"]["timestamp"]))
    token = "651869375b9df3c98fc15c4889b102119add1235c38fc92824"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {**payload, "signature": {"timestamp": timestamp, "token": token, "signature": signature}}
    )


@pytest.fixture
def sent_answer(settings) -> EmailDelivery:
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    case = CaseFactory(status=CaseStatus.COMPLETED, email="grace.hopper@example.org")
    # As the Mailgun backend records it: anymail's message id, with angle brackets.
    return EmailDelivery.objects.create(
        case=case,
        kind="completed",
        subject="Your answer",
        state=DeliveryState.SENT,
        attempts=1,
        sent_at=timezone.now(),
        provider_message_id=f"<{MESSAGE_ID}>",
    )


def _post(client: Client, body: str) -> Any:
    return client.post(
        reverse("mailgun_tracking_webhook"), data=body, content_type="application/json"
    )


@pytest.mark.django_db
def test_a_bounce_reported_by_mailguns_signed_webhook_fails_the_delivery_for_staff_to_see(
    client: Client, sent_answer: EmailDelivery
) -> None:
    case = sent_answer.case
    assert case is not None
    response = _post(client, _signed(_mailgun_bounce(case.email), key=SIGNING_KEY))
    assert response.status_code == 200

    sent_answer.refresh_from_db()
    assert sent_answer.state == DeliveryState.FAILED_PERMANENT
    assert "does not exist" in sent_answer.last_error
    staff = member("handler")
    page = staff.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "1 email did not reach its recipient." in page
    assert "The email provider reported: bounced" in page
    assert "The email provider reported that an email (The answer (download link)) failed" in page
    assert case.reference in _queue_needing_attention(staff, "failed_email")


@pytest.mark.django_db
def test_a_report_with_a_bad_signature_is_refused_and_changes_nothing(
    client: Client, sent_answer: EmailDelivery
) -> None:
    assert sent_answer.case is not None
    forged = _signed(_mailgun_bounce(sent_answer.case.email), key="not-the-signing-key")
    assert _post(client, forged).status_code == 400
    unsigned = json.dumps(_mailgun_bounce(sent_answer.case.email))
    assert _post(client, unsigned).status_code == 400

    sent_answer.refresh_from_db()
    assert sent_answer.state == DeliveryState.SENT
    assert not Event.objects.filter(case=sent_answer.case, action="email_failed").exists()


@pytest.mark.django_db
def test_the_webhook_is_closed_until_its_signing_key_is_set(client: Client, settings) -> None:
    settings.ANYMAIL = {}
    body = _signed(_mailgun_bounce("grace.hopper@example.org"), key=SIGNING_KEY)
    assert _post(client, body).status_code == 404
