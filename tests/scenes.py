"""A privacy team's working day, made through the real transitions against the sandboxes: the
queue the staff-side browser tests look at.

Celery runs in-process (the tests without a worker are eager), so each case reaches its state
before the next is made; one case meets a HubSpot with a wrong token and fails there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from connectors.demo_people import ADA, BEN, NORA
from dsar import transitions
from dsar.events import staff_actor
from dsar.manual import ManualResult
from dsar.models import Case, ManualTask, OutcomeKind, RectificationChange
from dsar.register import load_register
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes

PASSWORD = "a-long-and-unusual-passphrase"
ME = staff_actor("privacy")


@dataclass
class Scene:
    """The cases a test looks at by what they show."""

    me: Any
    failed: Case
    manual: Case
    review: Case
    answered: Case
    cases: list[Case]


def use_sandbox_secrets(monkeypatch: pytest.MonkeyPatch, sandboxes: Sandboxes) -> None:
    """The connectors read their secrets from the environment, as in production."""
    for name, value in sandboxes.secrets.items():
        monkeypatch.setenv(name, value)


def _submit(
    *,
    case_type: str,
    email: str,
    name: str,
    days_ago: int = 0,
    language: str = "en",
    details: dict[str, str] | None = None,
    verify: bool = True,
) -> Case:
    received = timezone.now() - dt.timedelta(days=days_ago, hours=2)
    case = transitions.submit_case(
        case_type=case_type,
        email=email,
        name=name,
        language=language,
        details=details,
        now=received,
    )
    if not verify:
        return case
    token = issue_verification(case, now=received)
    return transitions.verify_case(token=token, now=received + dt.timedelta(hours=1))


def _assign(case: Case, user: Any) -> None:
    transitions.assign_case(case.pk, assignee_id=user.pk, actor=ME)


def busy_queue(systems: dict[str, Any]) -> Scene:
    """Fourteen cases in every state a team meets, four of them closed."""
    load_register()
    users = get_user_model().objects
    me = users.create_user(
        "privacy", "privacy@example.com", PASSWORD, is_staff=True, is_superuser=True
    )
    colleague = users.create_user("hana", "hana@example.com", PASSWORD, is_staff=True)

    hubspot = systems["hubspot"]
    hubspot.config = {**hubspot.config, "token_env": "WRONG_HUBSPOT_TOKEN"}
    hubspot.save()
    failed = _submit(case_type="access", email=ADA.email, name=ADA.name, days_ago=33)
    hubspot.config = {**hubspot.config, "token_env": "HUBSPOT_TOKEN"}
    hubspot.save()
    _assign(failed, me)

    manual = _submit(case_type="erasure", email=BEN.email, name=BEN.name, days_ago=9)
    _assign(manual, me)
    portability = _submit(case_type="portability", email=NORA.email, name=NORA.name, days_ago=27)
    _assign(portability, colleague)

    review = _submit(
        case_type="rectification",
        email="jonas.weber@example.de",
        name="Jonas Weber",
        language="de",
        days_ago=4,
        details={
            "rectification_wrong": "Meine Telefonnummer und mein Firmenname sind veraltet.",
            "rectification_correct": "Telefon +49 30 901820; Firma: Weber & Söhne GmbH",
        },
    )
    RectificationChange.objects.create(
        case=review, field="phone", proposed_value="+49 30 901820", decision="accepted"
    )
    objection = _submit(
        case_type="objection",
        email="aylin.demir@example.com",
        name="Aylin Demir",
        days_ago=12,
        details={
            "objection_scope": "other",
            "objection_reasons": "I was a customer years ago; please stop analysing my data.",
        },
    )
    _assign(objection, colleague)

    answered = _submit(
        case_type="rectification",
        email="pierre.martin@example.fr",
        name="Pierre Martin",
        days_ago=15,
        details={
            "rectification_wrong": "My job title",
            "rectification_correct": "Head of Procurement",
        },
    )
    transitions.request_information(
        answered.pk, what="Which company do you work for, so that we find your record?", actor=ME
    )
    transitions.provide_information(answered.pk, answer="Martin Logistique SARL, Lyon.")

    asked = _submit(
        case_type="rectification",
        email="marta.nowak@example.pl",
        name="Marta Nowak",
        days_ago=6,
        details={"rectification_wrong": "My surname", "rectification_correct": "Nowak-Kowalska"},
    )
    transitions.request_information(asked.pk, what="Please tell us your customer number.", actor=ME)
    unconfirmed = [
        _submit(
            case_type="access",
            email="li.wei@example.cn",
            name="Li Wei",
            days_ago=1,
            verify=False,
        ),
        _submit(
            case_type="erasure",
            email="sofia.rossi@example.it",
            name="Sofia Rossi",
            verify=False,
        ),
    ]
    by_letter = transitions.record_request(
        channel="letter",
        received_at=timezone.now() - dt.timedelta(days=3),
        case_type="restriction",
        email="karl.schmidt@example.de",
        name="Karl Schmidt",
        language="de",
        request_text="Bitte schränken Sie die Verarbeitung meiner Daten ein, bis ...",
        identity_checked="Personalausweis am Empfang vorgelegt",
        actor=ME,
    )

    rejected = _submit(
        case_type="access", email="repeat@example.org", name="Rita Peters", days_ago=20
    )
    transitions.reject_case(
        rejected.pk,
        reason="excessive",
        note="The fourth identical request this month.",
        actor=ME,
    )
    cancelled = _submit(case_type="access", email="tom.baker@example.org", name="Tom Baker")
    transitions.cancel_case(cancelled.pk, reason="Withdrawn by email of today.", actor=ME)
    expired = _submit(
        case_type="access",
        email="never.confirmed@example.org",
        name="Noel Silent",
        days_ago=16,
        verify=False,
    )
    transitions.expire_case(expired.pk)
    completed = _submit(case_type="access", email="grace.hopper@example.net", name="Grace Hopper")
    for task in ManualTask.objects.filter(run__case=completed):
        transitions.complete_manual_task(
            task.pk,
            result=ManualResult(result=OutcomeKind.NOT_HELD, internal_note="Nothing held."),
            actor=ME,
            user_id=me.pk,
        )

    cases = [
        failed,
        manual,
        portability,
        review,
        objection,
        answered,
        asked,
        *unconfirmed,
        by_letter,
        rejected,
        cancelled,
        expired,
        completed,
    ]
    for case in cases:
        case.refresh_from_db()
    return Scene(me=me, failed=failed, manual=manual, review=review, answered=answered, cases=cases)
