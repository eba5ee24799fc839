"""A person's whole journey in headless Chromium: the form, the email, the link, the status page,
with axe-core checking every public page on the way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dsar.models import Case, CaseStatus
from tests.conftest import Mailbox, assert_accessible, body_text, first_link

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_a_person_requests_access_confirms_by_email_and_sees_the_case_verified(
    celery_worker, live_server, mailbox: Mailbox, page
) -> None:
    page.goto(live_server.url)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Make a request about your personal data"
    )
    assert_accessible(page)

    # A first try with a missing name: the error sits next to the field and axe still passes.
    page.get_by_label("See my data").check()
    page.get_by_label("Email address").fill("ada.lovelace@example.com")
    page.get_by_role("button", name="Send my request").click()
    expect(page.locator("#id_name_error")).to_contain_text("Please enter your name.")
    expect(page.get_by_role("alert")).to_be_focused()
    assert_accessible(page)

    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_role("button", name="Send my request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert_accessible(page)

    [message] = mailbox.wait_for("ada.lovelace@example.com")
    link = first_link(body_text(message), "/verify/")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your request")
    assert_accessible(page)
    page.get_by_role("button", name="Confirm my request").click()

    expect(page.locator("#case-verified")).to_contain_text("Verified on")
    assert_accessible(page)
    case = Case.objects.get(email="ada.lovelace@example.com")
    assert case.verified_at is not None
    assert case.status != CaseStatus.AWAITING_VERIFICATION
    actions = [e.action for e in case.events.order_by("seq") if not e.action.startswith("email_")]
    assert actions[:3] == ["submitted", "verified", "processing_started"]
    expect(page.get_by_text(case.reference).first).to_be_visible()

    # The confirmation email carries the same status page.
    confirmation = mailbox.wait_for_text("ada.lovelace@example.com", "/status/")
    assert page.url == first_link(body_text(confirmation), "/status/")

    # The link is single-use: opening it again says so, and offers a new email.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has already been used")
    assert_accessible(page)


def test_the_form_works_by_keyboard_alone_and_in_german(live_server, page) -> None:
    page.goto(live_server.url)
    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("Anfrage zu Ihren personenbezogenen Daten")
    )
    # Tab from the skip link into the form; the first radio button takes the keyboard focus.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name=re.compile("Hauptinhalt"))).to_be_focused()
    page.get_by_role("radio").first.focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("radio").first).to_be_checked()
    page.get_by_role("button", name=re.compile("Anfrage senden")).press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("E-Mail-Adresse")
    assert_accessible(page)


def test_the_rectification_questions_appear_only_when_that_right_is_chosen(live_server, page):
    page.goto(live_server.url)
    wrong = page.get_by_label("Which data about you is wrong or incomplete?")
    expect(wrong).to_be_hidden()
    page.get_by_label("Correct my data").check()
    expect(wrong).to_be_visible()
    assert_accessible(page)
