"""End to end through Redis and a real Celery worker process, against the sandboxes over HTTP:
the parallel fan-out, manual work, failing systems and a worker killed mid-run."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from connectors.demo_people import ADA, BEN, NORA
from dsar import transitions
from dsar.models import Case, CaseStatus, ManualTask, RunStatus
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes

pytestmark = [pytest.mark.worker]

AUTOMATED = {"hubspot", "mailchimp", "discourse", "trial-signups"}


def submit_and_verify(person: Any, case_type: str = "access") -> Case:
    case = transitions.submit_case(
        case_type=case_type, email=person.email, name=person.name, language="en"
    )
    return transitions.verify_case(token=issue_verification(case))


def wait_for_status(case: Case, *statuses: str, timeout: float = 90) -> Case:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        case.refresh_from_db()
        if case.status in statuses:
            return case
        time.sleep(0.25)
    runs = list(case.runs.values("system__key", "status", "attempts", "last_error"))
    raise AssertionError(f"{case.reference} is {case.status}, not {statuses}: {runs}")


def released(case: Case, *, timeout: float = 90) -> Case:
    """Wait for the answer: an access answer that holds records which may carry other people's
    data waits for staff to review them (Art. 15(4)), and staff release it here unchanged."""
    case = wait_for_status(
        case, CaseStatus.THIRD_PARTY_REVIEW, CaseStatus.COMPLETED, timeout=timeout
    )
    if case.status == CaseStatus.THIRD_PARTY_REVIEW:
        transitions.release_answer(case.pk, actor="staff:reviewer")
    return wait_for_status(case, CaseStatus.COMPLETED, timeout=timeout)


def exported_records(case: Case, system_key: str) -> list[dict[str, Any]]:
    run = case.runs.get(system__key=system_key)
    path = Path(settings.MEDIA_ROOT) / run.result_file
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_access_for_a_person_known_everywhere_gathers_every_system_and_waits_for_staff(
    celery_worker, demo_systems, sandboxes: Sandboxes, client
) -> None:
    for sandbox in sandboxes.http:
        sandbox.configure(latency_s=0.3)
    case = submit_and_verify(ADA)
    case = wait_for_status(case, CaseStatus.AWAITING_MANUAL)

    runs = {run.system.key: run for run in case.runs.select_related("system")}
    for key in AUTOMATED:
        assert runs[key].status == RunStatus.SUCCEEDED, runs[key].last_error
        assert runs[key].found
        records = exported_records(case, key)
        assert records, key
        text = json.dumps(records).lower()
        assert ADA.email in text
        # Nothing about the other people in the same systems.
        assert "grace.hopper" not in text and "charles.babbage" not in text
    assert runs["discourse"].counts["posts"] == ADA.forum_posts
    # The slow systems ran side by side: their time spans overlap.
    remote = ("hubspot", "mailchimp", "discourse")
    latest_start = max(runs[key].started_at for key in remote)
    earliest_end = min(runs[key].finished_at for key in remote)
    assert latest_start < earliest_end

    # Staff do the manual work in the admin; the case then completes.
    staff = get_user_model().objects.create_user(
        "handler", password="a-long-test-password", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    tasks = ManualTask.objects.filter(run__case=case)
    assert {task.run.system.key for task in tasks} == {
        "accounting",
        "business-cards",
        "email-archive",
        "hr-files",
    }
    for task in tasks:
        page = client.get(reverse("admin:dsar_manualtask_change", args=[task.pk]), follow=True)
        assert html.escape(task.instructions) in page.content.decode()
        response = client.post(
            reverse("admin:dsar_manualtask_complete", args=[task.pk]),
            {"result": "not_held", "internal_note": "Searched; nothing held on this person."},
        )
        assert response.status_code == 302
    case = released(case, timeout=10)
    assert all(run.status == RunStatus.SUCCEEDED for run in case.runs.all())


def test_people_known_to_some_systems_or_none_complete_with_what_exists(
    celery_worker, demo_systems_automated, sandboxes: Sandboxes
) -> None:
    ben = wait_for_status(submit_and_verify(BEN), CaseStatus.COMPLETED)
    found = {run.system.key: run.found for run in ben.runs.select_related("system")}
    assert found == {
        "mailchimp": True,
        "hubspot": False,
        "discourse": False,
        "trial-signups": False,
    }

    nora = wait_for_status(submit_and_verify(NORA), CaseStatus.COMPLETED)
    assert not any(run.found for run in nora.runs.all())


def test_every_case_completes_while_the_systems_fail_a_third_of_their_calls(
    celery_worker, demo_systems_automated, sandboxes: Sandboxes
) -> None:
    for sandbox in sandboxes.http:
        sandbox.configure(fail_rate=0.3, fail_modes=["429", "500"])
    cases = [submit_and_verify(person) for person in (ADA, BEN, NORA)]
    for case in cases:
        released(case, timeout=120)
    failed_calls = sum(
        1 for sandbox in sandboxes.http for call in sandbox.calls() if call["status"] >= 429
    )
    assert failed_calls > 0  # the faults really happened
    retried = [run for case in cases for run in case.runs.all() if run.attempts > 1]
    assert all(run.status == RunStatus.SUCCEEDED for run in retried)


def test_a_failing_system_holds_the_case_open_with_its_error_until_staff_retry(
    celery_worker, demo_systems_automated, sandboxes: Sandboxes, client
) -> None:
    hubspot = demo_systems_automated["hubspot"]
    hubspot.config = {**hubspot.config, "token_env": "DSAR_SECRET_WRONG_HUBSPOT_TOKEN"}
    hubspot.save()
    case = submit_and_verify(ADA)
    deadline = time.monotonic() + 60
    run = case.runs.get(system=hubspot)
    while run.status != RunStatus.FAILED and time.monotonic() < deadline:
        time.sleep(0.25)
        run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "DSAR_SECRET_WRONG_HUBSPOT_TOKEN" in run.last_error
    case = wait_for_status(case, CaseStatus.IN_PROGRESS)
    time.sleep(1)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS  # held open, not completed

    staff = get_user_model().objects.create_user(
        "approver", password="a-long-test-password", is_staff=True, is_superuser=True
    )
    client.force_login(staff)
    page = client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "DSAR_SECRET_WRONG_HUBSPOT_TOKEN" in page
    assert reverse("admin:dsar_systemrun_retry", args=[run.pk]) in page

    hubspot.config = {**hubspot.config, "token_env": "DSAR_SECRET_HUBSPOT_TOKEN"}
    hubspot.save()
    client.post(reverse("admin:dsar_systemrun_retry", args=[run.pk]))
    released(case)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_a_worker_killed_mid_erasure_is_replaced_and_no_system_erases_twice(
    celery_worker, demo_systems_automated, sandboxes: Sandboxes
) -> None:
    for sandbox in sandboxes.http:
        sandbox.configure(latency_s=0.7)
    case = submit_and_verify(ADA, case_type="erasure")
    deadline = time.monotonic() + 30
    while not case.runs.filter(status=RunStatus.RUNNING).exists():
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.05)
    time.sleep(1.0)  # some calls have reached the systems, none has finished
    celery_worker.kill()
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS

    for sandbox in sandboxes.http:
        sandbox.configure(latency_s=0)
    celery_worker.start()
    case = wait_for_status(case, CaseStatus.COMPLETED, timeout=150)

    assert sandboxes.hubspot.state({"email": ADA.email})["exists"] is False
    assert sandboxes.discourse.state({"email": ADA.email})["exists"] is False
    assert sandboxes.mailchimp.state({"email": ADA.email})["exists"] is False
    # Each system saw each erasing call at most once for her (never a duplicate erasure).
    for sandbox, marker in (
        (sandboxes.hubspot, "gdpr-delete"),
        (sandboxes.discourse, "anonymize"),
        (sandboxes.mailchimp, "delete-permanent"),
    ):
        erasing = [c for c in sandbox.calls() if marker in c["path"] and 200 <= c["status"] < 300]
        paths = [c["path"] for c in erasing]
        assert len(paths) == len(set(paths)), f"{sandbox.system} erased twice: {paths}"
        assert erasing, f"{sandbox.system} never erased"
