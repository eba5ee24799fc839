"""Appending to a case's hash-chained event trail, and checking the chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from .models import GENESIS_HASH, Case, Event

SYSTEM = "system"
SUBJECT = "subject"
SWEEPER = "system:sweeper"


def staff_actor(username: str) -> str:
    return f"staff:{username}"


def append_event(
    case: Case, *, actor: str, action: str, data: dict[str, Any] | None = None
) -> Event:
    """Append one event to the case's chain.

    The caller holds the case row locked (``select_for_update``) inside a transaction, so two
    writers cannot both read the same last link.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_event must run inside a transaction holding the case lock")
    last = Event.objects.filter(case=case).order_by("-seq").values("seq", "hash").first()
    event = Event(
        case=case,
        seq=(last["seq"] + 1) if last else 1,
        actor=actor,
        action=action,
        data=data or {},
        prev_hash=last["hash"] if last else GENESIS_HASH,
    )
    event.hash = event.compute_hash()
    event.save()
    return event


def record_event(
    case: Case | int, *, actor: str, action: str, data: dict[str, Any] | None = None
) -> Event:
    """The one door to the audit trail: lock the case and append one event, in a transaction
    of its own or the caller's (which then holds the lock until it commits)."""
    case_id = case if isinstance(case, int) else case.pk
    with transaction.atomic():
        locked = Case.objects.select_for_update().only("pk").get(pk=case_id)
        return append_event(locked, actor=actor, action=action, data=data)


@dataclass(frozen=True)
class BrokenLink:
    case_id: int
    seq: int
    reason: str


def verify_chain(case_id: int) -> BrokenLink | None:
    """Walk one case's events in order; return the first broken link, or None if intact."""
    prev = GENESIS_HASH
    expected_seq = 1
    for event in Event.objects.filter(case_id=case_id).order_by("seq").iterator():
        if event.seq != expected_seq:
            return BrokenLink(case_id, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return BrokenLink(case_id, event.seq, "does not point to the event before it")
        if event.compute_hash() != event.hash:
            return BrokenLink(case_id, event.seq, "its content no longer matches its hash")
        prev = event.hash
        expected_seq += 1
    return None
