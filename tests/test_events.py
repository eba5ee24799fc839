"""The event trail: append-only, hash-chained, and a command that finds the first broken link."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from dsar.events import SYSTEM, append_event, verify_chain
from dsar.models import AppendOnlyError, Event
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _case_with_events(count: int):
    case = CaseFactory()
    with transaction.atomic():
        for n in range(count):
            append_event(case, actor=SYSTEM, action=f"step-{n}", data={"n": n})
    return case


def test_each_event_carries_the_hash_of_the_one_before() -> None:
    case = _case_with_events(3)
    events = list(case.events.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert verify_chain(case.pk) is None


def test_events_cannot_be_changed_or_deleted_through_the_orm() -> None:
    event = _case_with_events(1).events.get()
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_verify_events_names_the_first_tampered_event(capsys) -> None:
    intact = _case_with_events(2)
    tampered = _case_with_events(4)
    # Tampering bypasses the model, as someone with database access would.
    Event.objects.filter(case=tampered, seq=3).update(data={"n": 99})

    with pytest.raises(CommandError, match=rf"{tampered.reference}: the chain breaks at event 3"):
        call_command("verify_events")
    call_command("verify_events", case=intact.reference)
    assert "1 case chains intact" in capsys.readouterr().out


def test_verify_events_finds_a_deleted_event() -> None:
    case = _case_with_events(3)
    Event.objects.filter(case=case, seq=2)._raw_delete(Event.objects.db)
    broken = verify_chain(case.pk)
    assert broken is not None and broken.seq == 2 and "missing" in broken.reason


@pytest.mark.django_db(transaction=True)
def test_append_event_refuses_to_run_outside_a_transaction() -> None:
    case = CaseFactory()
    with pytest.raises(RuntimeError, match="inside a transaction"):
        append_event(case, actor=SYSTEM, action="x")
