"""The Content-Security-Policy: every response carries it, and the public pages, the admin and
the API docs work under it in headless Chromium with no violation reported (the ``page`` fixture
fails a test on any)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from dsar.models import CaseStatus
from tests.factories import CaseFactory

PASSWORD = "a-long-and-unusual-passphrase"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/", "/admin/login/", "/api/docs/", "/download/not-a-token/", "/api/v1/cases/"]
)
def test_every_page_carries_a_policy_without_inline_scripts_or_styles(url: str) -> None:
    response = Client().get(url)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_public_pages_the_admin_and_the_api_docs_work_under_the_policy(
    page, live_server
) -> None:
    get_user_model().objects.create_superuser("privacy", password=PASSWORD)
    case = CaseFactory(status=CaseStatus.IN_PROGRESS)

    page.goto(live_server.url + "/")
    page.get_by_label("Email address").fill("ada@example.com")
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill("privacy")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Site administration")
    for path in (
        reverse("admin:dsar_case_changelist"),
        reverse("admin:dsar_case_change", args=[case.pk]),
        reverse("dsar_dashboard"),
        reverse("admin:dsar_datasystem_add"),
    ):
        page.goto(live_server.url + path)
        expect(page.locator("#content")).to_be_visible()

    page.goto(live_server.url + reverse("api-docs"))
    expect(page.get_by_text("DSAR Desk API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
