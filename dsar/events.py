"""Appending to a case's hash-chained event trail, and checking the chain.

Each event's hash is an HMAC with the current audit key (``dsar.keys``), over its content and the
hash of the event before it. ``dsar.anchors`` writes each case's chain head and event count to a
log outside the database, so that a deleted last event is found too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from django.db import transaction

from .anchors import AnchorLog, read_anchors
from .keys import Purpose, UnknownKey, current
from .models import GENESIS_HASH, Case, Event

SYSTEM = "system"
SUBJECT = "subject"
SWEEPER = "system:sweeper"


def staff_actor(username: str) -> str:
    return f"staff:{username}"


class Unknown(Enum):
    """``append_event``'s default: the last event is read from the database."""

    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN


def append_event(
    case: Case,
    *,
    actor: str,
    action: str,
    data: dict[str, Any] | None = None,
    after: Event | Unknown | None = UNKNOWN,
) -> Event:
    """Append one event to the case's chain.

    The caller holds the case row locked (``select_for_update``) inside a transaction, so two
    writers cannot both read the same last link. A caller that knows the last link passes it
    as ``after`` (``None`` for a case created in this transaction, which has no event yet),
    which saves reading it; the event is the same either way.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_event must run inside a transaction holding the case lock")
    last: Event | None
    if isinstance(after, Unknown):
        last = Event.objects.filter(case=case).order_by("-seq").only("seq", "hash").first()
    else:
        last = after
    event = new_event(case, actor=actor, action=action, data=data, after=last)
    event.save()
    return event


def new_event(
    case: Case,
    *,
    actor: str,
    action: str,
    data: dict[str, Any] | None = None,
    after: Event | None,
) -> Event:
    """The event that follows ``after`` (``None``: the case's first), hashed and not saved: for
    ``append_event``, and for a new case's first events, written together with the case itself
    (``dsar.inserts``), which nobody else can see, let alone append to, before it commits."""
    event = Event(
        case=case,
        seq=after.seq + 1 if after else 1,
        actor=actor,
        action=action,
        data=data or {},
        prev_hash=after.hash if after else GENESIS_HASH,
        key_id=current(Purpose.AUDIT).id,
    )
    event.hash = event.compute_hash()
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


def verify_chain(case_id: int, *, anchors: AnchorLog | None = None) -> BrokenLink | None:
    """Walk one case's events in order; return the first broken link, or None if intact.

    Where the anchor log (read afresh unless given) holds an anchor of the case, the chain must
    also still hold the anchored number of events, with the anchored head at that count.
    """
    anchor = (anchors or read_anchors()).latest.get(case_id)
    prev = GENESIS_HASH
    expected_seq = 1
    hashes: list[str] = []
    for event in Event.objects.filter(case_id=case_id).order_by("seq").iterator():
        if event.seq != expected_seq:
            return BrokenLink(case_id, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return BrokenLink(case_id, event.seq, "does not point to the event before it")
        try:
            intact = event.compute_hash() == event.hash
        except UnknownKey:
            reason = (
                "it carries no audit key id"
                if not event.key_id
                else f"its audit key {event.key_id!r} is not configured"
            )
            return BrokenLink(case_id, event.seq, reason)
        if not intact:
            return BrokenLink(case_id, event.seq, "its content no longer matches its hash")
        hashes.append(event.hash)
        prev = event.hash
        expected_seq += 1
    if anchor is not None:
        if len(hashes) < anchor.count:
            return BrokenLink(
                case_id,
                len(hashes) + 1,
                f"the anchor of {anchor.at} counted {anchor.count} events; "
                f"only {len(hashes)} remain",
            )
        if hashes[anchor.count - 1] != anchor.head:
            return BrokenLink(
                case_id, anchor.count, f"it differs from the head anchored on {anchor.at}"
            )
    return None


@dataclass(frozen=True)
class BrokenCase:
    case_id: int
    reference: str
    link: BrokenLink

    def __str__(self) -> str:
        return f"{self.reference}: the chain breaks at event {self.link.seq}: {self.link.reason}"


def verify_chains(*, reference: str | None = None) -> tuple[int, list[BrokenCase], list[str]]:
    """Check every case's chain (or one case's): the number checked, every broken case, and
    the problems of the anchor log itself (a line changed, removed or added by hand)."""
    log = read_anchors()
    cases = Case.objects.order_by("pk")
    if reference is not None:
        cases = cases.filter(reference=reference)
    checked = 0
    broken: list[BrokenCase] = []
    seen: set[int] = set()
    for case_id, ref in cases.values_list("pk", "reference").iterator():
        seen.add(case_id)
        checked += 1
        link = verify_chain(case_id, anchors=log)
        if link is not None:
            broken.append(BrokenCase(case_id, ref, link))
    if reference is None:
        for case_id, anchor in sorted(log.latest.items()):
            if case_id not in seen:
                checked += 1
                link = BrokenLink(case_id, 1, "the case is gone, but its chain was anchored")
                broken.append(BrokenCase(case_id, anchor.reference, link))
    return checked, broken, log.problems
