"""The person's emails read well: a capitalised sentence after the English greeting, a viewport
for phones, link text in words, and reasons that are sentences in both languages.

Each email is composed from a delivery, as the outbox composes it before sending."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from dsar.emails import COMPOSERS, STAFF_KINDS, ComposedEmail, compose
from dsar.models import Case, CaseStatus, EmailDelivery
from dsar.tokens import status_key
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

# Every email to the person, in the order a case meets them.
TO_PERSON = [
    "verification",
    "confirmed",
    "information_request",
    "extended",
    "rejected",
    "restriction_lift",
    "completed",
    "download_code",
]


def composed(case: Case, kind: str, **args: object) -> ComposedEmail:
    return compose(EmailDelivery.objects.create(case=case, kind=kind, args=args))


def every_email(case: Case) -> list[ComposedEmail]:
    messages = []
    for kind in TO_PERSON:
        args: dict[str, object] = {}
        if kind == "download_code":
            # The code opens the link that the answer carried.
            completed = EmailDelivery.objects.get(case=case, kind="completed")
            args = {"link": completed.download_link_id}
        delivery = EmailDelivery.objects.create(case=case, kind=kind, args=args)
        messages.append(compose(delivery))
        delivery.save()  # keeps the link the composer minted, as the outbox does
    return messages


def test_every_email_to_the_person_is_covered_here() -> None:
    assert set(TO_PERSON) == set(COMPOSERS) - STAFF_KINDS


def test_every_html_email_fits_a_phone_and_links_with_words_not_long_addresses() -> None:
    case = CaseFactory(status=CaseStatus.REJECTED, details={"rejection_reason": "excessive"})
    for message in every_email(case):
        assert message.html, f"{message.subject}: no HTML part"
        assert (
            '<meta name="viewport" content="width=device-width, initial-scale=1">' in message.html
        )
        for text in re.findall(r"<a [^>]*>(.*?)</a>", message.html, re.S):
            assert "http" not in text, f"{message.subject}: raw address as link text"


def test_the_english_sentence_after_the_greeting_starts_with_a_capital() -> None:
    case = CaseFactory(name="Ada Lovelace", status=CaseStatus.REJECTED)
    greeted = 0
    for message in every_email(case):
        after = message.text.split("Hello Ada Lovelace,", 1)
        if len(after) == 2:
            greeted += 1
            first = after[1].strip()[0]
            assert first.isupper(), f"{message.subject}: {after[1].strip()[:40]}"
    assert greeted, "no English email greets the person"


def test_german_emails_keep_the_lower_case_after_the_greeting_as_din_5008_has_it() -> None:
    case = CaseFactory(name="Karl Schmidt", language="de", status=CaseStatus.COMPLETED)
    message = composed(case, "completed")
    assert "Guten Tag Karl Schmidt,\n\nwir haben Ihre Anfrage" in message.text


def test_the_german_status_page_gives_the_same_sentence_on_its_own_with_a_capital(
    client,
) -> None:
    case = CaseFactory(
        language="de",
        status=CaseStatus.COMPLETED,
        verified_at=timezone.now(),
        closed_at=timezone.now(),
    )
    page = client.get(
        reverse("dsar:status", args=[status_key(case)]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "<p>Wir haben Ihre Anfrage auf Auskunft" in page


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
    message = composed(case, "rejected")
    for text in (message.text, message.html):
        assert expected in text
        assert never not in text


def test_a_rejection_for_a_listed_reason_gives_it_as_a_sentence() -> None:
    case = CaseFactory(
        language="de",
        status=CaseStatus.REJECTED,
        details={"rejection_reason": "excessive", "rejection_note": "Die fünfte Anfrage."},
    )
    message = composed(case, "rejected")
    assert re.search(r"Unsere Gründe: [A-ZÄÖÜ][^.]+\. Die fünfte Anfrage\.", message.text)


def test_the_completion_email_names_what_is_kept_under_which_duty_until_when() -> None:
    from dsar.models import CaseType, RunStatus
    from dsar.register import load_register
    from tests.factories import DataSystemFactory, SystemRunFactory, outcome_of

    load_register()
    case = CaseFactory(type=CaseType.ERASURE, language="de", status=CaseStatus.COMPLETED)
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="Buchhaltung"),
        action="erase",
        status=RunStatus.SUCCEEDED,
        **outcome_of(
            "erase",
            found=True,
            kind="retained",
            retained=[
                {
                    "records": "2 Rechnungen",
                    "record_year": 2025,
                    "rule": "accounting-vouchers",
                    "obligation": "Section 147(1) no. 4 and (3) AO",
                    "until": "2033-12-31",
                }
            ],
        ),
    )
    message = composed(case, "completed")
    # The email promises to say what remains and why, so it does, in German law's words.
    assert "diese E-Mail und die Löschbestätigung" in message.text
    for text in (message.text, message.html):
        assert "2 Rechnungen: § 147 Abs. 1 Nr. 4, Abs. 3 AO" in text
        assert "bis 31. Dezember 2033" in text
        assert "Section 147" not in text


def test_an_access_answer_says_held_in_one_of_many_with_the_verb_agreeing() -> None:
    from dsar.models import RunStatus
    from tests.factories import DataSystemFactory, SystemRunFactory, outcome_of

    case = CaseFactory(status=CaseStatus.COMPLETED)
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="CRM"),
        status=RunStatus.SUCCEEDED,
        **outcome_of("export", found=True, categories=["business card"]),
    )
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="Forum"),
        status=RunStatus.SUCCEEDED,
        **outcome_of("export", found=False),
    )
    text = composed(case, "completed").text
    assert "Of the 2 systems we searched, 1 holds data about you." in text
    # Staff only described what they found: no record of it is in the export file.
    assert "the export file contains" not in text
