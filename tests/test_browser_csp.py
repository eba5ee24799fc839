"""The Content-Security-Policy: every response carries it, and the public pages, the admin and
the API docs work under it in headless Chromium with no violation reported (the ``page`` fixture
fails a test on any)."""

from __future__ import annotations

import base64
import hashlib
import re

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
    "url",
    ["/", "/admin/login/", "/api/docs/", "/download/not-a-token/", "/api/v1/cases/", "/nowhere/"],
)
def test_every_page_carries_a_policy_without_inline_scripts_or_styles(url: str) -> None:
    response = Client().get(url)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


@pytest.mark.django_db
def test_an_error_page_allows_its_own_style_block_by_its_hash_and_nothing_else() -> None:
    response = Client().get("/nowhere/")
    assert response.status_code == 404
    html = response.content.decode()
    [style] = re.findall(r"<style>(.*?)</style>", html, re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    directives = {
        name: value
        for name, _space, value in (
            part.strip().partition(" ") for part in response["Content-Security-Policy"].split(";")
        )
    }
    assert directives["style-src"] == f"'self' 'sha256-{digest}'"
    assert directives["script-src"] == "'self'"
    assert "style=" not in html and "<script" not in html


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
    # The error pages carry their own styles, as they must render when static files do not.
    page.goto(live_server.url + "/no-such-page/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto(live_server.url + "/download/not-a-token/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill("privacy")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The work waiting")
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
