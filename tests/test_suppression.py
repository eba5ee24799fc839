"""An objection to direct marketing holds (Art. 21(3)): the address stays on the suppression
list with what the marketing systems need to block it, the hourly check undoes a
re-subscription someone else made and flags one the person made themselves, and every new
request of the person shows staff the objection. End to end through Redis, a real worker and
the Mailchimp sandbox over HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from config import celery_app
from connectors.demo_people import BEN, EVENTS_LIST, FIRST_LIST
from connectors.mailchimp.connector import subscriber_hash
from connectors.mailchimp.sandbox import API_KEY
from connectors.sandbox_base import SandboxControl
from dsar import housekeeping, transitions
from dsar.api.auth import create_token
from dsar.attention import Reason, case_attention_reasons
from dsar.events import SWEEPER
from dsar.models import Case, CaseStatus, EmailDelivery, Event, SuppressionEntry
from dsar.suppression import entry_for, is_suppressed, suppress
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes
from tests.factories import CaseFactory
from tests.scenes import use_sandbox_secrets
from tests.test_rights import finish_manual_tasks

BEAT_TASK = "dsar.tasks.enforce_marketing_objections_task"


@pytest.fixture
def staff(client: Any) -> Any:
    user = get_user_model().objects.create_user(
        "approver", "approver@example.com", "a-long-test-password", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    client.user = user
    return client


def mailchimp_act(sandboxes: Sandboxes, name: str, **body: str) -> Any:
    with SandboxControl(sandboxes.mailchimp.base_url) as control:
        return control.act(name, **body)


@pytest.fixture
def register(demo_systems: dict[str, Any]) -> dict[str, Any]:
    from dsar.register import load_register

    load_register()
    return demo_systems


def objection_by_ben() -> Case:
    case = transitions.submit_case(
        case_type="objection",
        email=BEN.email,
        name=BEN.name,
        language="en",
        details={"objection_scope": "direct_marketing"},
    )
    return finish_manual_tasks(transitions.verify_case(token=issue_verification(case)))


def run_as_beat_would(case: Case, action: str, *, timeout: float = 90) -> Event:
    """Send the check's task by name, as beat does each interval, and wait for the worker to
    record ``action`` on the objection's case."""
    celery_app.send_task(BEAT_TASK)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = case.events.filter(action=action).order_by("-seq").first()
        if event is not None:
            return event
        time.sleep(0.25)
    raise AssertionError(f"no {action} event on {case.reference} within {timeout}s")


def membership(sandboxes: Sandboxes, list_id: str) -> dict[str, Any]:
    lists: dict[str, dict[str, Any]] = sandboxes.mailchimp.state({"email": BEN.email})["lists"]
    return lists[list_id]


def test_the_check_runs_hourly_in_beat_and_the_list_keeps_the_address_to_enforce_it(
    transactional_db: None,
) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE["enforce-marketing-objections"]
    assert schedule == {"task": BEAT_TASK, "schedule": 3600.0}
    entry = suppress(" Ben.Newsletter@Example.org ", reference="DSAR-2026-000001")
    # The address is the minimum the marketing systems need to block it; the hash finds it.
    assert entry.email == BEN.email
    assert entry.email_hash and entry.email_hash != BEN.email
    assert is_suppressed(BEN.email.upper())


def test_a_resubscription_by_an_import_is_undone_by_the_next_check_and_recorded(
    celery_worker, register, sandboxes: Sandboxes
) -> None:
    case = objection_by_ben()
    assert membership(sandboxes, FIRST_LIST)["status"] == "unsubscribed"
    # Someone imports last year's webinar list into the Events audience.
    imported = mailchimp_act(sandboxes, "import_member", email=BEN.email, list_id=EVENTS_LIST)
    assert imported["imported"] is True
    assert membership(sandboxes, EVENTS_LIST)["status"] == "subscribed"

    event = run_as_beat_would(case, "marketing_resubscription_undone")

    assert membership(sandboxes, EVENTS_LIST)["status"] == "unsubscribed"
    assert membership(sandboxes, FIRST_LIST)["status"] == "unsubscribed"
    assert event.actor == SWEEPER and event.data["system"] == "mailchimp"
    [undone] = event.data["subscriptions"]
    assert undone["name"] == "Events" and undone["by_person"] is False
    assert "source Import" in undone["how"]
    assert BEN.email not in str(event.data)


def test_a_resubscription_by_the_persons_own_double_opt_in_is_flagged_not_undone(
    celery_worker, register, sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch, staff
) -> None:
    case = objection_by_ben()
    # Ben signs up again on the website: Mailchimp sends a confirmation, and he clicks it.
    # Mailchimp stamps the opt-in to the second; one within the objection's own second cannot
    # be shown to come after it (and is undone), so Ben clicks in the next second at the earliest.
    time.sleep(1.1)
    member = f"{sandboxes.mailchimp.base_url}/lists/{FIRST_LIST}/members/"
    pending = httpx.patch(
        member + subscriber_hash(BEN.email), auth=("any", API_KEY), json={"status": "pending"}
    )
    assert pending.status_code == 200
    mailchimp_act(sandboxes, "confirm_opt_in", email=BEN.email, list_id=FIRST_LIST)

    event = run_as_beat_would(case, "marketing_consent_found")

    assert membership(sandboxes, FIRST_LIST)["status"] == "subscribed"
    assert event.data["subscriptions"][0]["by_person"] is True
    assert Reason.MARKETING_CONSENT in case_attention_reasons(case)
    assert EmailDelivery.objects.filter(case=case, kind="staff_alert").exists()
    page = staff.get(reverse("admin:dsar_case_change", args=[case.pk])).content.decode()
    assert "the person subscribed again themselves" in page
    assert reverse("admin:dsar_case_action", args=[case.pk, "decide-marketing-consent"]) in page

    # Checked again, nothing more happens: the opt-in waits for staff.
    use_sandbox_secrets(monkeypatch, sandboxes)
    assert housekeeping.enforce_marketing_objections() == {
        "checked": 1,
        "undone": 0,
        "flagged": 0,
        "errors": 0,
    }
    assert membership(sandboxes, FIRST_LIST)["status"] == "subscribed"

    # Staff could not confirm it with Ben: the next check ends it again.
    transitions.decide_marketing_consent(
        case.pk, confirmed=False, note="Ben says he did not sign up.", actor="staff:approver"
    )
    assert housekeeping.enforce_marketing_objections()["undone"] == 1
    assert membership(sandboxes, FIRST_LIST)["status"] == "unsubscribed"
    assert Reason.MARKETING_CONSENT not in case_attention_reasons(case)


def test_a_confirmed_new_consent_ends_the_objection_and_the_subscription_stays(
    transactional_db: None, staff
) -> None:
    objection = CaseFactory(type="objection", status=CaseStatus.COMPLETED)
    entry = suppress(objection.email, reference=objection.reference)
    SuppressionEntry.objects.filter(pk=entry.pk).update(consent_found_at=entry.created_at)
    url = reverse("admin:dsar_case_action", args=[objection.pk, "decide-marketing-consent"])

    staff.post(url, {"confirmed": "yes", "note": "Confirmed by email of 3 March."})

    entry.refresh_from_db()
    assert entry.lifted_at is not None and not is_suppressed(objection.email)
    assert entry_for(objection.email, active_only=False) == entry  # kept as the record
    assert objection.events.filter(action="marketing_consent_decided").exists()


def test_every_new_request_of_someone_who_objected_shows_the_objection_to_staff(
    transactional_db: None, staff, django_capture_on_commit_callbacks
) -> None:
    objection = CaseFactory(type="objection", status=CaseStatus.COMPLETED, email=BEN.email)
    suppress(BEN.email, reference=objection.reference)
    from_the_form = transitions.submit_case(
        case_type="access", email=BEN.email.upper(), name="Ben", language="en"
    )
    recorded = transitions.record_request(
        channel="letter",
        received_at=from_the_form.received_at,
        case_type="erasure",
        email=BEN.email,
        name="Ben",
        language="en",
        actor="staff:handler",
    )
    scopes = ["read_cases", "create_cases", "act_on_cases"]
    _token, key = create_token(name="portal", user=staff.user, scopes=scopes)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_post(key, {"type": "access", "email": BEN.email, "name": "Ben"})
    from_the_api = Case.objects.get(reference=response["reference"])

    for case in (from_the_form, recorded, from_the_api):
        event = case.events.get(action="marketing_objection_on_record")
        assert event.data["reference"] == objection.reference
        page = staff.get(reverse("admin:dsar_case_change", args=[case.pk]))
        html = page.content.decode()
        assert "Previously objected to direct marketing." in html
        assert reverse("admin:dsar_case_change", args=[objection.pk]) in html
    someone_else = transitions.submit_case(
        case_type="access", email="nora.nobody@example.com", name="Nora", language="en"
    )
    assert not someone_else.events.filter(action="marketing_objection_on_record").exists()


def api_post(key: str, body: dict[str, str]) -> dict[str, Any]:
    """Create a case through /api/v1/ with Django's test client, as an integration would."""
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(reverse("api-cases"), body, content_type="application/json")
    assert response.status_code == 201, response.content
    result: dict[str, Any] = response.json()
    return result
