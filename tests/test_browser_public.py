"""The person's pages on a 390 px phone screen, in English and German: every page fits the screen,
passes axe-core, says where the request stands in the person's words, and after each action
puts the keyboard where the person continues."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from dsar import downloads, transitions
from dsar.models import Artifact, Case, CaseStatus
from dsar.tokens import issue_verification, status_key
from tests.conftest import assert_accessible, first_link
from tests.factories import CaseFactory, DataSystemFactory
from tests.layout import assert_no_sideways_scrolling, assert_text_fits, screenshot

pytestmark = [pytest.mark.browser]

LOCALES = {"en": "en-GB", "de": "de-DE"}
PHONE = {"width": 390, "height": 844}

WORDS = {
    "en": {
        "problems": "There are 3 problems with your request",
        "erasure": "Delete my data",
        "email": "Email address",
        "name": "Full name",
        "send": "Send my request",
        "hours": "72 hours",
        "warning": "Before you confirm: what deletion means",
        "confirm_erasure": "Confirm: delete my data",
        "confirmed": "Thank you: your request is confirmed.",
        "in_progress": "In progress",
        "answer": "Your answer",
        "send_answer": "Send my answer",
        "answer_problem": "There is a problem with your answer",
        "answer_received": "Thank you: we have your answer.",
        "being_checked": "Being checked",
        "email_code": "Email me a code",
        "code_sent": "We have sent you a code",
        "code": "Code from the email",
        "open_files": "Open my files",
        "code_problem": "There is a problem with the code",
        "files": "Your files",
    },
    "de": {
        "problems": "Ihre Anfrage enthält 3 Fehler",
        "erasure": "Meine Daten löschen",
        "email": "E-Mail-Adresse",
        "name": "Vollständiger Name",
        "send": "Anfrage senden",
        "hours": "72 Stunden",
        "warning": "Bevor Sie bestätigen: Was die Löschung bedeutet",
        "confirm_erasure": "Bestätigen: meine Daten löschen",
        "confirmed": "Vielen Dank: Ihre Anfrage ist bestätigt.",
        "in_progress": "In Bearbeitung",
        "answer": "Ihre Antwort",
        "send_answer": "Antwort senden",
        "answer_problem": "Ihre Antwort enthält einen Fehler",
        "answer_received": "Vielen Dank: Ihre Antwort ist bei uns eingegangen.",
        "being_checked": "Wird geprüft",
        "email_code": "Code per E-Mail senden",
        "code_sent": "Wir haben Ihnen einen Code gesendet",
        "code": "Code aus der E-Mail",
        "open_files": "Meine Dateien öffnen",
        "code_problem": "Mit dem Code stimmt etwas nicht",
        "files": "Ihre Dateien",
    },
}


@pytest.fixture
def phone(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    language = request.node.callspec.params["language"]
    context = chromium.new_context(viewport=PHONE, locale=LOCALES[language])
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def check(page: Any, name: str) -> None:
    """The page fits the phone, its heading fits its box, and axe finds nothing."""
    screenshot(page, name)
    assert_no_sideways_scrolling(page, name)
    assert_text_fits(page.locator("h1"), f"the heading of {name}")
    padding = page.locator("main").evaluate(
        "(el) => [getComputedStyle(el).paddingTop, getComputedStyle(el).paddingBottom]"
    )
    assert all(float(value.removesuffix("px")) >= 16 for value in padding), padding
    assert_accessible(page)


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_person_requests_erasure_on_a_phone_and_is_told_what_deletion_means(
    transactional_db: None, live_server: Any, phone: Any, language: str
) -> None:
    DataSystemFactory(key="business-cards", name="Business cards")
    words = WORDS[language]
    phone.goto(live_server.url)
    check(phone, f"public-form-390-{language}")
    # Three Tabs to the first question: the skip link, the other language, the question.
    for _ in range(3):
        phone.keyboard.press("Tab")
    expect(phone.get_by_role("radio").first).to_be_focused()

    phone.get_by_role("button", name=words["send"]).click()
    summary = phone.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text(words["problems"])
    # Each line is the message itself, not "What would you like us to do?: Please…".
    for item in summary.locator("li").all_inner_texts():
        assert "?:" not in item and not item.endswith(":")
    check(phone, f"public-form-errors-390-{language}")

    phone.get_by_label(words["erasure"]).check()
    phone.get_by_label(words["email"]).fill("ada.lovelace@example.com")
    phone.get_by_label(words["name"]).fill("Ada Lovelace")
    phone.get_by_role("button", name=words["send"]).click()
    case = Case.objects.get(email="ada.lovelace@example.com")
    expect(phone.locator(".reference")).to_contain_text(case.reference)
    expect(phone.locator("main")).to_contain_text(words["hours"])
    expect(phone.locator("main")).to_be_focused()
    check(phone, f"public-submitted-390-{language}")

    [message] = mail.outbox
    phone.goto(live_server.url + urlparse(first_link(message.body, "/verify/")).path)
    expect(phone.locator(".warning h2")).to_have_text(words["warning"])
    check(phone, f"public-verify-erasure-390-{language}")

    phone.get_by_role("button", name=words["confirm_erasure"]).click()
    expect(phone.get_by_role("status")).to_have_text(words["confirmed"])
    expect(phone.locator("main")).to_be_focused()
    # The person reads their own word for the state, never the team's "Awaiting manual work".
    assert Case.objects.get(pk=case.pk).status == CaseStatus.AWAITING_MANUAL
    expect(phone.locator("#case-status")).to_have_text(words["in_progress"])
    check(phone, f"public-status-390-{language}")


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_person_answers_a_question_and_an_empty_answer_is_summarised_as_an_error(
    transactional_db: None, live_server: Any, phone: Any, language: str
) -> None:
    words = WORDS[language]
    case = CaseFactory(
        type="rectification",
        language=language,
        details={"rectification_wrong": "my phone", "rectification_correct": "+49 30 1234"},
    )
    case = transitions.verify_case(token=issue_verification(case))
    transitions.request_information(
        case.pk, what="Which company do you work for?", actor="staff:privacy"
    )
    phone.goto(f"{live_server.url}/status/{status_key(case)}/")

    phone.get_by_role("button", name=words["send_answer"]).click()
    summary = phone.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text(words["answer_problem"])
    check(phone, f"public-answer-error-390-{language}")

    phone.get_by_label(words["answer"], exact=True).fill("Analytical Engines Ltd")
    phone.get_by_role("button", name=words["send_answer"]).click()
    expect(phone.get_by_role("status")).to_have_text(words["answer_received"])
    expect(phone.locator("main")).to_be_focused()
    expect(phone.locator("#case-status")).to_have_text(words["being_checked"])
    check(phone, f"public-answered-390-{language}")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_download_page_asks_for_the_code_only_once_one_was_sent(
    transactional_db: None, live_server: Any, phone: Any, language: str, tmp_path: Any
) -> None:
    words = WORDS[language]
    settings.MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
    (settings.MEDIA_ROOT / "answer.zip").write_bytes(b"zip")
    case = CaseFactory(status=CaseStatus.COMPLETED, language=language)
    Artifact.objects.create(
        case=case,
        kind="export_zip",
        path="answer.zip",
        filename="answer.zip",
        content_type="application/zip",
        sha256="0" * 64,
        size=3,
        expires_at=timezone.now() + dt.timedelta(days=14),
    )
    token = downloads.issue_link(case)
    phone.goto(f"{live_server.url}/download/{token}/")

    expect(phone.get_by_label(words["code"])).to_have_count(0)
    expect(phone.locator("main .button")).to_have_count(1)
    check(phone, f"public-download-390-{language}")

    phone.get_by_role("button", name=words["email_code"]).click()
    expect(phone.get_by_role("status")).to_contain_text(words["code_sent"])
    code_box = phone.get_by_label(words["code"])
    expect(code_box).to_be_focused()
    # One main button; asking for another code is a quieter link-like button.
    expect(phone.locator("main .button")).to_have_count(1)
    check(phone, f"public-download-code-390-{language}")

    code_box.fill("000000" if "000000" not in mail.outbox[-1].body else "111111")
    phone.get_by_role("button", name=words["open_files"]).click()
    expect(phone.get_by_role("alert").get_by_role("heading")).to_have_text(words["code_problem"])
    check(phone, f"public-download-wrong-code-390-{language}")

    code = re.search(r"^(\d{6})$", mail.outbox[-1].body, re.M)
    assert code is not None
    phone.get_by_label(words["code"]).fill(code.group(1))
    phone.get_by_role("button", name=words["open_files"]).click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(words["files"])
    expect(phone.locator("main")).to_be_focused()
    check(phone, f"public-files-390-{language}")
