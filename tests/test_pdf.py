"""The PDF deliverables as the person and staff read them: text extracted with pypdf."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import formats, timezone, translation
from pypdf import PdfReader

from dsar.deliverables.pdf import (
    certificate_checksum,
    render_certificate,
    render_confirmation,
    render_report,
)
from dsar.models import (
    Case,
    CaseStatus,
    CaseType,
    ChangeDecision,
    Controller,
    DataSystem,
    LegalBasis,
    ProcessingActivity,
    RectificationChange,
    RunStatus,
    SystemRun,
)
from dsar.register import load_register
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory, outcome_of

pytestmark = pytest.mark.django_db

ART15_HEADINGS = [
    "Purposes",
    "Categories of personal data",
    "Recipients",
    "Retention",
    "Source",
    "Transfers to third countries",
    "Safeguards",
    "Automated decision-making",
    "Legal basis",
]


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def controller() -> Controller:
    return Controller.objects.create(
        name="Example Software GmbH",
        address="Musterstraße 1\n12345 Musterstadt",
        contact_email="privacy@example-software.test",
        dpo_name="Dana Officer",
        dpo_contact="dpo@example-software.test",
        supervisory_authority="Landesbeauftragte für Datenschutz Musterland",
    )


def text_of(path: Path) -> str:
    """The PDF's text with every run of white space (line breaks in table cells) as one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


def completed_case(**kwargs: Any) -> Case:
    now = timezone.now()
    return CaseFactory(
        status=CaseStatus.COMPLETED,
        email="pat.example@example.com",
        name="Pat Example",
        verified_at=now,
        closed_at=now,
        **kwargs,
    )


def export_run(
    media: Path, case: Case, system: DataSystem, records: dict[str, list[dict[str, Any]]]
) -> SystemRun:
    relative = Path("runs") / case.public_id.hex / f"{system.key}-export.jsonl"
    (media / relative).parent.mkdir(parents=True, exist_ok=True)
    with (media / relative).open("w", encoding="utf-8") as stream:
        for category, items in records.items():
            for record in items:
                stream.write(json.dumps({"category": category, "record": record}) + "\n")
    counts = {category: len(items) for category, items in records.items()}
    return SystemRunFactory(
        case=case,
        system=system,
        status=RunStatus.SUCCEEDED,
        **outcome_of("export", found=bool(records), details={"counts": counts}),
        result_file=str(relative),
    )


def erase_run(case: Case, name: str, summary: dict[str, Any]) -> SystemRun:
    found = summary.pop("found")
    kind = "retained" if summary.get("retained") else ""
    return SystemRunFactory(
        case=case,
        system=DataSystemFactory(name=name),
        action="erase",
        status=RunStatus.SUCCEEDED,
        **outcome_of("erase", found=found, kind=kind, **summary),
        finished_at=timezone.now(),
    )


def access_case_with_crm(media: Path, **kwargs: Any) -> Case:
    case = completed_case(**kwargs)
    crm = DataSystemFactory(name="Customer CRM")
    activity = ProcessingActivity.objects.create(
        key="customers",
        name="Customer relationship",
        purposes="Serving our customers.",
        legal_basis=LegalBasis.CONTRACT,
        data_categories="Contact details",
        recipient_categories="HubSpot Inc., USA",
        third_country_transfers="USA",
        transfer_safeguards="Standard contractual clauses",
        retention="10 years",
        source="You",
    )
    activity.systems.add(crm)
    export_run(
        media,
        case,
        crm,
        {"contact": [{"id": "17", "properties": {"company": "Example Ltd", "city": "Bonn"}}]},
    )
    export_run(media, case, DataSystemFactory(name="Newsletter"), {})
    return case


def test_report_names_every_system_and_gives_the_art15_information(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    case = access_case_with_crm(media)

    text = text_of(render_report(case, tmp_path / "report.pdf"))

    assert case.reference in text
    assert "Dear Pat Example" in text
    for expected in ["Customer CRM", "Newsletter", "Example Ltd", "properties.company"]:
        assert expected in text
    for heading in [*ART15_HEADINGS, "Your rights", "How to complain"]:
        assert heading in text
    assert "Standard contractual clauses" in text
    assert "Landesbeauftragte für Datenschutz Musterland" in text
    assert "Dana Officer" in text


def test_report_shows_a_bounded_sample_and_points_to_the_export_file(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    case = completed_case()
    posts = [{"id": n, "raw": f"Post {n:03d} says hello", "cooked": "x" * 2000} for n in range(500)]
    export_run(media, case, DataSystemFactory(name="Forum"), {"posts": posts})

    path = render_report(case, tmp_path / "report.pdf")

    text = text_of(path)
    assert "480 more records are in the export file" in text
    assert "Post 019 says hello" in text
    assert "Post 020 says hello" not in text
    assert "x" * 301 not in text.replace(" ", "")
    assert len(PdfReader(path).pages) < 30


def test_report_in_german(media: Path, controller: Controller, tmp_path: Path) -> None:
    case = access_case_with_crm(media, language="de")

    text = text_of(render_report(case, tmp_path / "report.pdf"))

    for heading in ["Zwecke", "Empfänger", "Rechtsgrundlage", "Ihre Rechte", "Eingegangen"]:
        assert heading in text
    assert "Purposes" not in text


def erasure_case() -> Case:
    case = completed_case(type=CaseType.ERASURE)
    erase_run(case, "Newsletter", {"found": True, "summary": "Deleted", "changed": ["member"]})
    erase_run(case, "Forum", {"found": False, "summary": "nothing found", "changed": []})
    erase_run(
        case,
        "Accounting",
        {
            "found": True,
            "summary": "completed by staff",
            "retained": [
                {
                    "records": "2 invoices",
                    "record_year": 2025,
                    "rule": "accounting-vouchers",
                    "obligation": "§147(3) AO, §257(4) HGB",
                    "until": "2033-12-31",
                }
            ],
        },
    )
    return case


def test_certificate_says_what_each_system_did_and_never_names_the_person(
    controller: Controller, tmp_path: Path
) -> None:
    case = erasure_case()

    path = render_certificate(case, tmp_path / "certificate.pdf")

    text = text_of(path)
    assert case.reference in text
    assert "2 invoices: §147(3) AO, §257(4) HGB" in text
    with translation.override("en"):
        assert formats.date_format(dt.date(2033, 12, 31), "DATE_FORMAT") in text
    assert "Your data were erased." in text
    assert "We hold no data about you here." in text
    assert "Your data are kept, restricted, because the law obliges us" in text
    # Something was kept, so the certificate says how to complain.
    assert "How to complain" in text
    assert f"Certificate checksum: {certificate_checksum(case)}" in text
    metadata = PdfReader(path).metadata or {}
    assert metadata.get("/Title") == case.reference
    for secret in ["pat.example@example.com", "Pat Example"]:
        assert secret not in text
        assert not any(secret in str(value) for value in metadata.values())


def test_certificate_checksum_changes_only_with_what_it_certifies() -> None:
    case = erasure_case()
    checksum = certificate_checksum(case)
    assert len(checksum) == 64
    assert certificate_checksum(case) == checksum

    case.name = "Someone Else"
    case.save()
    assert certificate_checksum(case) == checksum

    run = case.runs.get(system__name="Forum")
    for field, value in outcome_of(
        "erase", found=True, summary="Deleted the forum user", changed=[]
    ).items():
        setattr(run, field, value)
    run.save()
    assert certificate_checksum(case) != checksum


def test_confirmation_of_a_correction_gives_reasons_for_refusals_but_no_values(
    controller: Controller, tmp_path: Path
) -> None:
    case = completed_case(type=CaseType.RECTIFICATION)
    RectificationChange.objects.create(
        case=case, field="company", proposed_value="Acme Rockets", decision=ChangeDecision.ACCEPTED
    )
    RectificationChange.objects.create(
        case=case,
        field="phone",
        proposed_value="+49 30 1234567",
        decision=ChangeDecision.REFUSED,
        reason="The number on record is the one on your signed contract.",
    )
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="Customer CRM"),
        action="rectify",
        status=RunStatus.SUCCEEDED,
        **outcome_of(
            "rectify",
            found=True,
            summary="Updated the contact",
            changed=["company updated"],
            corrections=[{"field": "company", "old": "Acme", "new": "Acme Rockets"}],
        ),
    )

    text = text_of(render_confirmation(case, tmp_path / "confirmation.pdf"))

    assert "Telephone number" in text
    assert "Refused" in text
    assert "The number on record is the one on your signed contract." in text
    assert "Organisation" in text
    assert "Accepted as proposed" in text
    assert "Customer CRM" in text
    assert "Your data were corrected: Organisation." in text
    assert "Acme Rockets" not in text
    assert "1234567" not in text


# --- Each document in the case's language, claiming only what is recorded -------------------


def test_german_report_has_no_english_sentences(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    case = access_case_with_crm(media, language="de")

    # The worker renders with English active; the case's language must win everywhere.
    with translation.override("en"):
        text = text_of(render_report(case, tmp_path / "report.pdf"))

    assert "Wir haben 1 Datensatz über Sie gefunden; Ihr Export enthält ihn." in text
    assert "Hier speichern wir keine Daten über Sie." in text
    for english in ("We found", "We hold no", "your export contains", "Dear ", "Kind regards"):
        assert english not in text


def test_german_certificate_has_no_english_sentences(
    controller: Controller, tmp_path: Path
) -> None:
    load_register()
    case = completed_case(type=CaseType.ERASURE, language="de")
    erase_run(case, "Newsletter", {"found": True, "summary": "Deleted", "changed": ["member"]})
    erase_run(case, "Forum", {"found": False, "summary": "nothing found", "changed": []})
    erase_run(
        case,
        "Accounting",
        {
            "found": True,
            "retained": [
                {
                    "records": "2 Rechnungen",
                    "record_year": 2025,
                    "rule": "accounting-vouchers",
                    "obligation": "Section 147(1) no. 4 and (3) AO",
                    "until": "2033-12-31",
                }
            ],
        },
    )

    with translation.override("en"):
        text = text_of(render_certificate(case, tmp_path / "certificate.pdf"))

    assert "Ihre Daten wurden gelöscht." in text
    assert "Hier speichern wir keine Daten über Sie." in text
    # The retention duty is cited as German law is cited, from the register.
    assert "2 Rechnungen: § 147 Abs. 1 Nr. 4, Abs. 3 AO" in text
    for english in ("Section 147", "Your data", "We hold no", "at the latest", "Certificate"):
        assert english not in text


def test_the_certificate_checksum_does_not_depend_on_the_language_it_is_read_in(
    controller: Controller,
) -> None:
    load_register()
    case = completed_case(type=CaseType.ERASURE, language="de")
    erase_run(
        case,
        "Accounting",
        {
            "found": True,
            "retained": [
                {"records": "2 Rechnungen", "record_year": 2025, "rule": "accounting-vouchers"}
                | {"obligation": "Section 147(1) no. 4 and (3) AO", "until": "2033-12-31"}
            ],
        },
    )
    with translation.override("de"):
        german = certificate_checksum(case)
    with translation.override("en"):
        assert certificate_checksum(case) == german


def test_german_confirmation_names_details_and_decisions_in_german(
    controller: Controller, tmp_path: Path
) -> None:
    case = completed_case(type=CaseType.RECTIFICATION, language="de")
    RectificationChange.objects.create(
        case=case,
        field="phone",
        proposed_value="+49 30 1234567",
        decision=ChangeDecision.REFUSED,
        reason="Die Nummer steht so in Ihrem Vertrag.",
    )

    with translation.override("en"):
        text = text_of(render_confirmation(case, tmp_path / "confirmation.pdf"))

    assert "Telefonnummer" in text and "Abgelehnt" in text
    assert "Telephone number" not in text and "Refused" not in text


def test_english_letters_start_with_a_capital_after_the_greeting_and_german_ones_do_not(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    english = text_of(render_report(access_case_with_crm(media), tmp_path / "en.pdf"))
    german = text_of(render_report(completed_case(language="de"), tmp_path / "de.pdf"))
    assert re.search(r"Dear Pat Example, On \d", english)
    # DIN 5008: after "Guten Tag …," the sentence goes on in lower case.
    assert re.search(r"Guten Tag Pat Example, am \d", german)
    restriction = completed_case(type=CaseType.RESTRICTION)
    text = text_of(render_confirmation(restriction, tmp_path / "confirmation.pdf"))
    assert "Dear Pat Example, You asked us to restrict" in text


def test_the_letterhead_names_the_controller_once_above_its_address(tmp_path: Path) -> None:
    Controller.objects.create(
        name="OTRS AG",
        address="OTRS AG\nZimmersmühlenweg 11\n61440 Oberursel",
        contact_email="datasecurity@otrs.com",
    )
    case = completed_case(type=CaseType.RESTRICTION)

    lines = [
        line.strip()
        for line in PdfReader(render_confirmation(case, tmp_path / "c.pdf"))
        .pages[0]
        .extract_text()
        .splitlines()
    ]

    start = lines.index("Zimmersmühlenweg 11")
    assert lines[start - 1] == "OTRS AG"  # the letterhead's name, then the address
    assert lines[start - 2] != "OTRS AG"  # not a second time from the address


def silent_activity(system: DataSystem, **fields: Any) -> ProcessingActivity:
    """A register entry that records only what the model requires."""
    activity = ProcessingActivity.objects.create(
        key="silent",
        name="Customer support",
        purposes="Answering your questions.",
        legal_basis=LegalBasis.CONTRACT,
        data_categories="Contact details",
        retention="Three years",
        automated_decision_making="",
        **fields,
    )
    activity.systems.add(system)
    return activity


def test_art15_section_says_not_recorded_where_register_is_silent(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    case = completed_case()
    support = DataSystemFactory(name="Support desk")
    silent_activity(support)
    export_run(media, case, support, {"tickets": [{"id": 1, "subject": "Login"}]})

    text = text_of(render_report(case, tmp_path / "report.pdf"))
    art15 = text.split("How we use your data", 1)[1].split("Your rights", 1)[0]

    # Recipients, transfers, source and automated decisions: nothing recorded, so nothing said
    # but that, and whom to ask.
    silent = "Our register of processing activities records nothing on this"
    assert art15.count(silent) == 4
    for heading in ("Recipients", "Transfers to third countries", "Source"):
        assert f"{heading} {silent}" in art15
    assert f"Automated decision-making {silent}" in art15
    for guess in ("You gave us the data yourself", "No one outside our organisation"):
        assert guess not in art15
    assert "Safeguards" not in art15


def test_a_transfer_without_a_recorded_safeguard_is_not_said_to_need_none(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    case = completed_case()
    forum = DataSystemFactory(name="Forum")
    silent_activity(
        forum,
        third_country_transfers="Yes: the forum is hosted partly outside the EU; ask us where.",
        source="You",
    )
    export_run(media, case, forum, {"posts": [{"id": 1}]})

    text = text_of(render_report(case, tmp_path / "report.pdf"))

    assert "the forum is hosted partly outside the EU" in text
    assert "needs a safeguard" not in text
    assert "Safeguards" not in text.split("How we use your data", 1)[1]


def test_a_portability_report_counts_only_the_records_its_export_file_holds(
    media: Path, controller: Controller, tmp_path: Path
) -> None:
    case = completed_case(type=CaseType.PORTABILITY)
    crm = DataSystemFactory(name="Customer CRM", portable_categories=["contact"])
    activity = ProcessingActivity.objects.create(
        key="customers",
        name="Customer relationship",
        purposes="Serving our customers.",
        legal_basis=LegalBasis.CONTRACT,
        data_categories="Contact details",
        retention="10 years",
    )
    activity.systems.add(crm)
    export_run(
        media,
        case,
        crm,
        {"contact": [{"id": "17"}], "notes": [{"body": "Called"}, {"body": "Met"}]},
    )

    text = text_of(render_report(case, tmp_path / "report.pdf"))

    assert "contains the 1 record you gave us under your consent or a contract" in text
    assert "We found 3 records about you; your export contains the 1 you gave us" in text
    assert "all 3 records" not in text
