"""Our own files end with their purpose (Art. 5(1)(e) GDPR): the raw exports, the manual tasks'
and the intake's attachments and the built answers of a case are deleted when it closes without
an answer, when its answer's download period ends, and at the purge, leaving no file and no
empty folder in the media folder. The cases run for real, in-process, against the sandboxes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connectors.demo_people import ADA, BEN
from dsar import housekeeping, jobs, runs, transitions
from dsar.manual import FoundFile, ManualResult
from dsar.models import (
    Case,
    CaseStatus,
    Job,
    JobKind,
    JobState,
    ManualAttachment,
    ManualRecord,
    ManualTask,
    RunStatus,
    SystemRun,
)
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes
from tests.factories import CaseFactory, SystemRunFactory
from tests.scenes import use_sandbox_secrets
from tests.test_outcomes import PNG

STAFF = "staff:clerk"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    Path(settings.MEDIA_ROOT).mkdir()
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def grace(settings: Any) -> Any:
    """Set the grace period of a closed case's files, in hours."""

    def set_grace(hours: float) -> None:
        settings.DSAR = {**settings.DSAR, "CLOSED_FILES_GRACE_HOURS": hours}

    set_grace(0)
    return set_grace


@pytest.fixture
def systems(
    demo_systems: dict[str, Any], sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    use_sandbox_secrets(monkeypatch, sandboxes)
    return demo_systems


def files_and_folders(media: Path) -> tuple[list[str], list[str]]:
    """Every file under the media folder, and every empty folder, as paths relative to it."""
    files, empty = [], []
    for folder, subfolders, names in os.walk(media):
        here = Path(folder)
        files += [str((here / name).relative_to(media)) for name in names]
        if here != media and not subfolders and not names:
            empty.append(str(here.relative_to(media)))
    return files, empty


def of_case(case: Case, media: Path) -> list[str]:
    files, _empty = files_and_folders(media)
    return [name for name in files if case.public_id.hex in name]


def access_for(person: Any) -> Case:
    case = transitions.submit_case(
        case_type="access", email=person.email, name=person.name, language="en"
    )
    case = transitions.verify_case(token=issue_verification(case))
    case.refresh_from_db()
    return case


def business_card_found(case: Case) -> None:
    """Staff find the person's business card and attach its photograph."""
    task = ManualTask.objects.get(run__case=case, run__system__key="business-cards")
    transitions.complete_manual_task(
        task.pk,
        result=ManualResult(
            result="exported",
            categories=["business card"],
            records=[("business card", {"name": ADA.name, "company": ADA.company})],
            files=[FoundFile(category="business card", name="ada-lovelace-card.png", content=PNG)],
        ),
        actor=STAFF,
        user_id=None,
    )


def recorded_by_letter(person: Any, *, identity_checked: bool) -> Case:
    """Staff record a request that came by letter, with its scan, through the intake form."""
    staff = get_user_model().objects.create_user(
        "clerk", "clerk@example.com", "a-long-test-password", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(staff)
    scan = SimpleUploadedFile("letter-of-ada.pdf", b"%PDF-1.4 letter", "application/pdf")
    response = client.post(
        reverse("admin:dsar_case_record"),
        {
            "channel": "letter",
            "received_on": timezone.localdate().isoformat(),
            "request_type": "access",
            "objection_scope": "",
            "request_text": "Please tell me what you hold about me.",
            "attachment": scan,
            "name": person.name,
            "email": person.email,
            "customer_number": "",
            "forum_username": "",
            "language": "en",
            "identity": "checked" if identity_checked else "link",
            "identity_proof": "ID card shown at the front desk" if identity_checked else "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:1000]
    return Case.objects.get(email=person.email)


def test_a_rejected_case_keeps_no_file_after_its_systems_ran_and_others_keep_theirs(
    systems: dict[str, Any], media: Path, grace: Any
) -> None:
    rejected = access_for(ADA)
    business_card_found(rejected)
    other = access_for(BEN)
    assert rejected.status == CaseStatus.AWAITING_MANUAL
    files = of_case(rejected, media)
    assert {Path(name).name for name in files} >= {
        "hubspot-export.jsonl",
        "discourse-export.jsonl",
        "business-cards-export.jsonl",
        "001-ada-lovelace-card.png",
    }
    others = of_case(other, media)
    assert others

    transitions.reject_case(
        rejected.pk, reason="other", note="Sent by someone else in Ada's name.", actor=STAFF
    )

    assert of_case(rejected, media) == []
    files, empty = files_and_folders(media)
    assert sorted(files) == sorted(others) and empty == []
    assert not SystemRun.objects.filter(case=rejected).exclude(result_file="").exists()
    assert not ManualAttachment.objects.filter(task__run__case=rejected).exists()
    assert not ManualRecord.objects.filter(task__run__case=rejected).exists()
    event = rejected.events.get(action="files_deleted")
    assert event.data == {
        "reason": "case_closed",
        "raw_exports": 5,
        "manual_attachments": 1,
        "manual_records": 1,
    }
    assert "card" not in str(event.data) and ADA.email not in str(event.data)
    assert Job.objects.get(case=rejected, kind=JobKind.DELETE_FILES).state == JobState.DONE


def test_a_cancelled_request_recorded_by_letter_leaves_nothing_of_its_own(
    systems: dict[str, Any], media: Path, grace: Any
) -> None:
    case = recorded_by_letter(ADA, identity_checked=True)
    case.refresh_from_db()
    assert case.status == CaseStatus.AWAITING_MANUAL
    business_card_found(case)
    intake = Path(case.details["attachment"])
    assert (media / intake).is_file() and of_case(case, media)

    transitions.cancel_case(case.pk, reason="Withdrawn by telephone.", actor=STAFF)

    assert files_and_folders(media) == ([], [])
    case.refresh_from_db()
    assert "attachment" not in case.details
    event = case.events.get(action="files_deleted")
    assert event.data["intake_attachments"] == 1 and event.data["raw_exports"] == 5
    assert "letter" not in str(event.data)
    page = Client()
    page.force_login(get_user_model().objects.get(username="clerk"))
    html = page.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "Deleted on" in html
    assert "Deleted the case&#x27;s files (the case closed without an answer)" in html


@pytest.mark.django_db
def test_the_files_wait_for_the_grace_period_and_for_a_run_still_at_work(
    media: Path, grace: Any
) -> None:
    grace(2)
    case = CaseFactory(status=CaseStatus.IN_PROGRESS)
    run = SystemRunFactory(
        case=case,
        status=RunStatus.RUNNING,
        lease_until=timezone.now() + dt.timedelta(hours=3),
        result_file=f"runs/{case.public_id.hex}/crm-export.jsonl",
    )
    raw = media / run.result_file
    raw.parent.mkdir(parents=True)
    raw.write_text('{"category": "contact", "record": {}}\n')

    transitions.cancel_case(case.pk, actor=STAFF)
    job = Job.objects.get(case=case, kind=JobKind.DELETE_FILES)
    case.refresh_from_db()
    assert case.closed_at is not None and job.not_before is not None
    assert job.not_before - case.closed_at == dt.timedelta(hours=2)
    assert job.queued_at is None  # not due yet: the sweeper publishes it when it is

    later = job.not_before + dt.timedelta(seconds=1)
    assert jobs.run_job(job.pk, now=later) == JobState.DUE  # the run's claim is still live
    job.refresh_from_db()
    assert job.attempts == 0 and job.not_before == run.lease_until
    assert raw.exists()

    # The run's worker died; its claim lapsed, and the run is not taken up again.
    SystemRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - dt.timedelta(days=1))
    assert runs.claim_run(run.pk).reason == "done"
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    job.refresh_from_db()
    assert jobs.run_job(job.pk, now=job.not_before) == JobState.DONE
    assert files_and_folders(media) == ([], [])


def test_expired_answers_take_the_raw_exports_and_every_attachment_with_them(
    systems: dict[str, Any], media: Path
) -> None:
    case = recorded_by_letter(ADA, identity_checked=True)
    business_card_found(case)
    for task in ManualTask.objects.filter(run__case=case, status="open"):
        transitions.complete_manual_task(
            task.pk, result=ManualResult(result="not_held"), actor=STAFF, user_id=None
        )
    case.refresh_from_db()
    assert case.status == CaseStatus.THIRD_PARTY_REVIEW  # her private messages name others
    transitions.release_answer(case.pk, actor=STAFF)
    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED
    assert {a.kind for a in case.artifacts.all()} == {"export_zip", "report_pdf"}
    files = of_case(case, media)
    assert any(name.startswith("artifacts/") for name in files)

    expiry = max(a.expires_at for a in case.artifacts.all())
    assert housekeeping.delete_expired_artifacts(now=expiry - dt.timedelta(seconds=1)) == 0
    assert housekeeping.delete_expired_artifacts(now=expiry) == 2

    assert files_and_folders(media) == ([], [])
    event = case.events.get(action="files_deleted")
    assert event.data["reason"] == "download_expired"
    assert event.data["artifacts"] == 2 and event.data["intake_attachments"] == 1
    assert event.data["manual_attachments"] == 1 and event.data["raw_exports"] == 5


def test_the_purge_deletes_the_intake_scan_and_every_file_left(
    systems: dict[str, Any], media: Path, grace: Any, settings: Any
) -> None:
    grace(24)
    case = recorded_by_letter(ADA, identity_checked=False)
    assert (media / case.details["attachment"]).is_file()
    transitions.expire_case(case.pk)
    stray = media / "artifacts" / case.public_id.hex / "left-over.pdf"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"%PDF-1.4")
    case.refresh_from_db()
    assert case.closed_at is not None
    purge_day = case.closed_at + dt.timedelta(days=settings.DSAR["CASE_RETENTION_DAYS"] + 1)

    assert housekeeping.purge_closed_cases(now=purge_day) == 1

    assert files_and_folders(media) == ([], [])
    events = list(case.events.values_list("action", "data"))
    assert events[-2] == (
        "files_deleted",
        {"reason": "purge", "intake_attachments": 1, "artifacts": 1},
    )
    assert events[-1][0] == "personal_details_purged"
    # The closing's own deletion, due later, finds nothing more and says nothing.
    job = Job.objects.get(case=case, kind=JobKind.DELETE_FILES)
    assert job.not_before is not None
    assert jobs.run_job(job.pk, now=job.not_before) == JobState.DONE
    assert case.events.filter(action="files_deleted").count() == 1


def test_no_manual_task_of_a_closed_case_can_store_anything(
    systems: dict[str, Any], media: Path, grace: Any
) -> None:
    case = access_for(ADA)
    transitions.cancel_case(case.pk, actor=STAFF)
    with pytest.raises(transitions.TransitionNotAllowed):
        business_card_found(case)
    assert of_case(case, media) == []
