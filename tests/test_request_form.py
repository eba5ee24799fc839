"""The public form: clear errors that save nothing, one reply for everyone, rate limits, CSRF."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from dsar.models import Case, CaseStatus, Event, Verification

pytestmark = pytest.mark.django_db

VALID = {
    "request_type": "access",
    "email": "Ada.Lovelace@Example.COM",
    "name": "Ada Lovelace",
    "customer_number": "C-1001",
    "forum_username": "",
}


def without_csrf_token(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def submit(client: Client, captured, headers: dict[str, str] | None = None, **overrides: str):
    with captured(execute=True):
        return client.post(reverse("dsar:request"), {**VALID, **overrides}, headers=headers)


def test_a_valid_request_is_saved_and_a_verification_email_sent_in_its_language(
    client, django_capture_on_commit_callbacks
) -> None:
    response = submit(client, django_capture_on_commit_callbacks, headers={"accept-language": "de"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dsar:submitted")
    case = Case.objects.get()
    assert case.email == "Ada.Lovelace@example.com"  # the domain is case-insensitive
    assert case.status == CaseStatus.AWAITING_VERIFICATION
    assert case.language == "de"
    assert Verification.objects.filter(case=case).count() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["Ada.Lovelace@example.com"]
    assert case.reference in message.subject
    assert "Bitte bestätigen Sie" in message.subject
    assert "/verify/" in message.body


def test_the_reply_is_the_same_for_a_known_and_an_unknown_address(
    client, django_capture_on_commit_callbacks
) -> None:
    known = submit(client, django_capture_on_commit_callbacks, email="ada.lovelace@example.com")
    Case.objects.filter(email="ada.lovelace@example.com").update(status=CaseStatus.COMPLETED)
    again = submit(client, django_capture_on_commit_callbacks, email="ada.lovelace@example.com")
    unknown = submit(client, django_capture_on_commit_callbacks, email="nora.nobody@example.com")
    assert known.status_code == again.status_code == unknown.status_code == 302
    assert known["Location"] == again["Location"] == unknown["Location"]
    page_known = client.get(known["Location"]).content.decode()
    page_unknown = client.get(unknown["Location"]).content.decode()
    assert without_csrf_token(page_known) == without_csrf_token(page_unknown)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"request_type": ""}, "request_type", "Please choose what you would like us to do."),
        ({"request_type": "sell"}, "request_type", "Select a valid choice"),
        ({"email": ""}, "email", "Please enter your email address."),
        ({"email": "not-an-address"}, "email", "Please enter an email address like"),
        ({"name": ""}, "name", "Please enter your name."),
        ({"name": "Ada\x00Lovelace"}, "name", "invisible control characters"),
        ({"name": "Ada\x1b[31mLovelace"}, "name", "invisible control characters"),
        ({"name": "Ada\u202eLovelace"}, "name", "invisible control characters"),
        ({"name": "A" * 201}, "name", "at most 200 characters"),
        ({"customer_number": "x" * 65}, "customer_number", "at most 64 characters"),
        ({"request_type": "rectification"}, "rectification_wrong", "which data is wrong"),
        (
            {
                "request_type": "rectification",
                "rectification_wrong": "x",
                "rectification_correct": "y" * 4001,
            },
            "rectification_correct",
            "at most 4000 characters",
        ),
        ({"request_type": "objection"}, "objection_scope", "Please choose what you object to."),
        (
            {"request_type": "objection", "objection_scope": "other"},
            "objection_reasons",
            "tell us why you object",
        ),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_nothing_is_saved_or_sent(
    client, django_capture_on_commit_callbacks, overrides, field, message
) -> None:
    response = submit(client, django_capture_on_commit_callbacks, **overrides)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    assert message in html
    assert re.search(r"There (is a problem|are \d problems) with your request", html)
    assert Case.objects.count() == 0
    assert Event.objects.count() == 0
    assert mail.outbox == []


def test_an_error_is_tied_to_its_field_for_screen_readers(
    client, django_capture_on_commit_callbacks
):
    html = submit(client, django_capture_on_commit_callbacks, email="nope").content.decode()
    assert 'aria-describedby="id_email_error id_email_helptext"' in html
    assert 'aria-invalid="true"' in html


def test_line_breaks_are_allowed_in_the_long_answers(client, django_capture_on_commit_callbacks):
    response = submit(
        client,
        django_capture_on_commit_callbacks,
        request_type="rectification",
        rectification_wrong="My surname\r\nand my phone",
        rectification_correct="Lovelace\n+44 20 7946 0000",
    )
    assert response.status_code == 302
    assert Case.objects.get().details == {
        "rectification_wrong": "My surname\r\nand my phone",
        "rectification_correct": "Lovelace\n+44 20 7946 0000",
    }


def test_objection_to_direct_marketing_needs_no_reasons(client, django_capture_on_commit_callbacks):
    response = submit(
        client,
        django_capture_on_commit_callbacks,
        request_type="objection",
        objection_scope="direct_marketing",
    )
    assert response.status_code == 302
    assert Case.objects.get().details == {"objection_scope": "direct_marketing"}


def test_submissions_are_limited_per_email_address(
    client, settings, django_capture_on_commit_callbacks
):
    settings.DSAR = {**settings.DSAR, "RATE_PER_EMAIL": "2/h", "RATE_PER_IP": "100/h"}
    for _ in range(2):
        assert submit(client, django_capture_on_commit_callbacks).status_code == 302
    limited = submit(client, django_capture_on_commit_callbacks, email="ADA.lovelace@example.com")
    assert limited.status_code == 429
    assert b"too many requests" in limited.content.lower()
    assert Case.objects.count() == 2
    assert len(mail.outbox) == 2
    # another address from the same place is still welcome
    assert (
        submit(client, django_capture_on_commit_callbacks, email="b@example.org").status_code == 302
    )


def test_submissions_are_limited_per_ip_address(
    client, settings, django_capture_on_commit_callbacks
):
    settings.DSAR = {**settings.DSAR, "RATE_PER_EMAIL": "100/h", "RATE_PER_IP": "3/h"}
    for n in range(3):
        submit(client, django_capture_on_commit_callbacks, email=f"p{n}@example.com")
    limited = submit(client, django_capture_on_commit_callbacks, email="p9@example.com")
    assert limited.status_code == 429
    assert Case.objects.count() == 3
    other_ip = Client(REMOTE_ADDR="192.0.2.7")
    with django_capture_on_commit_callbacks(execute=True):
        ok = other_ip.post(reverse("dsar:request"), {**VALID, "email": "p9@example.com"})
    assert ok.status_code == 302


def test_a_post_without_the_csrf_token_is_refused() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("dsar:request"), VALID)
    assert response.status_code == 403
    assert Case.objects.count() == 0


def test_the_form_speaks_german_when_the_browser_asks_for_it(client) -> None:
    page = client.get(reverse("dsar:request"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    html = page.content.decode()
    assert '<html lang="de">' in html
    assert "Meine Daten löschen" in html


def test_the_language_can_be_switched_on_the_page(client) -> None:
    response = client.post(reverse("set_language"), {"language": "de", "next": "/"})
    assert response.status_code == 302
    page = client.get(reverse("dsar:request"), HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="de">' in page.content.decode()
