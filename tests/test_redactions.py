"""Other people's data in an access answer (Art. 15(4) GDPR): the answer waits while records
that may hold it are reviewed; staff redact or withhold them in the admin; the released ZIP and
report show the redacted records and never the original text. The case runs for real,
in-process, against the sandboxes; the ZIP and the PDF are read back."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from connectors.demo_people import ADA
from dsar import transitions
from dsar.attention import Reason, case_attention_reasons
from dsar.manual import ManualResult
from dsar.models import (
    ArtifactKind,
    Case,
    CaseStatus,
    EmailDelivery,
    ManualTask,
    Redaction,
    SystemRun,
)
from dsar.redactions import RedactionInvalid, answer_records
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes, assert_accessible
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory, outcome_of
from tests.scenes import use_sandbox_secrets
from tests.test_pdf import text_of

STAFF = "staff:clerk"
# Two of Ada's private messages are written to Grace Hopper, and greet her by name (the first
# is among the records the report samples).
TO_GRACE = "Hi Grace, message 40: about my invoice and account settings."
REDACTED = "Hi [redacted], message 40: about my invoice and account settings."
ALSO_TO_GRACE = "Hi Grace, message 16: about my invoice and account settings."


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def staff(demo_systems: dict[str, Any], sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch):
    use_sandbox_secrets(monkeypatch, sandboxes)
    user = get_user_model().objects.create_user(
        "clerk", "clerk@example.com", "a-long-test-password", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client


def access_for_ada() -> Case:
    """Ada asks for her data; every system answers and staff find nothing by hand."""
    case = transitions.submit_case(
        case_type="access", email=ADA.email, name=ADA.name, language="en"
    )
    case = transitions.verify_case(token=issue_verification(case))
    for task in ManualTask.objects.filter(run__case=case):
        transitions.complete_manual_task(
            task.pk, result=ManualResult(result="not_held"), actor=STAFF, user_id=None
        )
    case.refresh_from_db()
    return case


def private_message(page: str, text: str) -> str:
    """The link to redact the record whose text is ``text``, from the review page."""
    sections = page.split('<section class="case-section review-record')
    [section] = [s for s in sections if text in s]
    match = re.search(r'href="([^"]+/third-party/\d+/\d+/)"', section)
    assert match, section
    return match.group(1)


def test_a_private_message_to_another_user_is_redacted_before_the_answer_is_released(
    staff: Client, media: Path
) -> None:
    case = access_for_ada()

    # The answer waits for staff: no files, no email to Ada, the deadline still shows.
    assert case.status == CaseStatus.THIRD_PARTY_REVIEW
    assert not case.artifacts.exists()
    assert not EmailDelivery.objects.filter(case=case, kind="completed").exists()
    assert Reason.THIRD_PARTY_REVIEW in case_attention_reasons(case)
    held = case.events.get(action="third_party_review_required").data["records"]
    assert held["discourse"] == {"private_messages": 6}
    assert held["hubspot"] == {"emails": 2, "calls": 1, "meetings": 1, "notes": 3}
    case_page = staff.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "Third-party data to review" in case_page and "days left" in case_page
    queue = staff.get(reverse("admin:dsar_case_changelist")).content.decode()
    assert "flag--third_party_review" in queue
    discourse = SystemRun.objects.get(case=case, system__key="discourse")
    raw = Path(media / discourse.result_file).read_bytes()

    # Staff read the messages and redact Grace's name from one, and withhold the other.
    review = staff.get(reverse("admin:dsar_case_third_party", args=[case.pk]))
    assert review.status_code == 200
    page = review.content.decode()
    assert TO_GRACE in page and ALSO_TO_GRACE in page
    url = private_message(page, TO_GRACE)
    form = staff.get(url).content.decode()
    [name] = re.findall(r'name="(field_\d+)"[^>]*>\s*' + re.escape(TO_GRACE), form)
    response = staff.post(
        url, {name: REDACTED, "reason": "Names the person the message was written to."}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    refused = staff.post(private_message(page, ALSO_TO_GRACE), {"withheld": "on", "reason": ""})
    assert refused.status_code == 400 and "Say why" in refused.content.decode()
    staff.post(
        private_message(page, ALSO_TO_GRACE),
        {"withheld": "on", "reason": "Written to Grace about Grace's own account."},
    )
    assert Redaction.objects.filter(run=discourse).count() == 2
    review = staff.get(reverse("admin:dsar_case_third_party", args=[case.pk])).content.decode()
    assert REDACTED in review and TO_GRACE not in review
    redacted_events = [e.data for e in case.events.filter(action="record_redacted")]
    assert [(e["category"], e["withheld"], e["fields"]) for e in redacted_events] == [
        ("private_messages", False, 1),
        ("private_messages", True, 0),
    ]
    assert "Grace" not in json.dumps(redacted_events)

    # "Release the answer" builds and sends it.
    release = reverse("admin:dsar_case_action", args=[case.pk, "release-answer"])
    assert release in case_page
    assert staff.post(release, {}).status_code == 200  # the review must be confirmed
    assert staff.post(release, {"reviewed": "on"}).status_code == 302

    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    assert EmailDelivery.objects.filter(case=case, kind="completed").exists()
    assert case.events.get(action="answer_released").data == {
        "from": "third_party_review",
        "to": "completed",
        "withheld": 1,
        "redacted": 1,
    }
    assert Path(media / discourse.result_file).read_bytes() == raw  # the system's record stays
    artifacts = {artifact.kind: artifact for artifact in case.artifacts.all()}

    with zipfile.ZipFile(media / artifacts[ArtifactKind.EXPORT_ZIP].path) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist()).decode()
        forum = json.loads(archive.read("discourse/discourse.json"))
        messages = archive.read("discourse/private_messages.csv").decode("utf-8-sig")
        manifest = json.loads(archive.read("manifest.json"))
    assert TO_GRACE not in everything and ALSO_TO_GRACE not in everything
    excerpts = [
        item["record"]["excerpt"]
        for item in forum["records"]
        if item["category"] == "private_messages"
    ]
    assert REDACTED in excerpts and len(excerpts) == 5
    assert forum["counts"]["private_messages"] == 5
    assert REDACTED in messages
    for entry in manifest["files"]:
        if entry["file"] == "discourse/private_messages.csv":
            assert entry["records"] == 5

    report = text_of(media / artifacts[ArtifactKind.REPORT_PDF].path)
    assert REDACTED in report
    assert TO_GRACE not in report and ALSO_TO_GRACE not in report
    assert "In 1 record we removed other people's data (Art. 15(4) GDPR)." in report
    assert "We left out 1 record to protect other people's data (Art. 15(4) GDPR)." in report


@pytest.mark.django_db
def test_a_redaction_applies_only_to_the_record_it_was_made_for(media: Path) -> None:
    forum = DataSystemFactory(key="forum", review_categories=["private_messages"])
    case = CaseFactory(status=CaseStatus.THIRD_PARTY_REVIEW)
    lines = [
        {"category": "posts", "record": {"excerpt": "Hello all"}},
        {"category": "private_messages", "record": {"excerpt": "Hi Bea", "meta": {"to": "bea"}}},
    ]
    relative = f"runs/{case.public_id.hex}/forum-export.jsonl"
    path = media / relative
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = SystemRunFactory(
        case=case,
        system=forum,
        status="succeeded",
        result_file=relative,
        **outcome_of("export", found=True, details={"counts": {"posts": 1, "private_messages": 1}}),
    )

    with pytest.raises(RedactionInvalid):  # a post is the person's own, not for review
        transitions.redact_record(
            case.pk, run_id=run.pk, line=0, withheld=True, fields={}, reason="x", actor=STAFF
        )
    transitions.redact_record(
        case.pk,
        run_id=run.pk,
        line=1,
        withheld=False,
        fields={("excerpt",): "Hi [redacted]", ("meta", "to"): "[redacted]"},
        reason="The recipient's name.",
        actor=STAFF,
    )
    assert list(answer_records(run)) == [
        ("posts", {"excerpt": "Hello all"}),
        ("private_messages", {"excerpt": "Hi [redacted]", "meta": {"to": "[redacted]"}}),
    ]
    # Saved unchanged, the record is as the system gave it again.
    transitions.redact_record(
        case.pk, run_id=run.pk, line=1, withheld=False, fields={}, reason="", actor=STAFF
    )
    assert not Redaction.objects.exists()
    assert case.events.filter(action="redaction_removed").count() == 1

    # A redaction whose line no longer matches hides the record rather than show it.
    transitions.redact_record(
        case.pk,
        run_id=run.pk,
        line=1,
        withheld=False,
        fields={("excerpt",): "Hi [redacted]"},
        reason="The recipient's name.",
        actor=STAFF,
    )
    lines[1]["record"]["excerpt"] = "Hi Bea, again"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [category for category, _record in answer_records(run)] == ["posts"]


@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "de"])
def test_staff_redact_a_message_in_the_browser_on_accessible_pages(
    chromium: Any, live_server: Any, media: Path, transactional_db: None, language: str
) -> None:
    forum = DataSystemFactory(key="forum", name="Forum", review_categories=["private_messages"])
    case = CaseFactory(status=CaseStatus.THIRD_PARTY_REVIEW)
    relative = f"runs/{case.public_id.hex}/forum-export.jsonl"
    (media / relative).parent.mkdir(parents=True)
    record = {"title": "My account", "excerpt": "Hi Bea, about my invoice."}
    (media / relative).write_text(
        json.dumps({"category": "private_messages", "record": record}) + "\n"
    )
    SystemRunFactory(
        case=case,
        system=forum,
        status="succeeded",
        result_file=relative,
        **outcome_of("export", found=True, details={"counts": {"private_messages": 1}}),
    )
    user = get_user_model().objects.create_user(
        "clerk", password="a-long-test-password", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    context = chromium.new_context(locale="de-DE" if language == "de" else "en-GB")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security" in message.text else None
        ),
    )

    def check() -> None:
        """No Content-Security-Policy violation of the page's own, and axe finds nothing (axe
        itself injects styles, so the check of the policy comes first)."""
        assert violations == []
        assert_accessible(page)
        violations.clear()

    try:
        page.goto(live_server.url + reverse("admin:dsar_case_change", args=[case.pk]))
        check()
        review = reverse("admin:dsar_case_third_party", args=[case.pk])
        page.locator(f'a[href="{review}"]').click()
        check()
        page.locator(".review-record a.button").click()
        check()
        page.get_by_label("excerpt").fill("Hi [redacted], about my invoice.")
        page.locator('textarea[name="reason"]').fill("The recipient's name.")
        page.locator('input[type="submit"]').click()

        expect(page.locator(".review-record")).to_contain_text("Hi [redacted], about my invoice.")
        expect(page.locator(".review-record")).not_to_contain_text("Hi Bea")
        check()
    finally:
        context.close()
    assert Redaction.objects.get().fields == [
        {"path": ["excerpt"], "value": "Hi [redacted], about my invoice."}
    ]
