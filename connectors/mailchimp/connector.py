"""The Mailchimp newsletter connector (Marketing API 3.0).

A person is a member, found by the MD5 hash of the lower-cased address, on each configured list
(audience). Export reads the member with its activity feed, tags, notes and events; erase is
Mailchimp's permanent deletion; restrict unsubscribes and tags the member; rectify updates merge
fields; object unsubscribes from every list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

from connectors.base import (
    Action,
    CountingSink,
    ExportOutcome,
    ExportProgress,
    Identity,
    Outcome,
    OutcomeKind,
    RecordSink,
)
from connectors.http import HttpClient, HttpConnector
from connectors.settings import SettingsReader

SYSTEM = "Mailchimp"
PAGE = 1000
# Member histories an export reads, by route and the key of their items.
HISTORIES = (
    ("activity-feed", "activity"),
    ("tags", "tags"),
    ("notes", "notes"),
    ("events", "events"),
)
MAILABLE = frozenset({"subscribed", "pending"})
DEFAULT_MERGE_FIELDS = {
    "first_name": "FNAME",
    "last_name": "LNAME",
    "phone": "PHONE",
    "company": "COMPANY",
}


@dataclass(frozen=True)
class MailchimpSettings:
    base_url: str
    api_key: str
    api_key_env: str
    list_ids: tuple[str, ...]
    merge_fields: dict[str, str]
    restricted_tag: str
    timeout_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        read = SettingsReader(SYSTEM, config, secrets=secrets)
        api_key, api_key_env = read.secret(
            "api_key_env", default_env="DSAR_SECRET_MAILCHIMP_API_KEY", what="API key"
        )
        return cls(
            base_url=read.base_url(),
            api_key=api_key,
            api_key_env=api_key_env,
            list_ids=tuple(read.text_list("list_ids", required=True)),
            merge_fields=read.text_mapping("merge_fields", DEFAULT_MERGE_FIELDS),
            restricted_tag=read.text("restricted_tag", "processing-restricted"),
            timeout_s=read.number("timeout_s", 10.0),
        )


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address (an id, not a secret)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Membership:
    """The person's member record on one list, with the fields the actions rely on checked."""

    list_id: str
    list_name: str
    member_id: str
    status: str
    email: str
    merge_fields: dict[str, Any]
    tags: frozenset[str]
    record: dict[str, Any]

    @property
    def label(self) -> str:
        return f"list {self.list_name} ({self.list_id})"

    @property
    def path(self) -> str:
        return f"/lists/{quote(self.list_id, safe='')}/members/{quote(self.member_id, safe='')}"


class MailchimpConnector(HttpConnector[MailchimpSettings]):
    key = "mailchimp"
    display_name = SYSTEM
    supports = frozenset(Action)

    settings_class = MailchimpSettings

    def client_auth(self) -> dict[str, Any]:
        return {
            "credentials_hint": f"check the API key in {self.settings.api_key_env}",
            "auth": ("dsar", self.settings.api_key),
        }

    def _memberships(self, http: HttpClient, identity: Identity) -> Iterator[Membership]:
        """The person's membership on each configured list that has them."""
        member_hash = subscriber_hash(identity.email)
        for list_id, list_name in self._lists(http):
            reply = http.request(
                "GET",
                f"/lists/{quote(list_id, safe='')}/members/{member_hash}",
                what="member read",
                accept=(404,),
            )
            if reply.status == 404:
                continue
            member = reply.json_object()
            yield Membership(
                list_id=list_id,
                list_name=list_name,
                member_id=reply.get(member, "id", str),
                status=reply.get(member, "status", str),
                email=reply.get(member, "email_address", str),
                merge_fields=reply.optional(member, "merge_fields", dict, {}),
                tags=frozenset(
                    reply.get(tag, "name", str) for tag in reply.objects(member, "tags")
                ),
                record={k: v for k, v in member.items() if k != "_links"},
            )

    def _lists(self, http: HttpClient) -> list[tuple[str, str]]:
        """Each configured list id with its name; a list that is gone is a final error, since a
        member lookup on it would wrongly say "not there"."""
        lists = []
        for list_id in self.settings.list_ids:
            reply = http.request(
                "GET",
                f"/lists/{quote(list_id, safe='')}",
                what="list read",
                params={"fields": "id,name"},
                accept=(404,),
            )
            if reply.status == 404:
                raise http.error(f"Mailchimp has no list {list_id}: check list_ids")
            lists.append((list_id, reply.get(reply.json_object(), "name", str)))
        return lists

    # --- actions -------------------------------------------------------------------------------

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        counter = CountingSink(sink)
        with self._client() as http:
            for membership in self._memberships(http, identity):
                counter.write("member", {**membership.record, "list_name": membership.list_name})
                for route, key in HISTORIES:
                    for item in _pages(http, membership, route, key):
                        counter.write(key, {**item, "list_id": membership.list_id})
        return counter.outcome()

    def erase(self, identity: Identity) -> Outcome:
        member_hash = subscriber_hash(identity.email)
        changed = []
        with self._client() as http:
            for list_id, list_name in self._lists(http):
                reply = http.request(
                    "POST",
                    f"/lists/{quote(list_id, safe='')}/members/{member_hash}"
                    "/actions/delete-permanent",
                    what="permanent deletion",
                    # Not on the list, or deleted already: either way there is nothing to erase.
                    accept=(404,),
                )
                if reply.status != 404:
                    changed.append(f"list {list_name} ({list_id}): member deleted permanently")
        if not changed:
            return Outcome.nothing_found(Action.ERASE)
        return Outcome(
            Action.ERASE,
            OutcomeKind.ERASED,
            summary=f"Deleted the member permanently from {len(changed)} list(s)",
            changed=changed,
        )

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        tag = self.settings.restricted_tag
        found, changed = False, []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                found = True
                changed += _unsubscribe(http, membership)
                if tag in membership.tags:
                    continue
                http.request(
                    "POST",
                    f"{membership.path}/tags",
                    what="tag update",
                    json={"tags": [{"name": tag, "status": "active"}]},
                )
                changed.append(f"{membership.label}: tagged {tag}")
        if not found:
            return Outcome.nothing_found(Action.RESTRICT)
        summary = "Stopped mailings and tagged the member" if changed else "Already restricted"
        return Outcome(Action.RESTRICT, OutcomeKind.RESTRICTED, summary=summary, changed=changed)

    def rectify(self, identity: Identity, *, changes: Mapping[str, str]) -> Outcome:
        mapping = self.settings.merge_fields
        not_held = sorted(name for name in changes if name != "email" and name not in mapping)
        found, changed = False, []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                found = True
                current = membership.merge_fields
                merge_fields = {
                    mapping[name]: value
                    for name, value in changes.items()
                    if name in mapping and str(current.get(mapping[name]) or "") != value
                }
                update: dict[str, Any] = {"merge_fields": merge_fields} if merge_fields else {}
                new_email = changes.get("email", "").strip()
                if new_email and new_email.lower() != membership.email.lower():
                    update["email_address"] = new_email
                if not update:
                    continue
                http.request("PATCH", membership.path, what="member update", json=update)
                corrected = [
                    *sorted(merge_fields),
                    *(["email"] if "email_address" in update else []),
                ]
                changed.append(f"{membership.label}: {', '.join(corrected)} corrected")
        if not found:
            return Outcome.nothing_found(Action.RECTIFY)
        return Outcome.rectified(
            corrections=[], changed=changed, not_held=not_held, holder="Mailchimp"
        )

    def object(self, identity: Identity) -> Outcome:
        found, changed = False, []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                found = True
                changed += _unsubscribe(http, membership)
        if not found:
            return Outcome.nothing_found(Action.OBJECT)
        summary = "Unsubscribed from all lists" if changed else "Already unsubscribed"
        return Outcome(Action.OBJECT, OutcomeKind.UNSUBSCRIBED, summary=summary, changed=changed)


def _unsubscribe(http: HttpClient, membership: Membership) -> list[str]:
    """Stop mailings to the member; what changed, if anything."""
    if membership.status not in MAILABLE:
        return []
    http.request("PATCH", membership.path, what="member update", json={"status": "unsubscribed"})
    return [f"{membership.label}: unsubscribed"]


def _pages(
    http: HttpClient, membership: Membership, route: str, key: str
) -> Iterator[dict[str, Any]]:
    """Every item of a member history, a page at a time."""
    offset = 0
    while True:
        reply = http.request(
            "GET",
            f"{membership.path}/{route}",
            what=f"member {key} read",
            params={"count": PAGE, "offset": offset},
        )
        data = reply.json_object()
        items = reply.objects(data, key)
        yield from items
        offset += len(items)
        total = reply.optional(data, "total_items", int, offset)
        if not items or offset >= total:
            return
