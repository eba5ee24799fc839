"""The Mailchimp newsletter connector (Marketing API 3.0).

A person is a member of any audience of the account: the account-wide member search
(``/search-members``) finds every audience that holds the address, archived memberships too,
and the configured ``list_ids`` (optional) are looked at directly as well. Export reads each
membership with its activity feed, tags, notes and events, resumable page by page; erase is
Mailchimp's permanent deletion (it also keeps the address from being imported again); restrict
unsubscribes from every audience and tags the member; rectify updates merge fields and says
what they held before; object unsubscribes from every audience. Updates are sent with
``skip_merge_validation``, since an audience's required merge field left empty would otherwise
refuse them.

``subscriptions`` lists the audiences the person is subscribed to, each with who made the
subscription as Mailchimp records it: a confirmed opt-in carries the address and time the
person confirmed from (``ip_opt``, ``timestamp_opt``: the person's double opt-in); an import, an
API call or a member added by staff carries none. ``unsubscribe`` ends the ones named. Once
unsubscribed, a member can only come back through their own double opt-in (the API refuses
with 400 "Member In Compliance State").
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import quote

from connectors.base import (
    Action,
    CheckReport,
    ConnectorError,
    Correction,
    CountingSink,
    ExportOutcome,
    ExportProgress,
    Identity,
    Outcome,
    OutcomeKind,
    RecordSink,
    Resume,
    Subscription,
)
from connectors.budget import Limit
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
UPDATE = {"skip_merge_validation": "true"}
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
    max_connections: int
    time_scale: float

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
            list_ids=tuple(read.text_list("list_ids", required=False)),
            merge_fields=read.text_mapping("merge_fields", DEFAULT_MERGE_FIELDS),
            restricted_tag=read.text("restricted_tag", "processing-restricted"),
            timeout_s=read.number("timeout_s", 10.0),
            # Mailchimp allows 10 simultaneous connections per account, across all its clients.
            max_connections=int(read.number("max_connections", 10)),
            time_scale=read.number("time_scale", 1.0),
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

    def endpoint_limits(self) -> Mapping[str, tuple[Limit, ...]]:
        # "Each user account is permitted up to 10 simultaneous connections" (Marketing API
        # fundamentals); Mailchimp publishes no request rate and sends no rate-limit headers.
        return {"general": (Limit("connections", concurrent=self.settings.max_connections),)}

    @property
    def credential(self) -> str:
        return self.settings.api_key

    def client_auth(self) -> dict[str, Any]:
        return {
            "credentials_hint": f"check the API key in {self.settings.api_key_env}",
            "permission_hint": "the API key's user must be a Manager or Admin of the account",
            "auth": ("dsar", self.settings.api_key),
        }

    def _memberships(self, http: HttpClient, identity: Identity) -> Iterator[Membership]:
        """The person's membership of every audience that holds the address, in list order."""
        email = identity.normalized_email
        reply = http.request(
            "GET", "/search-members", what="member search", params={"query": email}
        )
        exact = reply.as_object(reply.get(reply.json_object(), "exact_matches", dict), "matches")
        list_ids = {
            reply.get(member, "list_id", str)
            for member in reply.objects(exact, "members")
            if reply.get(member, "email_address", str).lower() == email
        }
        list_ids |= set(self.settings.list_ids)
        member_hash = subscriber_hash(email)
        for list_id in sorted(list_ids):
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
                list_name=self._list_name(http, list_id),
                member_id=reply.get(member, "id", str),
                status=reply.get(member, "status", str),
                email=reply.get(member, "email_address", str),
                merge_fields=reply.optional(member, "merge_fields", dict, {}),
                tags=frozenset(
                    reply.get(tag, "name", str) for tag in reply.objects(member, "tags")
                ),
                record={k: v for k, v in member.items() if k != "_links"},
            )

    def _list_name(self, http: HttpClient, list_id: str) -> str:
        reply = http.request(
            "GET",
            f"/lists/{quote(list_id, safe='')}",
            what="list read",
            params={"fields": "id,name"},
            accept=(404,),
        )
        if reply.status == 404:
            raise http.error(f"Mailchimp has no list {list_id}: check list_ids")
        return reply.get(reply.json_object(), "name", str)

    # --- actions -------------------------------------------------------------------------------

    def check(self) -> CheckReport:
        report = CheckReport(SYSTEM)
        with self._client() as http:
            try:
                http.request("GET", "/ping", what="ping")
            except ConnectorError as error:
                report.add("credentials", ok=False, message=str(error))
                return report
            report.add("credentials", ok=True, message="the API key is accepted")
            reply = http.request("GET", "/lists", what="list of audiences", params={"count": 1000})
            lists = reply.objects(reply.json_object(), "lists")
            names = {reply.get(item, "id", str): reply.get(item, "name", str) for item in lists}
            report.add(
                "audiences",
                ok=True,
                message=f"the account has {len(names)} audience(s); every one is searched",
            )
            for list_id in self.settings.list_ids:
                if list_id not in names:
                    report.add(
                        f"list {list_id}",
                        ok=False,
                        message=f"Mailchimp has no audience {list_id}: remove it from list_ids",
                    )
            for list_id, name in sorted(names.items()):
                fields = http.request(
                    "GET",
                    f"/lists/{quote(list_id, safe='')}/merge-fields",
                    what="merge field list",
                    params={"count": 1000},
                )
                required = [
                    fields.get(item, "tag", str)
                    for item in fields.objects(fields.json_object(), "merge_fields")
                    if fields.optional(item, "required", bool, False)
                ]
                if required:
                    report.add(
                        f"audience {name}",
                        ok=True,
                        message=f"requires {', '.join(required)}; updates skip that validation",
                    )
        return report

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        resume = Resume(progress)
        counter = CountingSink(sink, resume)
        with self._client() as http:
            for membership in self._memberships(http, identity):
                stream = f"list:{membership.list_id}:member"
                if not resume.done(stream):
                    counter.write(
                        "member", {**membership.record, "list_name": membership.list_name}
                    )
                    resume.finish(stream)
                for route, key in HISTORIES:
                    stream = f"list:{membership.list_id}:{route}"
                    if resume.done(stream):
                        continue
                    start = int(resume.position(stream).get("offset", 0))
                    for items, offset in _pages(http, membership, route, key, offset=start):
                        for item in items:
                            counter.write(key, {**item, "list_id": membership.list_id})
                        resume.checkpoint(stream, {"offset": offset})
                    resume.finish(stream)
        return counter.outcome()

    def erase(self, identity: Identity) -> Outcome:
        changed = []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                reply = http.request(
                    "POST",
                    f"{membership.path}/actions/delete-permanent",
                    what="permanent deletion",
                    # Deleted a moment ago: either way there is nothing left to erase.
                    accept=(404,),
                )
                if reply.status != 404:
                    changed.append(f"{membership.label}: member deleted permanently")
        if not changed:
            return Outcome.nothing_found(Action.ERASE)
        return Outcome(
            Action.ERASE,
            OutcomeKind.ERASED,
            summary=f"Deleted the member permanently from {len(changed)} audience(s); "
            "Mailchimp keeps the address from being imported again",
            changed=changed,
        )

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        tag = self.settings.restricted_tag
        found, changed, unsubscribed = False, [], []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                found = True
                if _unsubscribe(http, membership):
                    unsubscribed.append(membership.list_name)
                    changed.append(f"{membership.label}: unsubscribed")
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
        return Outcome(
            Action.RESTRICT,
            OutcomeKind.RESTRICTED,
            summary=summary,
            changed=changed,
            unsubscribed_from=unsubscribed,
        )

    def subscriptions(self, identity: Identity) -> list[Subscription]:
        with self._client() as http:
            return [
                _subscription(membership)
                for membership in self._memberships(http, identity)
                if membership.status == "subscribed"
            ]

    def unsubscribe(self, identity: Identity, *, keys: Collection[str]) -> Outcome:
        found, changed, unsubscribed = False, [], []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                if membership.list_id not in keys:
                    continue
                found = True
                if _unsubscribe(http, membership):
                    unsubscribed.append(membership.list_name)
                    changed.append(f"{membership.label}: unsubscribed")
        if not found:
            return Outcome.nothing_found(Action.OBJECT)
        return Outcome(
            Action.OBJECT,
            OutcomeKind.UNSUBSCRIBED,
            summary=f"Unsubscribed from {len(unsubscribed)} audience(s)"
            if changed
            else "Already unsubscribed",
            changed=changed,
            unsubscribed_from=unsubscribed,
        )

    def rectify(self, identity: Identity, *, changes: Mapping[str, str]) -> Outcome:
        mapping = self.settings.merge_fields
        not_held = sorted(name for name in changes if name != "email" and name not in mapping)
        found, changed = False, []
        corrections: dict[tuple[str, str, str], Correction] = {}
        with self._client() as http:
            for membership in self._memberships(http, identity):
                found = True
                current = membership.merge_fields
                merge_fields = {}
                for name, value in changes.items():
                    if name not in mapping:
                        continue
                    old = str(current.get(mapping[name]) or "")
                    if old != value:
                        merge_fields[mapping[name]] = value
                        corrections[(name, old, value)] = Correction(name, old, value)
                update: dict[str, Any] = {"merge_fields": merge_fields} if merge_fields else {}
                new_email = changes.get("email", "").strip()
                if new_email and new_email.lower() != membership.email.lower():
                    update["email_address"] = new_email
                    key = ("email", membership.email, new_email)
                    corrections[key] = Correction("email", membership.email, new_email)
                if not update:
                    continue
                http.request(
                    "PATCH", membership.path, what="member update", params=UPDATE, json=update
                )
                corrected = [
                    *sorted(merge_fields),
                    *(["email"] if "email_address" in update else []),
                ]
                changed.append(f"{membership.label}: {', '.join(corrected)} corrected")
        if not found:
            return Outcome.nothing_found(Action.RECTIFY)
        return Outcome.rectified(
            corrections=list(corrections.values()),
            changed=changed,
            not_held=not_held,
            holder="Mailchimp",
        )

    def object(self, identity: Identity) -> Outcome:
        found, changed, unsubscribed = False, [], []
        with self._client() as http:
            for membership in self._memberships(http, identity):
                found = True
                if _unsubscribe(http, membership):
                    unsubscribed.append(membership.list_name)
                    changed.append(f"{membership.label}: unsubscribed")
        if not found:
            return Outcome.nothing_found(Action.OBJECT)
        summary = "Unsubscribed from every audience" if changed else "Already unsubscribed"
        return Outcome(
            Action.OBJECT,
            OutcomeKind.UNSUBSCRIBED,
            summary=summary,
            changed=changed,
            unsubscribed_from=unsubscribed,
        )


def _subscription(membership: Membership) -> Subscription:
    """Who made the subscription, as the member record shows: the person confirmed an opt-in
    from ``ip_opt`` at ``timestamp_opt``, or nobody did (``source`` says how it came)."""
    record = membership.record
    source = str(record.get("source") or "unknown")
    confirmed_from = str(record.get("ip_opt") or "")
    confirmed_at = _timestamp(str(record.get("timestamp_opt") or ""))
    if confirmed_from and confirmed_at:
        how = f"source {source}; opt-in confirmed from {confirmed_from} at {confirmed_at}"
    else:
        how = f"source {source}; no opt-in confirmed by the person"
    return Subscription(
        key=membership.list_id,
        name=membership.list_name,
        by_person=bool(confirmed_from and confirmed_at),
        since=confirmed_at,
        how=how,
    )


def _timestamp(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _unsubscribe(http: HttpClient, membership: Membership) -> bool:
    """Stop mailings to the member; whether anything changed."""
    if membership.status not in MAILABLE:
        return False
    http.request(
        "PATCH",
        membership.path,
        what="member update",
        params=UPDATE,
        json={"status": "unsubscribed"},
    )
    return True


def _pages(
    http: HttpClient, membership: Membership, route: str, key: str, *, offset: int
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Every item of a member history a page at a time, each with the offset after it."""
    while True:
        reply = http.request(
            "GET",
            f"{membership.path}/{route}",
            what=f"member {key} read",
            params={"count": PAGE, "offset": offset},
        )
        data = reply.json_object()
        items = reply.objects(data, key)
        offset += len(items)
        if items:
            yield items, offset
        total = reply.optional(data, "total_items", int, offset)
        if not items or offset >= total:
            return
