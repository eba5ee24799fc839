"""Every answer tells the truth: the recorded outcome of each system drives the certificate, the
report, the confirmations, the completion email, the finished status page and the Art. 19
notices, and nothing else does. PDFs are read back with pypdf."""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone

from connectors.demo_people import ADA
from dsar import transitions
from dsar.deliverables.assemble import build_artifacts
from dsar.deliverables.pdf import render_certificate, render_confirmation, render_report
from dsar.emails import compose
from dsar.manual import FoundFile, ManualResult, ManualResultInvalid
from dsar.models import (
    Artifact,
    ArtifactKind,
    Case,
    CaseStatus,
    CaseType,
    DataSystem,
    EmailDelivery,
    ManualTask,
    RunStatus,
)
from dsar.register import load_register
from dsar.tokens import status_key
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory, outcome_of
from tests.test_pdf import text_of

pytestmark = pytest.mark.django_db

# The smallest valid PNG: a business card photographed by staff, as far as the tests care.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
INTERNAL = "INTERNAL: the customer was rude on the phone"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def accounting() -> DataSystem:
    """The controller's manual accounting system, with the register's retention rules."""
    system = DataSystemFactory(
        key="accounting",
        name="Accounting and invoices",
        connector="manual",
        config={"team": "Accounting", "instructions": {"erase": "Look in the ledger."}},
    )
    load_register()
    return system


def manual_case(system: DataSystem, *, case_type: str, action: str) -> tuple[Case, ManualTask]:
    case = CaseFactory(
        type=case_type,
        status=CaseStatus.AWAITING_MANUAL,
        email=ADA.email,
        name=ADA.name,
        verified_at=timezone.now(),
    )
    run = SystemRunFactory(case=case, system=system, action=action, status=RunStatus.WAITING_MANUAL)
    task = ManualTask.objects.create(run=run, team="Accounting", instructions="Look.")
    return case, task


def complete(task: ManualTask, result: ManualResult) -> Case:
    transitions.complete_manual_task(task.pk, result=result, actor="staff:clerk", user_id=None)
    case = task.run.case
    case.refresh_from_db()
    return case


def test_accounting_nothing_found_prints_no_retention(
    accounting: DataSystem, tmp_path: Path
) -> None:
    case, task = manual_case(accounting, case_type=CaseType.ERASURE, action="erase")
    complete(task, ManualResult(result="not_held"))
    text = text_of(render_certificate(case, tmp_path / "certificate.pdf"))
    assert "We hold no data about you here." in text
    assert "until" not in text.split("Kept until", 1)[1].split("Certificate checksum")[0]
    assert "How to complain" not in text  # nothing was kept: all is erased or never held


@pytest.mark.parametrize(
    ("rule", "records", "until"),
    [
        ("accounting-vouchers", "2 invoices", dt.date(2033, 12, 31)),  # 8 years, §147(3) AO
        ("books-and-annual-accounts", "the annual accounts", dt.date(2035, 12, 31)),  # 10 years
    ],
)
def test_accounting_kept_records_run_from_the_end_of_their_own_year(
    accounting: DataSystem, tmp_path: Path, rule: str, records: str, until: dt.date
) -> None:
    from dsar.models import RetentionRule

    case, task = manual_case(accounting, case_type=CaseType.ERASURE, action="erase")
    case = complete(
        task,
        ManualResult(
            result="retained",
            kept_records=records,
            record_year=2025,
            retention_rule_id=RetentionRule.objects.get(key=rule).pk,
        ),
    )
    run = case.runs.get()
    assert run.outcome == "retained"
    text = text_of(render_certificate(case, tmp_path / "certificate.pdf"))
    assert f"{records}:" in text
    assert formats.date_format(until, "DATE_FORMAT") in text
    assert "at the latest" not in text  # the record's own year is known: the end is exact
    assert "How to complain" in text


def test_kept_records_need_their_legal_duty_and_year(accounting: DataSystem) -> None:
    _case, task = manual_case(accounting, case_type=CaseType.ERASURE, action="erase")
    with pytest.raises(ManualResultInvalid, match="legal duty"):
        complete(task, ManualResult(result="retained", kept_records="2 invoices"))
    task.refresh_from_db()
    assert task.status == "open"


def test_a_photographed_business_card_is_in_the_zip_with_its_checksum_and_in_the_report(
    media: Path,
) -> None:
    cards = DataSystemFactory(key="business-cards", name="Business cards", connector="manual")
    case, task = manual_case(cards, case_type=CaseType.ACCESS, action="export")
    case = complete(
        task,
        ManualResult(
            result="exported",
            categories=["business card"],
            records=[("business card", {"name": ADA.name, "company": "Analytical Engines"})],
            files=[FoundFile(category="business card", name="card.png", content=PNG)],
            note_to_person="We met you at the 2025 trade fair.",
            internal_note=INTERNAL,
        ),
    )
    assert case.status == CaseStatus.COMPLETED
    artifacts = {a.kind: a for a in build_artifacts(case)}

    with zipfile.ZipFile(media / artifacts[ArtifactKind.EXPORT_ZIP].path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = archive.namelist()
        [card] = [name for name in names if name.startswith("files/business-cards/")]
        assert archive.read(card) == PNG
    import hashlib

    listed = {entry["file"]: entry for entry in manifest["files"]}
    assert listed[card]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert listed["business-cards/business-cards.json"]["records"] == 2

    report = text_of(media / artifacts[ArtifactKind.REPORT_PDF].path)
    assert "business card: 2" in report
    assert "We found 2 records about you; your export contains them." in report
    assert "We met you at the 2025 trade fair." in report
    assert INTERNAL not in report


def test_an_attachment_that_is_not_what_it_claims_is_refused(media: Path) -> None:
    cards = DataSystemFactory(key="business-cards", connector="manual")
    _case, task = manual_case(cards, case_type=CaseType.ACCESS, action="export")
    with pytest.raises(ManualResultInvalid, match="not a PDF"):
        complete(
            task,
            ManualResult(
                result="exported",
                files=[FoundFile(category="card", name="card.png", content=b"MZ\x90 not a png")],
            ),
        )
    assert not list(media.rglob("*.png"))


def test_a_manual_task_error_reads_in_the_language_of_the_staff_member(
    accounting: DataSystem,
) -> None:
    from django.utils import translation

    _case, task = manual_case(accounting, case_type=CaseType.ERASURE, action="erase")
    with (
        translation.override("de"),
        pytest.raises(ManualResultInvalid, match="welche gesetzliche Pflicht"),
    ):
        complete(task, ManualResult(result="retained", kept_records="2 Rechnungen"))


def test_the_persons_documents_never_contain_an_internal_note(
    accounting: DataSystem, tmp_path: Path
) -> None:
    case, task = manual_case(accounting, case_type=CaseType.RESTRICTION, action="restrict")
    case = complete(
        task,
        ManualResult(
            result="restricted", note_to_person="Your invoices are locked.", internal_note=INTERNAL
        ),
    )
    confirmation = text_of(render_confirmation(case, tmp_path / "confirmation.pdf"))
    assert "Your invoices are locked." in confirmation
    assert INTERNAL not in confirmation
    email = compose(EmailDelivery.objects.create(case=case, kind="completed"))
    assert "Your invoices are locked." in email.text and INTERNAL not in email.text + email.html


# --- Every request type's answer names what happened ------------------------------------------

TYPES = [
    (
        CaseType.ACCESS,
        "export",
        "exported",
        {"details": {"counts": {"contacts": 3}}},
        "We found 3 records about you; your export contains them.",
    ),
    (
        CaseType.PORTABILITY,
        "export",
        "exported",
        {"details": {"counts": {"contacts": 1}}},
        "We found 1 record about you here; it is not data you gave us",
    ),
    (
        CaseType.ERASURE,
        "erase",
        "anonymised",
        {"remains": ["posts"]},
        "What remains: your posts and topics, shown under an anonymous name.",
    ),
    (
        CaseType.RESTRICTION,
        "restrict",
        "restricted",
        {"unsubscribed_from": ["Newsletter"]},
        "You no longer receive marketing from here (Newsletter).",
    ),
    (
        CaseType.OBJECTION,
        "object",
        "unsubscribed",
        {"unsubscribed_from": ["Product news"]},
        "You were unsubscribed from all marketing here (Product news).",
    ),
    (
        CaseType.RECTIFICATION,
        "rectify",
        "corrected",
        {"corrections": [{"field": "job_title", "old": "Clerk", "new": "Engineer"}]},
        "Your data were corrected: Job title.",
    ),
]


@pytest.mark.parametrize(("case_type", "action", "kind", "data", "sentence"), TYPES)
def test_each_completion_email_and_finished_status_page_names_the_outcome(
    case_type: str, action: str, kind: str, data: dict[str, Any], sentence: str, client: Client
) -> None:
    case = CaseFactory(
        type=case_type,
        status=CaseStatus.COMPLETED,
        verified_at=timezone.now(),
        closed_at=timezone.now(),
    )
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="Customer CRM"),
        action=action,
        status=RunStatus.SUCCEEDED,
        **outcome_of(action, found=True, kind=kind, **data),
    )
    delivery = EmailDelivery.objects.create(case=case, kind="completed")
    email = compose(delivery)
    assert "Customer CRM: " in email.text
    assert sentence in email.text and sentence in email.html

    page = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert sentence in page
    assert "Answered on" in page
    assert "Answer due by" not in page or "days left" not in page


def test_an_erasure_with_something_kept_is_not_announced_as_complete(
    accounting: DataSystem,
) -> None:
    from dsar.models import RetentionRule

    case, task = manual_case(accounting, case_type=CaseType.ERASURE, action="erase")
    case = complete(
        task,
        ManualResult(
            result="retained",
            kept_records="2 invoices",
            record_year=2025,
            retention_rule_id=RetentionRule.objects.get(key="accounting-vouchers").pk,
        ),
    )
    email = compose(EmailDelivery.objects.create(case=case, kind="completed"))
    assert "nothing about you remains" not in email.text
    assert "what remains and why" in email.text


# --- Art. 19: only where something changed, with what changed ----------------------------------


def test_recipients_hear_the_new_value_and_nothing_when_nothing_changed() -> None:
    case = CaseFactory(type=CaseType.RECTIFICATION, status=CaseStatus.IN_PROGRESS)
    crm = DataSystemFactory(name="CRM", recipient_emails="crm-partner@example.org")
    newsletter = DataSystemFactory(name="Newsletter", recipient_emails="agency@example.org")
    changed = SystemRunFactory(
        case=case,
        system=crm,
        action="rectify",
        status=RunStatus.SUCCEEDED,
        **outcome_of(
            "rectify",
            found=True,
            corrections=[{"field": "job_title", "old": "Clerk", "new": "Chief Engineer"}],
        ),
    )
    unchanged = SystemRunFactory(
        case=case,
        system=newsletter,
        action="rectify",
        status=RunStatus.SUCCEEDED,
        **outcome_of("rectify", found=True, corrections=[]),
    )
    for run in (changed, unchanged):
        transitions._notify_recipients(case, run)  # what finish_run does for a finished run
    [notice] = EmailDelivery.objects.filter(case=case, kind="recipient_notice")
    assert notice.to_other == "crm-partner@example.org"
    text = compose(notice).text
    assert "Job title: Chief Engineer" in text
    assert case.email in text


# --- Documents are rebuilt from the outcomes alone ------------------------------------------


def _masked(text: str) -> str:
    """The text without its one-time link (a new one is minted each time it is composed)."""
    return re.sub(r"https?://\S+", "<link>", text)


def _finished_section(page: str) -> str:
    return page[page.index('<section class="finished"') : page.index("</section>")]


def test_documents_rebuilt_from_the_outcomes_say_what_was_sent(
    accounting: DataSystem, media: Path, client: Client
) -> None:
    from dsar.models import RetentionRule

    case, task = manual_case(accounting, case_type=CaseType.ERASURE, action="erase")
    forum = DataSystemFactory(name="Forum", recipient_emails="moderators@example.org")
    forum_run = SystemRunFactory(
        case=case,
        system=forum,
        action="erase",
        status=RunStatus.SUCCEEDED,
        **outcome_of("erase", found=True, kind="anonymised", remains=["posts"]),
    )
    transitions._notify_recipients(case, forum_run)
    case = complete(
        task,
        ManualResult(
            result="retained",
            kept_records="2 invoices",
            record_year=2025,
            retention_rule_id=RetentionRule.objects.get(key="accounting-vouchers").pk,
        ),
    )
    assert case.status == CaseStatus.COMPLETED
    [certificate] = build_artifacts(case)
    sent_certificate = text_of(media / certificate.path)
    sent_email = compose(EmailDelivery.objects.create(case=case, kind="completed"))
    notice = EmailDelivery.objects.get(
        case=case, kind="recipient_notice", to_other="moderators@example.org"
    )
    sent_notice = compose(notice).text
    sent_page = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()

    # Everything the documents rest on is wiped but the recorded outcomes…
    ManualTask.objects.filter(pk=task.pk).update(internal_note="", instructions="")
    Artifact.objects.filter(case=case).delete()
    # …and each rebuilt document says the same.
    rebuilt = build_artifacts(case)
    assert text_of(media / rebuilt[0].path) == sent_certificate
    again = compose(EmailDelivery.objects.create(case=case, kind="completed"))
    assert _masked(again.text) == _masked(sent_email.text)
    assert compose(notice).text == sent_notice
    page = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert _finished_section(page) == _finished_section(sent_page)
    for phrase in ("anonymised", "2 invoices", formats.date_format(dt.date(2033, 12, 31))):
        assert phrase in sent_certificate + sent_email.text


def test_report_access_files_match_their_stored_checksums(media: Path) -> None:
    """Access files rest on raw records deleted after delivery, so they are not rebuilt but
    checked: each stored file still has the checksum recorded when it was built."""
    import hashlib

    cards = DataSystemFactory(key="business-cards", connector="manual")
    case, task = manual_case(cards, case_type=CaseType.ACCESS, action="export")
    case = complete(task, ManualResult(result="exported", categories=["business card"]))
    for artifact in build_artifacts(case):
        path = media / artifact.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact.sha256


def test_reports_say_no_export_when_nothing_was_found(media: Path, tmp_path: Path) -> None:
    case = CaseFactory(type=CaseType.ACCESS, status=CaseStatus.COMPLETED, closed_at=timezone.now())
    SystemRunFactory(
        case=case,
        status=RunStatus.SUCCEEDED,
        **outcome_of("export", found=False),
    )
    text = text_of(render_report(case, tmp_path / "report.pdf"))
    assert "We hold no personal data about you" in text
    assert "so there is no export file" in text
    assert "contains all" not in text


# --- An objection to marketing, in a system that does none ----------------------------------


@pytest.mark.parametrize(
    ("person", "sentence"),
    [
        ("ada", "We hold data about you here, but do not use them for direct marketing."),
        ("nora", "We hold no data about you here."),
    ],
)
def test_a_marketing_objection_says_held_but_not_used_where_the_system_holds_the_person(
    person: str, sentence: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from connectors.demo_people import NORA, create_trial_database, trial_system_config
    from dsar.tasks import run_system_task

    who = {"ada": ADA, "nora": NORA}[person]
    url = f"sqlite:///{tmp_path / 'trial.sqlite3'}"
    create_trial_database(url)
    settings.CONNECTOR_SECRETS = {"DSAR_SECRET_TRIAL_DATABASE_URL": url}
    signups = DataSystemFactory(
        name="Free-trial registrations",
        connector="sql",
        config=trial_system_config(url_env="DSAR_SECRET_TRIAL_DATABASE_URL"),
    )
    case = CaseFactory(
        type=CaseType.OBJECTION,
        status=CaseStatus.IN_PROGRESS,
        email=who.email,
        details={"objection_scope": "direct_marketing"},
    )
    run = SystemRunFactory(case=case, system=signups, action="object")
    run_system_task(run.pk)

    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    text = text_of(render_confirmation(case, tmp_path / "confirmation.pdf"))
    assert sentence in text
    assert "no data about you" not in text or person == "nora"


# --- What the walkthrough found --------------------------------------------------------------


def test_records_typed_in_a_browser_text_box_are_read_block_by_block(admin_client: Client) -> None:
    cards = DataSystemFactory(key="business-cards", name="Business cards", connector="manual")
    _case, task = manual_case(cards, case_type=CaseType.ACCESS, action="export")
    # Browsers send a text box's lines with CRLF.
    records = "business card\r\nname: Ada\r\ncompany: Engines\r\n\r\nbusiness card\r\nname: A. L."
    response = admin_client.post(
        reverse("admin:dsar_manualtask_complete", args=[task.pk]),
        {"result": "exported", "records": records, "files_category": "files"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert [r.data for r in task.records.order_by("pk")] == [
        {"name": "Ada", "company": "Engines"},
        {"name": "A. L."},
    ]


def test_a_portability_answer_says_which_records_its_export_holds(tmp_path: Path) -> None:
    from dsar.models import LegalBasis, ProcessingActivity

    case = CaseFactory(type=CaseType.PORTABILITY, status=CaseStatus.COMPLETED)
    crm = DataSystemFactory(name="CRM", portable_categories=["contact"])
    ledger = DataSystemFactory(name="Accounting", portable_categories=[])
    for system, basis in ((crm, LegalBasis.CONTRACT), (ledger, LegalBasis.LEGAL_OBLIGATION)):
        activity = ProcessingActivity.objects.create(
            key=f"act-{system.pk}",
            name=system.name,
            purposes="x",
            legal_basis=basis,
            data_categories="x",
            retention="x",
        )
        activity.systems.add(system)
    for system, counts in ((crm, {"contact": 1, "notes": 4}), (ledger, {"invoices": 2})):
        SystemRunFactory(
            case=case,
            system=system,
            status=RunStatus.SUCCEEDED,
            result_file=f"runs/{system.pk}.jsonl",
            **outcome_of("export", found=True, details={"counts": counts}),
        )
    text = compose(EmailDelivery.objects.create(case=case, kind="completed")).text
    assert "We found 5 records about you; your export contains the 1 you gave us" in text
    assert "We found 2 records about you here; they are not data you gave us" in text
    assert "your export contains them" not in text


def test_a_system_holding_none_of_the_details_to_correct_does_not_say_already_correct() -> None:
    case = CaseFactory(type=CaseType.RECTIFICATION, status=CaseStatus.COMPLETED)
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="Newsletter"),
        action="rectify",
        status=RunStatus.SUCCEEDED,
        **outcome_of(
            "rectify",
            found=True,
            corrections=[],
            not_held_fields=["street", "city"],
            requested_fields=["city", "street"],
        ),
    )
    text = compose(EmailDelivery.objects.create(case=case, kind="completed")).text
    assert "holds none of the details you asked us to correct" in text
    assert "Street and house number" in text
    assert "already correct" not in text


def test_a_manual_correction_task_names_the_approved_values_and_its_team_hears_of_it() -> None:
    from dsar.models import RectificationChange
    from dsar.tasks import run_system_task

    hr = DataSystemFactory(
        name="HR files",
        connector="manual",
        config={"team": "Human resources", "team_email": "hr@example.org"},
    )
    case = CaseFactory(type=CaseType.RECTIFICATION, status=CaseStatus.IN_PROGRESS)
    RectificationChange.objects.create(
        case=case, field="street", proposed_value="Main St 1", decision="accepted"
    )
    run = SystemRunFactory(case=case, system=hr, action="rectify")
    run_system_task(run.pk)

    task = ManualTask.objects.get(run=run)
    assert "Street and house number \u2192 \u201cMain St 1\u201d" in task.instructions
    notice = EmailDelivery.objects.get(case=case, kind="manual_task")
    assert notice.to_other == "hr@example.org"
    message = compose(notice)
    assert "Human resources" in message.text and case.reference in message.subject
