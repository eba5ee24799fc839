"""Each right as a privacy lawyer would check it: end to end through Redis and a real Celery
worker, against the sandboxes over HTTP, driven by the register of processing activities."""

from __future__ import annotations

import datetime as dt
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from django.conf import settings
from django.utils import timezone
from pypdf import PdfReader

from connectors.demo_people import ADA, CRM_SUBSCRIPTIONS, NEWSLETTER_LISTS, NORA
from dsar import transitions
from dsar.deliverables.pdf import render_report
from dsar.demo import confirm_recipients, create_demo_systems
from dsar.manual import ManualResult
from dsar.models import (
    ArtifactKind,
    Case,
    CaseStatus,
    ChangeDecision,
    DataSystem,
    EmailDelivery,
    LegalBasis,
    ManualTask,
    ProcessingActivity,
    RectificationChange,
    RetentionRule,
    RunStatus,
)
from dsar.register import load_register
from dsar.rights import access_information, portable_records
from dsar.suppression import Suppressed, ensure_marketing_allowed, is_suppressed
from dsar.tokens import issue_verification
from tests.conftest import Mailbox, Sandboxes, body_text, first_link
from tests.factories import FOUND_KIND, CaseFactory, SystemRunFactory, outcome_of
from tests.test_fanout import released, wait_for_status

pytestmark = [pytest.mark.worker]


@pytest.fixture
def register(demo_systems: dict[str, DataSystem]) -> dict[str, DataSystem]:
    load_register()
    return demo_systems


def submit_and_verify(case_type: str = "access", details: dict[str, str] | None = None) -> Case:
    case = transitions.submit_case(
        case_type=case_type, email=ADA.email, name=ADA.name, language="en", details=details
    )
    return transitions.verify_case(token=issue_verification(case))


def finish_manual_tasks(case: Case, *, found_in: set[str] = frozenset()) -> Case:  # type: ignore[assignment]
    case = wait_for_status(case, CaseStatus.AWAITING_MANUAL, CaseStatus.COMPLETED)
    for task in ManualTask.objects.filter(run__case=case).select_related("run__system"):
        found = task.run.system.key in found_in
        transitions.complete_manual_task(
            task.pk,
            result=ManualResult(
                result=FOUND_KIND[task.run.action] if found else "not_held",
                categories=["records"] if found else [],
                internal_note="Checked by staff.",
            ),
            actor="staff:handler",
            user_id=None,
        )
    return released(case)


def trial_row(sandboxes: Sandboxes) -> dict[str, Any] | None:
    engine = sa.create_engine(sandboxes.trial_url)
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.text("select * from trial_signups where email = :email"), {"email": ADA.email}
            )
            .mappings()
            .first()
        )
    engine.dispose()
    return dict(row) if row else None


def test_access_names_every_system_holding_data_with_the_art15_information(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    case = finish_manual_tasks(submit_and_verify(), found_in={"email-archive"})
    info = access_information(case)

    holding = {item["system"] for item in info["systems"] if item["holds_data"]}
    expected = {
        register[key].name
        for key in ("hubspot", "mailchimp", "discourse", "trial-signups", "email-archive")
    }
    assert holding == expected
    relevant = set(
        ProcessingActivity.objects.filter(systems__name__in=expected).values_list("name", flat=True)
    )
    listed = {activity["activity"] for activity in info["processing_activities"]}
    assert listed == relevant
    job_applications = ProcessingActivity.objects.filter(systems__key="hr-files")
    assert not listed & set(job_applications.values_list("name", flat=True))
    for activity in info["processing_activities"]:
        for heading in ("purposes", "categories_of_data", "retention", "legal_basis"):
            assert activity[heading].strip(), (activity["activity"], heading)
        assert "recipients" in activity and "transfer_safeguards" in activity
        assert "source" in activity and "automated_decision_making" in activity
    assert info["complaint"]["supervisory_authority"]
    assert any("Art. 21" in right for right in info["rights"])
    text = json.dumps(info)
    assert "grace.hopper" not in text and "charles.babbage" not in text


def test_portability_gives_only_what_the_person_provided_under_consent_or_contract(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    case = finish_manual_tasks(submit_and_verify("portability"))
    records = list(portable_records(case))
    categories = {(system, category) for system, category, _record in records}
    assert ("trial-signups", "trial_signups") in categories
    assert ("mailchimp", "member") in categories
    # Observed or derived data is not "provided": no property history, activity or notes.
    assert not {category for _s, category in categories} & {"property_history", "notes", "activity"}
    portable_systems = {
        system.key
        for system in DataSystem.objects.filter(
            activities__legal_basis__in=[LegalBasis.CONSENT, LegalBasis.CONTRACT]
        )
    }
    assert {system for system, _category in categories} <= portable_systems
    text = json.dumps(records).lower()
    assert ADA.email in text
    assert "grace.hopper" not in text and "charles.babbage" not in text


def test_erasure_removes_the_person_except_what_a_statute_keeps_and_notifies_recipients(
    celery_worker, register, sandboxes: Sandboxes, mailbox: Mailbox
) -> None:
    mailchimp = register["mailchimp"]
    mailchimp.recipient_emails = "privacy@newsletter-agency.example.org"
    mailchimp.save()
    # The sign-up database here also serves an activity with a statutory retention obligation.
    kept = ProcessingActivity.objects.create(
        key="test-tax-records",
        name="Tax records",
        purposes="Tax",
        data_categories="Invoices",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="10 years",
    )
    kept.retention_rules.add(
        RetentionRule.objects.create(
            key="test-books",
            name="Books",
            name_de="Bücher",
            citation="§147 AO",
            citation_de="§ 147 AO",
            years=10,
        )
    )
    kept.systems.add(register["trial-signups"])

    case = finish_manual_tasks(submit_and_verify("erasure"))

    assert sandboxes.hubspot.state({"email": ADA.email})["exists"] is False
    assert sandboxes.mailchimp.state({"email": ADA.email})["exists"] is False
    assert sandboxes.discourse.state({"email": ADA.email})["exists"] is False
    row = trial_row(sandboxes)
    assert row is not None and row["processing_restricted"]  # kept, restricted, not erased
    year = timezone.localdate(case.received_at).year
    runs = {run.system.key: run for run in case.runs.select_related("system")}
    assert runs["trial-signups"].retained == [
        {
            "activity": "Tax records",
            "obligation": "§147 AO: Books",
            "until": str(dt.date(year + 10, 12, 31)),
            "rule": "test-books",
            "activity_key": "test-tax-records",
        }
    ]
    # A manual system records what is kept only once staff searched and say so.
    assert runs["email-archive"].status == "succeeded"
    for key in ("hubspot", "mailchimp", "discourse"):
        assert runs[key].found and not runs[key].retained
    # What the certificate will rest on never repeats the erased data.
    outcome_text = json.dumps([run.outcome_data for run in case.runs.all()]).lower()
    assert ADA.email not in outcome_text and "lovelace" not in outcome_text

    [notice] = mailbox.wait_for("privacy@newsletter-agency.example.org")
    assert case.reference in str(notice["Subject"]) and ADA.email in body_text(notice)
    assert "recipients_notified" in [e.action for e in case.events.all()]


def test_restriction_marks_every_system_and_lifting_it_tells_the_person_first(
    celery_worker, register, sandboxes: Sandboxes, mailbox: Mailbox
) -> None:
    case = finish_manual_tasks(submit_and_verify("restriction"))
    assert sandboxes.hubspot.state({"email": ADA.email})["restricted"] is True
    lists = sandboxes.mailchimp.state({"email": ADA.email})["lists"]
    assert all(item["status"] == "unsubscribed" for item in lists.values())
    assert sandboxes.discourse.state({"email": ADA.email})["suspended"] is True
    assert trial_row(sandboxes)["processing_restricted"]
    manual = {run.system.key for run in case.runs.all() if hasattr(run, "manual_task")}
    assert manual == {"business-cards", "email-archive", "accounting", "hr-files"}

    mailbox.clear()
    lift_on = timezone.localdate() + dt.timedelta(days=14)
    transitions.announce_restriction_lift(
        case.pk,
        lift_on=lift_on,
        reason="The accuracy of the data is confirmed.",
        actor="staff:approver",
    )
    message = mailbox.wait_for_text(ADA.email, "accuracy of the data is confirmed")
    assert "lift" in str(message["Subject"]).lower()
    assert lift_on.isoformat() in body_text(message)


def test_objection_to_direct_marketing_unsubscribes_everywhere_and_suppresses(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    case = finish_manual_tasks(
        submit_and_verify("objection", {"objection_scope": "direct_marketing"})
    )
    crm = sandboxes.hubspot.state({"email": ADA.email})
    assert set(crm["unsubscribe_legal_basis"]) == set(CRM_SUBSCRIPTIONS)
    lists = sandboxes.mailchimp.state({"email": ADA.email})["lists"]
    assert set(lists) == set(NEWSLETTER_LISTS)
    assert all(item["status"] == "unsubscribed" for item in lists.values())
    assert is_suppressed(ADA.email) and is_suppressed(ADA.email.upper())
    with pytest.raises(Suppressed):
        ensure_marketing_allowed(ADA.email)
    runs = {run.system.key: run for run in case.runs.all()}
    assert runs["discourse"].outcome == "not_used_for_this_purpose"
    assert hasattr(runs["business-cards"], "manual_task")


def test_objection_to_other_processing_is_weighed_by_staff(
    celery_worker, register, sandboxes: Sandboxes, mailbox: Mailbox
) -> None:
    details = {"objection_scope": "other", "objection_reasons": "I am a public figure at risk."}
    upheld = submit_and_verify("objection", details)
    assert upheld.status == CaseStatus.IN_REVIEW and not upheld.runs.exists()
    with pytest.raises(transitions.ReviewIncomplete):
        transitions.decide_objection(upheld.pk, upheld=True, grounds=" ", actor="staff:a")
    transitions.decide_objection(
        upheld.pk, upheld=True, grounds="Her safety outweighs our interest.", actor="staff:a"
    )
    upheld = finish_manual_tasks(upheld)
    assert {run.action for run in upheld.runs.all()} == {"restrict"}
    assert sandboxes.discourse.state({"email": ADA.email})["suspended"] is True

    mailbox.clear()
    refused = submit_and_verify("objection", details)
    transitions.decide_objection(
        refused.pk,
        upheld=False,
        grounds="We keep the forum posts to identify authors of illegal content.",
        actor="staff:a",
    )
    refused.refresh_from_db()
    assert refused.status == CaseStatus.REJECTED and not refused.runs.exists()
    text = body_text(mailbox.wait_for_text(ADA.email, "judicial remedy"))
    assert "identify authors of illegal content" in text
    assert "supervisory authority" in text and "judicial remedy" in text


def test_rectification_writes_exactly_the_fields_staff_approved(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    details = {
        "rectification_wrong": "My phone, surname and company are wrong.",
        "rectification_correct": "+44 20 7946 0999, Byron, Babbage & Co",
    }
    case = submit_and_verify("rectification", details)
    assert case.status == CaseStatus.IN_REVIEW
    with pytest.raises(transitions.ReviewIncomplete, match="Add the fields"):
        transitions.approve_case(case.pk, actor="staff:a")
    phone = RectificationChange.objects.create(
        case=case, field="phone", proposed_value="+44 20 7946 0999"
    )
    surname = RectificationChange.objects.create(
        case=case, field="last_name", proposed_value="byron"
    )
    company = RectificationChange.objects.create(
        case=case, field="company", proposed_value="Babbage & Co"
    )
    with pytest.raises(transitions.ReviewIncomplete, match="Decide on the change"):
        transitions.approve_case(case.pk, actor="staff:a")
    phone.decision = ChangeDecision.ACCEPTED
    phone.save()
    surname.decision, surname.final_value = ChangeDecision.EDITED, "Byron"
    surname.save()
    company.decision = ChangeDecision.REFUSED
    company.save()
    with pytest.raises(transitions.ReviewIncomplete, match="reason for refusing"):
        transitions.approve_case(case.pk, actor="staff:a")
    company.reason = "Our contract is with Analytical Engines Ltd."
    company.save()
    transitions.approve_case(case.pk, actor="staff:a")
    finish_manual_tasks(case)

    properties = sandboxes.hubspot.state({"email": ADA.email})["properties"]
    assert properties["phone"] == "+44 20 7946 0999"
    assert properties["lastname"] == "Byron"
    assert properties["company"] == ADA.company  # refused: untouched
    assert properties["firstname"] == ADA.first_name  # not asked: untouched
    row = trial_row(sandboxes)
    assert (row["telephone"], row["surname"], row["organization"]) == (
        "+44 20 7946 0999",
        "Byron",
        ADA.company,
    )
    for item in sandboxes.mailchimp.state({"email": ADA.email})["lists"].values():
        assert item["merge_fields"].get("LNAME") == "Byron"


def test_staff_can_ask_a_doubtful_requester_for_more_and_the_case_waits(
    celery_worker, register, sandboxes: Sandboxes, mailbox: Mailbox, client, settings
) -> None:
    settings.DSAR = {**settings.DSAR, "REVIEW_TYPES": ["access"]}
    case = submit_and_verify("access")
    assert case.status == CaseStatus.IN_REVIEW
    mailbox.clear()
    transitions.request_information(
        case.pk, what="Please tell us your customer number.", actor="staff:a"
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_INFORMATION and not case.runs.exists()
    text = body_text(mailbox.wait_for_text(ADA.email, "Please tell us your customer number."))
    link = first_link(text, "/status/")
    page = client.get(link)
    assert b"Please tell us your customer number." in page.content
    assert client.post(link, {"answer": ""}).status_code == 400
    client.post(link, {"answer": "C-1001"})
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW
    assert case.details["information_provided"] == "C-1001"


def _report_text(path: Path) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


SAFEGUARD_WORDS = {
    "en": ("Data Privacy Framework", "2023/1795", "Standard Contractual Clauses"),
    "de": ("Data Privacy Framework", "2023/1795", "Standardvertragsklauseln"),
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_access_for_ada_names_the_us_recipients_their_safeguard_and_every_retention(
    celery_worker, register, sandboxes: Sandboxes, language: str
) -> None:
    confirm_recipients()  # as the controller does in the admin, and the demo seed
    case = transitions.submit_case(
        case_type="access", email=ADA.email, name=ADA.name, language=language
    )
    case = transitions.verify_case(token=issue_verification(case))
    case = finish_manual_tasks(case, found_in={"email-archive", "accounting"})
    media = Path(settings.MEDIA_ROOT)
    deadline = time.monotonic() + 90
    while case.artifacts.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.3)  # the worker builds the files once the case is completed

    with zipfile.ZipFile(media / case.artifacts.get(kind=ArtifactKind.EXPORT_ZIP).path) as zf:
        info = json.loads(zf.read("art15-information.json"))
    assert info["language"] == language
    recipients = {
        recipient["name"]: recipient
        for activity in info["processing_activities"]
        for recipient in activity["recipients"]
    }
    hubspot = recipients["HubSpot, Inc."]
    mailchimp = recipients["The Rocket Science Group LLC (Mailchimp, an Intuit company)"]
    for recipient in (hubspot, mailchimp):
        assert recipient["country"] == "USA" and recipient["third_country"] is True
        for words in SAFEGUARD_WORDS[language]:
            assert words in recipient["safeguard"]
    assert {activity["key"] for activity in info["processing_activities"]} >= {
        "newsletter",
        "hubspot-crm",
        "developer-forum",
        "free-trial",
        "archived-emails",
        "customer-data",
    }
    for activity in info["processing_activities"]:
        assert activity["retention"].strip(), activity["key"]
        for point in ("purposes", "legal_basis", "categories_of_data", "source"):
            assert activity[point].strip(), (activity["key"], point)
        assert activity["third_country_transfers"].strip(), activity["key"]
    newsletter = next(a for a in info["processing_activities"] if a["key"] == "newsletter")
    assert "2023/1795" in newsletter["transfer_safeguards"]
    customers = next(a for a in info["processing_activities"] if a["key"] == "customer-data")
    assert {rule["years"] for rule in customers["retention_rules"]} == {10, 8, 6}
    text = json.dumps(info, ensure_ascii=False)
    for never in ("Not stated", "nicht angegeben", "Demo entry", "privacy policy names no"):
        assert never not in text

    report = _report_text(media / case.artifacts.get(kind=ArtifactKind.REPORT_PDF).path)
    for words in ("HubSpot, Inc.", "Mailchimp", "USA", *SAFEGUARD_WORDS[language]):
        assert words in report
    heading = {"en": "Retention", "de": "Speicherdauer"}[language]
    assert report.count(heading) >= len(info["processing_activities"])
    for activity in info["processing_activities"]:
        assert activity["activity"] in report
        assert " ".join(activity["retention"].split())[:40] in report, activity["key"]
    assert "Not stated" not in report and "nicht angegeben" not in report
    if language == "de":
        assert "Purposes" not in report and "Zwecke" in report


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "de"])
def test_vendor_text_the_controller_has_not_confirmed_is_withheld_and_the_contact_named(
    settings, tmp_path: Path, language: str
) -> None:
    settings.MEDIA_ROOT = tmp_path
    mailchimp = create_demo_systems(
        hubspot_url="http://127.0.0.1:1",
        mailchimp_url="http://127.0.0.1:2/3.0",
        discourse_url="http://127.0.0.1:3",
        manual=False,
    )[1]
    load_register()
    case = CaseFactory(status=CaseStatus.COMPLETED, language=language)
    SystemRunFactory(
        case=case, system=mailchimp, status=RunStatus.SUCCEEDED, **outcome_of("export", found=True)
    )

    info = access_information(case)

    [newsletter] = [a for a in info["processing_activities"] if a["key"] == "newsletter"]
    [recipient] = newsletter["recipients"]
    assert recipient["confirmed"] is False
    assert "country" not in recipient and "safeguard" not in recipient
    assert "datasecurity@otrs.com" in recipient["details"]
    text = json.dumps(info, ensure_ascii=False)
    assert "2023/1795" not in text and "Privacy Framework" not in text
    assert "Not stated" not in text and "nicht angegeben" not in text
    report = _report_text(render_report(case, tmp_path / "report.pdf"))
    assert "2023/1795" not in report
    assert "datasecurity@otrs.com" in report
    assert {"en": "We are confirming", "de": "Wir klären derzeit"}[language] in report


def _wait_for_files(case: Case, count: int) -> None:
    deadline = time.monotonic() + 90
    while case.artifacts.count() < count and time.monotonic() < deadline:
        time.sleep(0.3)  # the worker builds the files once the case is completed


def test_an_upheld_objection_to_crm_profiling_restricts_only_the_legitimate_interest_systems(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    details = {
        "objection_scope": "other",
        "objection_reasons": "Stop profiling me in your CRM for your advertising.",
    }
    case = submit_and_verify("objection", details)
    with pytest.raises(transitions.ReviewIncomplete, match="legitimate interests"):
        transitions.decide_objection(
            case.pk, upheld=True, grounds="-", actor="staff:a", activities=["newsletter"]
        )
    transitions.decide_objection(
        case.pk,
        upheld=True,
        grounds="Her reasons outweigh our interest in advertising to her.",
        actor="staff:a",
        activities=["direct-advertising"],
    )
    case = finish_manual_tasks(case)

    runs = {run.system.key: run for run in case.runs.all()}
    restricted = {key for key, run in runs.items() if run.outcome == "restricted"}
    assert restricted == {"hubspot", "mailchimp"}  # the systems of "Direct advertising"
    assert {key for key, run in runs.items() if run.outcome == "not_used_for_this_purpose"} == (
        set(runs) - restricted
    )
    assert not ManualTask.objects.filter(run__case=case).exists()
    assert sandboxes.hubspot.state({"email": ADA.email})["restricted"] is True
    assert sandboxes.discourse.state({"email": ADA.email})["suspended"] is False
    row = trial_row(sandboxes)
    assert row is not None and not row["processing_restricted"]

    _wait_for_files(case, 1)
    media = Path(settings.MEDIA_ROOT)
    text = _report_text(media / case.artifacts.get(kind=ArtifactKind.CONFIRMATION_PDF).path)
    unbroken = text.replace(" ", "")  # the PDF breaks lines inside "6(1)(f)"
    assert "The processing that stops" in text
    assert "Directadvertisingtocustomers(Legitimateinterests(Art.6(1)(f)))" in unbroken
    assert text.count("The processing of your data was restricted") == 2
    assert text.count("Not restricted: your objection does not concern the processing here") == (
        len(runs) - len(restricted)
    )
    # Why the forum was left alone: the person's objection did not concern its activity.
    assert "DeveloperCommunityforum(Legitimateinterests(Art.6(1)(f)))" in unbroken
    assert "Free-trialregistration(OTRS-ID)(Contract(Art.6(1)(b)))" in unbroken


def test_staff_can_ask_for_more_information_on_an_access_case_in_progress(
    celery_worker, register, sandboxes: Sandboxes, mailbox: Mailbox, client
) -> None:
    case = wait_for_status(submit_and_verify("access"), CaseStatus.AWAITING_MANUAL)
    due = case.due_date
    mailbox.clear()

    transitions.request_information(
        case.pk, what="Please tell us the customer number on your invoices.", actor="staff:a"
    )
    for task in ManualTask.objects.filter(run__case=case):
        transitions.complete_manual_task(
            task.pk,
            result=ManualResult(result="not_held", internal_note="Searched."),
            actor="staff:handler",
            user_id=None,
        )
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_INFORMATION  # the answer waits for the person
    text = body_text(mailbox.wait_for_text(ADA.email, "customer number on your invoices"))
    client.post(first_link(text, "/status/"), {"answer": "C-1001"})
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW and case.due_date == due  # the clock ran on
    assert not EmailDelivery.objects.filter(case=case, kind="completed").exists()

    transitions.approve_case(case.pk, actor="staff:a")
    released(case)
    mailbox.wait_for_text(ADA.email, "We have answered your request for access")


def test_a_nothing_held_access_answer_says_so_in_its_own_words_not_as_a_refusal(
    celery_worker, register, sandboxes: Sandboxes, mailbox: Mailbox, client
) -> None:
    case = transitions.submit_case(
        case_type="access", email=NORA.email, name=NORA.name, language="en"
    )
    case = finish_manual_tasks(transitions.verify_case(token=issue_verification(case)))

    answer = body_text(mailbox.wait_for_text(NORA.email, "we hold no personal data about you"))
    assert "none of them holds anything about you" in answer
    assert "decided not to" not in answer and "complain" not in answer.lower()
    assert not case.events.filter(action="rejected").exists()
    confirmed = body_text(mailbox.wait_for_text(NORA.email, "/status/"))
    status_page = client.get(first_link(confirmed, "/status/")).content.decode()
    assert "we hold no personal data about you" in status_page


def test_the_rectification_confirmation_names_the_recipients_told_of_it(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    details = {"rectification_wrong": "My job title.", "rectification_correct": "Countess"}
    case = submit_and_verify("rectification", details)
    RectificationChange.objects.create(
        case=case, field="job_title", proposed_value="Countess", decision=ChangeDecision.ACCEPTED
    )
    transitions.approve_case(case.pk, actor="staff:a")
    case = finish_manual_tasks(case, found_in={"accounting"})

    _wait_for_files(case, 1)
    media = Path(settings.MEDIA_ROOT)
    text = _report_text(media / case.artifacts.get(kind=ArtifactKind.CONFIRMATION_PDF).path)
    assert "Who else we told (Art. 19 GDPR)" in text
    assert "HubSpot, Inc., which receives your data from HubSpot CRM" in text
    tax_adviser = "Steuerberatung Beispiel GmbH (tax adviser), which receives your data from"
    assert f"{tax_adviser} Accounting and invoices" in text
    assert "Rocket Science" not in text  # Mailchimp holds no job title: nothing to tell
    assert "You may ask us which recipients your data were disclosed to" in text
