"""The event trail: append-only, chained with a keyed hash, anchored outside the database, and a
command that reports every broken case."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from dsar.anchors import anchor_chains, read_anchors
from dsar.events import SYSTEM, append_event, verify_chain, verify_chains
from dsar.models import GENESIS_HASH, AppendOnlyError, Event
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def anchor_log(settings, tmp_path: Path) -> Path:
    path = tmp_path / "anchors.jsonl"
    settings.DSAR = {**settings.DSAR, "AUDIT_ANCHOR_FILE": str(path)}
    return path


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


def test_verify_events_names_the_first_tampered_event_of_a_case(capsys) -> None:
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


def _reforge_with_plain_sha256(case_id: int) -> None:
    """What someone with write access to the database but not the audit key can do: rewrite
    each hash as the old unkeyed chain did, a plain SHA-256 of the content and the hash before."""
    prev = GENESIS_HASH
    for event in Event.objects.filter(case_id=case_id).order_by("seq"):
        payload = {
            "case": event.case_id,
            "seq": event.seq,
            "actor": event.actor,
            "action": event.action,
            "data": event.data,
            "created_at": event.created_at.isoformat(),
            "prev": prev,
            "key": event.key_id,
        }
        canonical = json.dumps(
            payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":")
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        Event.objects.filter(pk=event.pk).update(prev_hash=prev, hash=digest)
        prev = digest


def test_an_edited_event_rechained_with_plain_sha256_is_detected() -> None:
    case = _case_with_events(3)
    Event.objects.filter(case=case, seq=2).update(data={"n": 99})
    _reforge_with_plain_sha256(case.pk)

    broken = verify_chain(case.pk)
    assert broken is not None and broken.seq == 1
    assert "no longer matches" in broken.reason


def test_a_chain_rekeyed_under_an_unknown_key_id_is_detected() -> None:
    case = _case_with_events(2)
    Event.objects.filter(case=case).update(key_id="attacker")
    broken = verify_chain(case.pk)
    assert broken is not None and "'attacker' is not configured" in broken.reason


def test_the_deleted_last_event_of_an_anchored_chain_is_detected() -> None:
    case = _case_with_events(3)
    assert anchor_chains() == 1
    Event.objects.filter(case=case, seq=3)._raw_delete(Event.objects.db)

    broken = verify_chain(case.pk)
    assert broken is not None and broken.seq == 3
    assert "counted 3 events; only 2 remain" in broken.reason


def test_anchoring_writes_only_chains_that_changed_and_each_line_follows_the_last(
    anchor_log: Path,
) -> None:
    first = _case_with_events(2)
    _case_with_events(1)
    assert anchor_chains() == 2
    assert anchor_chains() == 0
    with transaction.atomic():
        append_event(first, actor=SYSTEM, action="later")
    assert anchor_chains() == 1
    log = read_anchors()
    assert log.problems == []
    assert log.latest[first.pk].count == 3
    assert len(anchor_log.read_text().splitlines()) == 3


def test_an_anchor_line_changed_or_removed_by_hand_is_reported(anchor_log: Path) -> None:
    case = _case_with_events(2)
    anchor_chains()
    with transaction.atomic():
        append_event(case, actor=SYSTEM, action="later")
    anchor_chains()
    first, second = anchor_log.read_text().splitlines()
    lowered = json.loads(second)
    lowered["count"] = 1
    anchor_log.write_text(first + "\n" + json.dumps(lowered) + "\n")
    assert read_anchors().problems == ["anchor log line 2 does not carry a valid audit MAC"]
    anchor_log.write_text(second + "\n")
    assert "does not follow the line before it" in read_anchors().problems[0]


def test_verify_events_reports_every_broken_case_not_only_the_first(capsys) -> None:
    intact = _case_with_events(2)
    edited = _case_with_events(3)
    shortened = _case_with_events(3)
    anchor_chains()
    Event.objects.filter(case=edited, seq=2).update(actor="staff:someone-else")
    Event.objects.filter(case=shortened, seq=3)._raw_delete(Event.objects.db)

    checked, broken, problems = verify_chains()
    assert checked == 3 and problems == []
    assert [case.reference for case in broken] == [edited.reference, shortened.reference]
    with pytest.raises(CommandError) as failure:
        call_command("verify_events")
    message = str(failure.value)
    assert "2 of 3 case chains broken" in message
    assert f"{edited.reference}: the chain breaks at event 2" in message
    assert f"{shortened.reference}: the chain breaks at event 3" in message
    assert intact.reference not in message


def test_events_carry_the_id_of_the_audit_key_that_keyed_them_and_old_keys_still_verify(
    settings,
) -> None:
    case = _case_with_events(1)
    assert case.events.get().key_id == "dev"
    settings.DSAR_KEYS = {
        **settings.DSAR_KEYS,
        "audit": [("2027", "a-new-audit-key"), ("dev", settings.DSAR_KEYS["audit"][0][1])],
    }
    with transaction.atomic():
        append_event(case, actor=SYSTEM, action="after-rotation")
    assert list(case.events.order_by("seq").values_list("key_id", flat=True)) == ["dev", "2027"]
    assert verify_chain(case.pk) is None


def _plain_chain(case_id: int, count: int) -> None:
    """Events as the unkeyed chain stored them before audit keys existed."""
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        event = Event(case_id=case_id, seq=seq, actor=SYSTEM, action=f"old-{seq}", prev_hash=prev)
        payload = {
            "case": case_id,
            "seq": seq,
            "actor": SYSTEM,
            "action": event.action,
            "data": {},
            "created_at": event.created_at.isoformat(),
            "prev": prev,
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        event.hash = hashlib.sha256(canonical.encode()).hexdigest()
        event.save()
        prev = event.hash


def test_the_migration_keys_intact_plain_chains_and_leaves_broken_ones_reported() -> None:
    from importlib import import_module

    from django.apps import apps

    intact, broken = CaseFactory(), CaseFactory()
    _plain_chain(intact.pk, 3)
    _plain_chain(broken.pk, 2)
    Event.objects.filter(case=broken, seq=1).update(action="rewritten")

    import_module("dsar.migrations.0013_sec_keys").rekey(apps, None)

    assert verify_chain(intact.pk) is None
    assert set(intact.events.values_list("key_id", flat=True)) == {"dev"}
    link = verify_chain(broken.pk)
    assert link is not None and link.reason == "it carries no audit key id"
