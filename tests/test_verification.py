"""Verification tokens: hashed, single use, expiring; the confirmation and its emails."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from dsar import transitions
from dsar.models import CaseStatus, Verification
from dsar.tokens import issue_verification, status_key
from tests.conftest import first_link
from tests.factories import CaseFactory, DataSystemFactory

pytestmark = pytest.mark.django_db


def test_only_the_hash_of_the_token_is_stored() -> None:
    case = CaseFactory()
    token = issue_verification(case)
    stored = Verification.objects.get(case=case)
    assert len(token) >= 43  # 32 random bytes
    assert stored.token_hash == Verification.hash_token(token)
    assert token not in stored.token_hash


def test_a_token_confirms_the_case_once() -> None:
    DataSystemFactory()
    case = CaseFactory()
    token = issue_verification(case)
    verified = transitions.verify_case(token=token)
    assert verified.status == CaseStatus.IN_PROGRESS  # an access request goes to its systems
    assert verified.verified_at is not None
    with pytest.raises(transitions.VerificationFailed) as failure:
        transitions.verify_case(token=token)
    assert failure.value.reason == "used"
    assert [e.action for e in verified.events.all()] == ["verified", "processing_started"]


def test_an_expired_token_is_refused_and_the_case_waits() -> None:
    case = CaseFactory()
    token = issue_verification(case, now=timezone.now() - dt.timedelta(hours=73))
    with pytest.raises(transitions.VerificationFailed) as failure:
        transitions.verify_case(token=token)
    assert failure.value.reason == "expired"
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_VERIFICATION


def test_a_token_is_valid_until_its_configured_lifetime(settings) -> None:
    settings.DSAR = {**settings.DSAR, "VERIFICATION_TTL_HOURS": 2}
    case = CaseFactory()
    token = issue_verification(case)
    assert transitions.verify_case(token=token, now=timezone.now() + dt.timedelta(minutes=119))
    other = CaseFactory()
    late = issue_verification(other)
    with pytest.raises(transitions.VerificationFailed):
        transitions.verify_case(token=late, now=timezone.now() + dt.timedelta(minutes=121))


@pytest.mark.parametrize("token", ["", "x", "a" * 43, "a" * 500])
def test_unknown_tokens_are_refused(token: str) -> None:
    CaseFactory()
    with pytest.raises(transitions.VerificationFailed) as failure:
        transitions.verify_case(token=token)
    assert failure.value.reason == "invalid"


def test_an_expired_case_cannot_be_verified() -> None:
    case = CaseFactory(status=CaseStatus.EXPIRED)
    token = issue_verification(case)
    with pytest.raises(transitions.VerificationFailed) as failure:
        transitions.verify_case(token=token)
    assert failure.value.reason == "closed"


def test_the_verification_link_shows_a_button_and_only_the_post_confirms(client) -> None:
    case = CaseFactory()
    token = issue_verification(case)
    page = client.get(reverse("dsar:verify", args=[token]))
    assert page.status_code == 200
    assert b"Confirm my request" in page.content
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_VERIFICATION  # a mail scanner's GET does nothing

    response = client.post(reverse("dsar:verify", args=[token]))
    assert response.status_code == 302
    assert response["Location"] == reverse("dsar:status", args=[status_key(case)])
    status_page = client.get(response["Location"])
    assert b"Verified" in status_page.content
    assert case.reference.encode() in status_page.content


def test_a_used_link_says_so_and_offers_a_new_email(
    client, django_capture_on_commit_callbacks
) -> None:
    case = CaseFactory()
    token = issue_verification(case)
    client.post(reverse("dsar:verify", args=[token]))
    mail.outbox.clear()

    page = client.get(reverse("dsar:verify", args=[token]))
    assert page.status_code == 410
    assert b"already been used" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(reverse("dsar:resend", args=[token]))
    assert resent.status_code == 200
    # A verified case gets its status link again, to its own address only.
    assert [m.to for m in mail.outbox] == [[case.email]]
    assert reverse("dsar:status", args=[status_key(case)]) in mail.outbox[0].body


def test_an_expired_link_sends_a_fresh_working_one(
    client, django_capture_on_commit_callbacks
) -> None:
    DataSystemFactory()
    case = CaseFactory()
    old = issue_verification(case, now=timezone.now() - dt.timedelta(days=4))
    page = client.get(reverse("dsar:verify", args=[old]))
    assert page.status_code == 410
    assert b"expired" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("dsar:resend", args=[old]))
    assert len(mail.outbox) == 1
    link = first_link(mail.outbox[0].body, "/verify/")
    client.post(urlparse(link).path)
    case.refresh_from_db()
    assert case.verified_at is not None
    assert case.status == CaseStatus.IN_PROGRESS


def test_a_forged_status_key_finds_nothing(client) -> None:
    case = CaseFactory(status=CaseStatus.VERIFIED)
    key = status_key(case)
    forged = key[:-3] + ("AAA" if not key.endswith("AAA") else "BBB")
    assert client.get(reverse("dsar:status", args=[forged])).status_code == 404
    assert client.get(reverse("dsar:status", args=[case.public_id.hex])).status_code == 404
    assert client.get(reverse("dsar:status", args=[key])).status_code == 200
