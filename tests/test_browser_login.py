"""Staff sign in in headless Chromium: a sixteenth sign-in from the same office address after
fifteen successful ones lands in the admin, and failed ones lead to a page saying when to try
again."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-and-unusual-passphrase"


def sign_in(page, live_server, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_staff_member_signs_in_after_fifteen_successful_sign_ins(
    page, live_server, settings
) -> None:
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "10/15m", "ADMIN_LOGIN_IP_RATE": "10/15m"}
    for n in range(15):
        get_user_model().objects.create_user(f"colleague{n}", password=PASSWORD, is_staff=True)
    get_user_model().objects.create_superuser("privacy", password=PASSWORD)
    for n in range(15):
        sign_in(page, live_server, f"colleague{n}")
        expect(page.get_by_role("heading", level=1)).to_have_text("The work waiting")
        page.context.clear_cookies()

    sign_in(page, live_server, "privacy")
    expect(page.get_by_role("heading", level=1)).to_have_text("The work waiting")
    expect(page.get_by_role("link", name="Cases")).to_be_visible()


def test_failed_sign_ins_lead_to_a_page_saying_when_to_try_again(
    page, live_server, settings
) -> None:
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "2/15m"}
    get_user_model().objects.create_user("clerk", password=PASSWORD, is_staff=True)
    for n in range(2):
        sign_in(page, live_server, "clerk", f"guess-{n}")
        expect(page.get_by_text("Please enter the correct username and password")).to_be_visible()
    sign_in(page, live_server, "clerk ")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in paused")
    expect(page.get_by_role("alert")).to_contain_text("Try again after")
