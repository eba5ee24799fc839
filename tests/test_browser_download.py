"""A person gets their answer in headless Chromium: the email link, the one-time code, the ZIP
and the PDF; another person's link and an expired one are refused."""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from connectors.demo_people import ADA, BEN
from dsar.models import DownloadLink
from dsar.register import load_register
from tests.conftest import Mailbox, assert_accessible, body_text, first_link
from tests.test_fanout import released, submit_and_verify

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def answered_link(mailbox: Mailbox, person) -> str:
    case = released(submit_and_verify(person))
    message = mailbox.wait_for_text(person.email, "/download/", timeout=60)
    assert case.reference in str(message["Subject"])
    return first_link(body_text(message), "/download/")


def test_a_person_confirms_a_code_and_downloads_the_zip_and_the_pdf(
    celery_worker, demo_systems_automated, sandboxes, live_server, mailbox: Mailbox, page, tmp_path
) -> None:
    load_register()
    link = answered_link(mailbox, ADA)

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your files")
    assert_accessible(page)
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_role("status")).to_contain_text("We have sent you a code")
    code_mail = mailbox.wait_for_text(ADA.email, "Your code for the files")
    code = re.search(r"^\s*(\d{6})\s*$", body_text(code_mail), re.MULTILINE).group(1)
    assert code not in str(code_mail["Subject"])  # the code is in the body only
    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Open my files").click()
    assert_accessible(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export (ZIP)").click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        folders = {entry["file"].split("/")[0] for entry in manifest["files"]}
        assert {"hubspot", "mailchimp", "discourse", "trial-signups"} <= folders

    with page.expect_download() as download:
        page.get_by_role("link", name="Report (PDF)").click()
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    text = "".join(p.extract_text() for p in PdfReader(report).pages)
    assert manifest["reference"] in text

    # Another person's link does not open in this browser without their own code.
    other = answered_link(mailbox, BEN)
    page.goto(other.rstrip("/") + "/export_zip/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your files")
    expect(page.get_by_role("button", name="Email me a code")).to_be_visible()

    # An expired link explains how to ask again.
    DownloadLink.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This download link has expired")
    assert_accessible(page)
