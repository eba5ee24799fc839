"""The person's emails read well: a capitalised sentence after the English greeting, a viewport
for phones, link text in words, and reasons that are sentences in both languages."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from dsar import emails
from dsar.models import CaseStatus
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def html_of(message) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(content)


def every_email(case) -> list:
    emails.send_verification_email(case, token="t" * 43)
    emails.send_confirmation_email(case)
    emails.send_information_request(case)
    emails.send_extension_email(case)
    emails.send_rejection_email(case)
    emails.send_restriction_lift_notice(case)
    emails.send_completion_email(case, token="d" * 43)
    return list(mail.outbox)


def test_every_html_email_fits_a_phone_and_links_with_words_not_long_addresses() -> None:
    case = CaseFactory(status=CaseStatus.REJECTED, details={"rejection_reason": "excessive"})
    for message in every_email(case):
        html = html_of(message)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        for text in re.findall(r"<a [^>]*>(.*?)</a>", html, re.S):
            assert "http" not in text, f"{message.subject}: raw address as link text"


def test_the_english_sentence_after_the_greeting_starts_with_a_capital() -> None:
    case = CaseFactory(name="Ada Lovelace", status=CaseStatus.REJECTED)
    for message in every_email(case):
        after = message.body.split("Hello Ada Lovelace,", 1)
        if len(after) == 2:
            first = after[1].strip()[0]
            assert first.isupper(), f"{message.subject}: {after[1].strip()[:40]}"


def test_german_emails_keep_the_lower_case_after_the_greeting_as_din_5008_has_it() -> None:
    case = CaseFactory(name="Karl Schmidt", language="de", status=CaseStatus.COMPLETED)
    emails.send_completion_email(case, token="d" * 43)
    [message] = mail.outbox
    assert "Guten Tag Karl Schmidt,\n\nwir haben Ihre Anfrage" in message.body


@pytest.mark.parametrize(
    ("language", "expected", "never"),
    [
        ("en", "Our reasons: We checked twice.", "Another reason, explained below"),
        ("de", "Unsere Gründe: We checked twice.", "Ein anderer Grund, unten erläutert"),
    ],
)
def test_a_rejection_for_another_reason_gives_the_note_as_the_reason(
    language, expected, never
) -> None:
    case = CaseFactory(
        language=language,
        status=CaseStatus.REJECTED,
        details={"rejection_reason": "other", "rejection_note": "We checked twice."},
    )
    emails.send_rejection_email(case)
    [message] = mail.outbox
    for text in (message.body, html_of(message)):
        assert expected in text
        assert never not in text


def test_a_rejection_for_a_listed_reason_gives_it_as_a_sentence() -> None:
    case = CaseFactory(
        language="de",
        status=CaseStatus.REJECTED,
        details={"rejection_reason": "excessive", "rejection_note": "Die fünfte Anfrage."},
    )
    emails.send_rejection_email(case)
    [message] = mail.outbox
    assert re.search(r"Unsere Gründe: [A-ZÄÖÜ][^.]+\. Die fünfte Anfrage\.", message.body)
