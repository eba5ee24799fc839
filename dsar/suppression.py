"""The direct-marketing suppression list (Art. 21(3) GDPR): once a person objects to direct
marketing, nobody but the person subscribes them to marketing again, in any system.

What an entry keeps, and why:

- a keyed hash of the address (``dsar.keys``, purpose ``SUPPRESSION``), with the id of the key
  that made it, to find the entry: rotating a key, or SECRET_KEY, empties nothing, and an
  address found under an old key is hashed again under the current one;
- the address itself: the marketing systems can only be checked and blocked by it (Mailchimp
  keeps the member unsubscribed, HubSpot the address opted out of all email, and the hourly
  check in ``dsar.housekeeping`` looks them up by it). It is the minimum that keeps the
  objection effective, kept under Art. 17(3)(b) and (e) (compliance with Art. 21(3), and the
  defence against a claim that we marketed after an objection) and Art. 5(2) accountability;
  it outlives the purge of the closed case and an erasure, and nothing else is kept with it;
- the reference of the case that made it, when, and staff's decision on a new opt-in.

A new subscription the person made themselves, as the system shows it (a double opt-in
confirmed after the objection), is a new consent: it is flagged to staff to confirm, not
overridden. Once staff confirm it, the entry ends (``lifted_at``) and is kept as the record.
"""

from __future__ import annotations

import functools

from django.db.models import QuerySet
from django.utils import timezone

from connectors.base import Subscription

from .keys import Purpose, current, mac, macs
from .models import SuppressionEntry


class Suppressed(Exception):
    """The address objected to direct marketing."""


def _normal(email: str) -> str:
    return email.strip().lower()


def suppress(email: str, *, reference: str) -> SuppressionEntry:
    """Put the address on the list (again, after an earlier objection ended by consent)."""
    key_id, email_hash = mac(Purpose.SUPPRESSION, _normal(email))
    entry = entry_for(email, active_only=False)
    if entry is None:
        return SuppressionEntry.objects.create(
            email_hash=email_hash, key_id=key_id, email=_normal(email), reference=reference
        )
    if entry.lifted_at is not None:
        # A new objection after a confirmed new consent: the list holds from now on.
        entry.reference = reference
        entry.created_at = timezone.now()
        entry.lifted_at = entry.consent_found_at = entry.consent_decided_at = None
    entry.email = _normal(email)
    entry.save()
    return entry


def entry_for(email: str, *, active_only: bool = True) -> SuppressionEntry | None:
    """The address's entry (one whose objection still holds, unless ``active_only`` is
    False), hashed again under the current key when an older one made it."""
    candidates = macs(Purpose.SUPPRESSION, _normal(email))
    entries = _entries(candidates)
    if active_only:
        entries = entries.filter(lifted_at__isnull=True)
    found = entries.first()
    if found is None:
        return None
    key = current(Purpose.SUPPRESSION)
    if found.key_id != key.id:
        found.key_id, found.email_hash = key.id, candidates[key.id]
        found.save(update_fields=["key_id", "email_hash"])
    return found


def _entries(candidates: dict[str, str]) -> QuerySet[SuppressionEntry]:
    return SuppressionEntry.objects.filter(email_hash__in=candidates.values())


def active_entries_sql(email: str) -> tuple[str, list[str]]:
    """A query for the address's entries whose objection still holds, under any key, as SQL
    and its values, to ask whether there is one as part of another statement (a new case's
    ``next_case_numbers``; ``entry_for`` returns the entry). The text is Django's, compiled
    once for each number of keys, so that the public form builds no query in Python and the
    server can prepare the statement."""
    hashes = list(macs(Purpose.SUPPRESSION, _normal(email)).values())
    return _active_entries_sql(len(hashes)), hashes


@functools.cache
def _active_entries_sql(count: int) -> str:
    stand_ins = [f"stand-in {n}" for n in range(count)]
    entries = SuppressionEntry.objects.filter(email_hash__in=stand_ins, lifted_at__isnull=True)
    sql, params = entries.values("pk")[:1].query.sql_with_params()
    if list(params) != stand_ins:  # the text must take the hashes, and only them, in order
        raise RuntimeError(f"unexpected parameters in {sql}")
    return sql


def is_suppressed(email: str) -> bool:
    return entry_for(email) is not None


def ensure_marketing_allowed(email: str) -> None:
    """Call before subscribing anyone to marketing through the product."""
    if is_suppressed(email):
        raise Suppressed(f"{email} objected to direct marketing and must not be subscribed")


def is_new_consent(entry: SuppressionEntry, subscription: Subscription) -> bool:
    """Whether the system shows that the person made this subscription themselves after the
    objection (and after staff last decided on an opt-in): a new consent. Anything else — an
    import, a sync, staff, or a subscription whose maker the system does not show — cannot be
    shown to be the person's consent (Art. 7(1)) and is undone."""
    if subscription.by_person is not True or subscription.since is None:
        return False
    return subscription.since > (entry.consent_decided_at or entry.created_at)
