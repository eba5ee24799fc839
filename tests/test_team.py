"""The privacy team's day: roles on every action, deadline extensions, reminders, the purge of
old cases, and an admin that stays fast however long a case's history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar import housekeeping, transitions
from dsar.events import SYSTEM, append_event, verify_chain
from dsar.models import CaseStatus, Event, ManualTask, RunStatus, Verification
from dsar.tokens import issue_verification
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase"


def member(role: str) -> Client:
    user = get_user_model().objects.create_user(
        f"{role}-user", f"{role}@example.com", PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def test_the_three_roles_exist_with_their_powers() -> None:
    powers = {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=["handler", "approver", "auditor"])
    }
    assert "work_case" in powers["handler"] and "decide_case" not in powers["handler"]
    assert {"work_case", "decide_case"} <= powers["approver"]
    assert all(codename.startswith("view_") for codename in powers["auditor"])
    assert "view_case" in powers["auditor"]


ACTIONS = {
    # action key: (case factory arguments, form data, roles allowed)
    "assign": ({"status": CaseStatus.VERIFIED}, {"assignee": ""}, {"handler", "approver"}),
    "cancel": (
        {"status": CaseStatus.VERIFIED},
        {"reason": "Withdrawn by email of 3 March."},
        {"handler", "approver"},
    ),
    "request-information": (
        {"status": CaseStatus.IN_REVIEW},
        {"what": "Your customer number, please."},
        {"handler", "approver"},
    ),
    "approve": (
        {"status": CaseStatus.IN_REVIEW, "type": "access"},
        {},
        {"approver"},
    ),
    "reject": (
        {"status": CaseStatus.IN_REVIEW},
        {"reason": "manifestly_unfounded", "note": "The fifth identical request this month."},
        {"approver"},
    ),
    "extend": (
        {"status": CaseStatus.IN_PROGRESS},
        {"months": "2", "reason": "Many systems to search."},
        {"approver"},
    ),
}


@pytest.mark.parametrize("role", ["handler", "approver", "auditor"])
@pytest.mark.parametrize("key", sorted(ACTIONS))
def test_each_action_is_allowed_to_its_roles_and_refused_to_the_others(
    key: str, role: str, django_capture_on_commit_callbacks
) -> None:
    fields, data, allowed = ACTIONS[key]
    case = CaseFactory(**fields)
    client = member(role)
    url = reverse("admin:dsar_case_action", args=[case.pk, key])
    page = client.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url, data)
    events = list(case.events.values_list("actor", flat=True))
    if role in allowed:
        assert url in page
        assert response.status_code == 302, response.content.decode()[:500]
        assert f"staff:{role}-user" in events
    else:
        assert url not in page
        assert response.status_code == 403
        assert events == []


@pytest.mark.parametrize("role", ["handler", "approver", "auditor"])
def test_retrying_a_system_and_completing_manual_work_need_a_working_role(role: str) -> None:
    failed = SystemRunFactory(status=RunStatus.FAILED, last_error="token rejected")
    waiting = SystemRunFactory(status=RunStatus.WAITING_MANUAL)
    task = ManualTask.objects.create(run=waiting, team="Sales", instructions="Look")
    client = member(role)

    retry = client.post(reverse("admin:dsar_systemrun_retry", args=[failed.pk]))
    done = client.post(
        reverse("admin:dsar_manualtask_complete", args=[task.pk]),
        {"result": "not_held", "internal_note": "Nothing held."},
    )
    failed.refresh_from_db()
    task.refresh_from_db()
    if role == "auditor":
        assert retry.status_code == 403 and failed.status == RunStatus.FAILED
        assert done.status_code == 403 and task.status == "open"
    else:
        assert retry.status_code == 302 and failed.status == RunStatus.PENDING
        assert done.status_code == 302 and task.status == "done"


@pytest.mark.parametrize("role", ["handler", "approver", "auditor"])
def test_every_role_reads_cases_and_staff_downloads_are_logged(role: str, settings, tmp_path):
    from dsar.models import Artifact

    settings.MEDIA_ROOT = tmp_path
    case = CaseFactory(status=CaseStatus.COMPLETED)
    (tmp_path / "file.zip").write_bytes(b"zip")
    Artifact.objects.create(
        case=case,
        kind="export_zip",
        path="file.zip",
        filename="x.zip",
        content_type="application/zip",
        sha256="0" * 64,
        size=3,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    client = member(role)
    assert client.get(reverse("admin:dsar_case_change", args=[case.pk])).status_code == 200
    response = client.get(reverse("admin:dsar_case_artifact", args=[case.pk, "export_zip"]))
    assert response.status_code == 200
    assert case.events.filter(action="downloaded_by_staff").count() == 1
    # Nobody without a role reaches the files.
    nobody = get_user_model().objects.create_user("nobody", password=PASSWORD, is_staff=True)
    outsider = Client()
    outsider.force_login(nobody)
    blocked = outsider.get(reverse("admin:dsar_case_artifact", args=[case.pk, "export_zip"]))
    assert blocked.status_code == 403


def test_an_extension_moves_the_deadline_and_tells_the_person(
    django_capture_on_commit_callbacks,
) -> None:
    received = timezone.now() - dt.timedelta(days=10)
    case = CaseFactory(status=CaseStatus.IN_PROGRESS, received_at=received, language="de")
    with django_capture_on_commit_callbacks(execute=True):
        transitions.extend_deadline(case.pk, months=2, reason="Viele Systeme.", actor="staff:a")
    case.refresh_from_db()
    from dateutil.relativedelta import relativedelta

    from dsar.deadlines import due_date_for

    assert case.due_date == due_date_for(received) + relativedelta(months=2)
    assert case.extension_months == 2
    [message] = mail.outbox
    assert message.to == [case.email] and "Viele Systeme." in message.body
    event = case.events.get(action="deadline_extended")
    assert event.data["to"] == case.due_date.isoformat()


def test_a_deadline_is_extended_once_only_and_only_within_the_first_month() -> None:
    case = CaseFactory(status=CaseStatus.IN_PROGRESS)
    transitions.extend_deadline(case.pk, months=1, reason="Complex.", actor="staff:a")
    with pytest.raises(transitions.ReviewIncomplete, match="already extended"):
        transitions.extend_deadline(case.pk, months=1, reason="Again.", actor="staff:a")

    late = CaseFactory(status=CaseStatus.IN_PROGRESS, received_at=timezone.now())
    after_first_month = late.due_date + dt.timedelta(days=1)
    with pytest.raises(transitions.ReviewIncomplete, match="within the first month"):
        transitions.extend_deadline(
            late.pk, months=1, reason="Complex.", actor="staff:a", today=after_first_month
        )
    with pytest.raises(transitions.ReviewIncomplete, match="one or two months"):
        transitions.extend_deadline(late.pk, months=3, reason="Complex.", actor="staff:a")
    with pytest.raises(transitions.ReviewIncomplete, match="reason"):
        transitions.extend_deadline(late.pk, months=1, reason=" ", actor="staff:a")
    late.refresh_from_db()
    assert late.extension_months == 0


def test_reminders_go_out_seven_and_two_days_before_and_daily_when_overdue(
    django_capture_on_commit_callbacks,
) -> None:
    today = dt.date(2026, 11, 30)
    assignee = get_user_model().objects.create_user("hana", "hana@example.com", PASSWORD)
    in_seven = CaseFactory(
        status=CaseStatus.IN_PROGRESS, due_date=today + dt.timedelta(7), assignee=assignee
    )
    in_two = CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=today + dt.timedelta(2))
    overdue = CaseFactory(status=CaseStatus.AWAITING_MANUAL, due_date=today - dt.timedelta(3))
    CaseFactory(status=CaseStatus.IN_PROGRESS, due_date=today + dt.timedelta(5))
    CaseFactory(status=CaseStatus.COMPLETED, due_date=today - dt.timedelta(3))

    with django_capture_on_commit_callbacks(execute=True):
        assert housekeeping.send_deadline_reminders(today=today) == 3
    sent = {message.subject: message.to for message in mail.outbox}
    assert sent[f"{in_seven.reference} is due in 7 days"] == ["hana@example.com"]
    assert sent[f"{in_two.reference} is due in 2 days"] == ["privacy-team@example.com"]
    assert sent[f"OVERDUE by 3 days: {overdue.reference}"] == ["privacy-team@example.com"]

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert housekeeping.send_deadline_reminders(today=today) == 0  # once a day
        assert housekeeping.send_deadline_reminders(today=today + dt.timedelta(1)) == 1
    assert [m.subject for m in mail.outbox] == [f"OVERDUE by 4 days: {overdue.reference}"]


def test_the_purge_leaves_no_personal_detail_and_an_intact_event_chain(settings) -> None:
    now = timezone.now()
    old = CaseFactory(
        status=CaseStatus.COMPLETED,
        closed_at=now - dt.timedelta(days=4 * 365),
        email="gone.person@example.com",
        name="Gone Person",
        customer_number="C-9",
        details={"rectification_wrong": "my phone"},
    )
    issue_verification(old)
    run = SystemRunFactory(case=old, status=RunStatus.SUCCEEDED)
    ManualTask.objects.create(
        run=run, team="HR", instructions="x", internal_note="Gone Person's file"
    )
    with transaction.atomic():
        append_event(old, actor=SYSTEM, action="completed", data={"to": "completed"})
    recent = CaseFactory(status=CaseStatus.COMPLETED, closed_at=now - dt.timedelta(days=30))
    still_open = CaseFactory(status=CaseStatus.IN_PROGRESS)

    assert housekeeping.purge_closed_cases(now=now) == 1

    old.refresh_from_db()
    assert (old.email, old.name, old.customer_number, old.details) == ("", "", "", {})
    assert old.purged_at is not None
    assert (old.type, old.status, old.received_at, old.due_date) != (None, None, None, None)
    assert not Verification.objects.filter(case=old).exists()
    assert ManualTask.objects.get(run=run).internal_note == ""
    for event in Event.objects.filter(case=old):
        assert "Gone" not in str(event.data) and "gone.person" not in str(event.data)
    assert verify_chain(old.pk) is None
    assert old.events.last().action == "personal_details_purged"
    recent.refresh_from_db()
    still_open.refresh_from_db()
    assert recent.email and still_open.email


def test_the_retention_period_is_never_under_24_months() -> None:
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    def configured(days: str) -> int:
        env = {**os.environ, "DSAR_CASE_RETENTION_DAYS": days}
        script = "from config import settings; print(settings.DSAR['CASE_RETENTION_DAYS'])"
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(result.stdout.strip())

    assert configured("100") == 731  # too short: raised to the floor
    assert configured("2000") == 2000


def _busy_case(events: int, systems: int):
    case = CaseFactory(status=CaseStatus.IN_PROGRESS)
    with transaction.atomic():
        for n in range(events):
            append_event(case, actor=SYSTEM, action=f"step-{n}")
    for _ in range(systems):
        SystemRunFactory(case=case, system=DataSystemFactory())
    return case


def test_the_case_page_runs_a_fixed_number_of_queries(admin_client, django_assert_num_queries):
    small = _busy_case(events=2, systems=1)
    large = _busy_case(events=40, systems=12)
    CaseFactory(email=large.email, received_at=large.received_at - dt.timedelta(days=400))

    def queries(case) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert (
                admin_client.get(reverse("admin:dsar_case_change", args=[case.pk])).status_code
                == 200
            )
        return len(captured)

    assert queries(small) == queries(large)


def test_the_queue_runs_a_fixed_number_of_queries(admin_client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse("admin:dsar_case_changelist")).status_code == 200
        return len(captured)

    for _ in range(3):
        CaseFactory(assignee=get_user_model().objects.first())
    few = queries()
    for _ in range(40):
        CaseFactory(assignee=get_user_model().objects.first())
    assert queries() == few


def test_cases_are_assigned_in_bulk_from_the_queue(django_capture_on_commit_callbacks) -> None:
    client = member("handler")
    cases = [CaseFactory(status=CaseStatus.IN_PROGRESS) for _ in range(3)]
    closed = CaseFactory(status=CaseStatus.COMPLETED)
    response = client.post(
        reverse("admin:dsar_case_changelist"),
        {"action": "assign_to_me", "_selected_action": [c.pk for c in [*cases, closed]]},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="handler-user")
    assert {c.assignee_id for c in type(closed).objects.filter(pk__in=[c.pk for c in cases])} == {
        user.pk
    }
    closed.refresh_from_db()
    assert closed.assignee_id is None


def test_a_rejection_needs_a_reason_and_tells_the_person_how_to_complain(
    django_capture_on_commit_callbacks,
) -> None:
    from dsar.models import Controller

    Controller.objects.create(
        name="OTRS AG",
        address="Oberursel",
        contact_email="privacy@example.com",
        dpo_name="DPO",
        dpo_contact="dpo@example.com",
        supervisory_authority="Der Hessische Beauftragte für Datenschutz",
    )
    case = CaseFactory(status=CaseStatus.IN_REVIEW)
    with pytest.raises(transitions.ReviewIncomplete, match="needs a note"):
        transitions.reject_case(case.pk, reason="excessive", actor="staff:a")
    with pytest.raises(transitions.ReviewIncomplete, match="Unknown reason"):
        transitions.reject_case(case.pk, reason="bored", actor="staff:a")
    with django_capture_on_commit_callbacks(execute=True):
        transitions.reject_case(
            case.pk,
            reason="excessive",
            note="Your sixth identical request this month.",
            actor="staff:a",
        )
    case.refresh_from_db()
    assert case.status == CaseStatus.REJECTED
    [message] = mail.outbox
    assert "excessive or repetitive" in message.body
    assert "Your sixth identical request this month." in message.body
    assert "supervisory authority" in message.body and "judicial remedy" in message.body
    assert "Der Hessische Beauftragte für Datenschutz" in message.body


def test_staff_passwords_must_pass_the_validators() -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("password", "12345678901234", "short1!"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password(PASSWORD)


def test_the_admin_login_is_rate_limited(client, settings) -> None:
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "3/15m"}
    get_user_model().objects.create_user("clerk", password=PASSWORD, is_staff=True)
    url = reverse("admin:login")
    statuses = [
        client.post(url, {"username": "clerk", "password": f"guess-{n}"}).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    # The right password is refused too while the limit holds: guessing gains nothing.
    late = client.post(url, {"username": "clerk", "password": PASSWORD})
    assert late.status_code == 429
