"""The HubSpot CRM connector (CRM objects, associations, properties, communication preferences,
Forms submissions).

A person is every contact that holds the verified address, as ``email`` or among
``hs_additional_emails`` (one search with two filter groups), and the contact archived in the
last 90 days under that address (a batch read with ``archived=true``: search never sees
archived contacts). Export reads each contact's properties with their history, its logged
emails, calls, meetings, notes and tasks, and the person's submissions of every form (the Forms
API, per form: submissions are not CRM associations), resumable page by page, with every list of
names in a POST body (a query string naming a real portal's hundreds of properties passes
HubSpot's URL limit). Erase is HubSpot's GDPR delete by the contact's id (by email it would
delete nothing for an address held as additional email, and blocklist it). Restrict marks the
contact with two custom properties (created when missing) and unsubscribes from every
subscription type; object unsubscribes from every subscription type and opts the address out of
all email (v4's ``unsubscribe-all``: it also covers subscription types created later, and the v3
subscribe call refuses an address that opted out); rectify updates the mapped properties and
says what they held before. ``subscriptions`` lists the types an address is subscribed to;
HubSpot's status does not say who subscribed it, so each is reported as of unknown origin.

Paths: ``api_version`` "v3" uses the legacy numeric paths (``/crm/v3/...``, ``/crm/v4/...``),
which HubSpot retires in 2027; a date version ("2026-03") uses ``/crm/objects/2026-03/...``.
"""

from __future__ import annotations

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
from connectors.budget import Limit, Rate
from connectors.http import HttpClient, HttpConnector
from connectors.settings import SettingsReader

SYSTEM = "HubSpot"
# Generic field → HubSpot contact property. HubSpot keeps no single "name" property.
PROPERTY_FOR_FIELD = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "company": "company",
    "job_title": "jobtitle",
    "street": "address",
    "postal_code": "zip",
    "city": "city",
    "country": "country",
}
LEGAL_BASES = frozenset(
    {
        "LEGITIMATE_INTEREST_PQL",
        "LEGITIMATE_INTEREST_CLIENT",
        "LEGITIMATE_INTEREST_OTHER",
        "PERFORMANCE_OF_CONTRACT",
        "CONSENT_WITH_NOTICE",
        "NON_GDPR",
        "PROCESS_AND_STORE",
    }
)
# Engagement object → the properties an export reads of it.
ENGAGEMENTS: dict[str, tuple[str, ...]] = {
    "notes": ("hs_note_body", "hs_timestamp"),
    "emails": (
        "hs_email_subject",
        "hs_email_text",
        "hs_email_direction",
        "hs_timestamp",
    ),
    "calls": (
        "hs_call_title",
        "hs_call_body",
        "hs_call_duration",
        "hs_call_direction",
        "hs_timestamp",
    ),
    "meetings": (
        "hs_meeting_title",
        "hs_meeting_body",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_timestamp",
    ),
    "tasks": ("hs_task_subject", "hs_task_body", "hs_task_status", "hs_timestamp"),
}
LINKS_PAGE = 500
BATCH = 100
SUBMISSIONS_PAGE = 50
FORMS_PAGE = 100
CONTACT_PROPERTIES = ["email", "hs_additional_emails", "firstname", "lastname"]


@dataclass(frozen=True)
class HubSpotSettings:
    base_url: str
    token: str
    token_env: str
    subscription_ids: tuple[str, ...]
    legal_basis: str
    legal_basis_explanation: str
    restricted_property: str
    reason_property: str
    api_version: str
    requests_per_10_s: int
    searches_per_second: int
    timeout_s: float
    time_scale: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        read = SettingsReader(SYSTEM, config, secrets=secrets)
        token, token_env = read.secret(
            "token_env", default_env="DSAR_SECRET_HUBSPOT_TOKEN", what="token"
        )
        version = read.text("api_version", "v3")
        if version != "v3" and not (len(version) == 7 and version[4] == "-"):
            raise read.error(f"{SYSTEM} setting 'api_version' must be v3 or a date like 2026-03")
        return cls(
            base_url=read.base_url(),
            token=token,
            token_env=token_env,
            subscription_ids=tuple(read.text_list("subscription_ids", required=False)),
            legal_basis=read.choice("legal_basis", LEGAL_BASES, "LEGITIMATE_INTEREST_OTHER"),
            legal_basis_explanation=read.text(
                "legal_basis_explanation",
                "The person objected to direct marketing (Art. 21 GDPR) in a data-subject request.",
            ),
            restricted_property=read.text("restricted_property", "dsar_processing_restricted"),
            reason_property=read.text("reason_property", "dsar_restriction_reason"),
            api_version=version,
            # 100 per 10 s for private apps on Free and Starter, 190 on Professional and
            # Enterprise (developers.hubspot.com/changelog/increasing-our-api-limits).
            requests_per_10_s=int(read.number("requests_per_10_s", 100)),
            # CRM search: "four requests per second" (changelog: crm-search-api-rate-limit-increase)
            searches_per_second=int(read.number("searches_per_second", 4)),
            timeout_s=read.number("timeout_s", 10.0),
            time_scale=read.number("time_scale", 1.0),
        )


@dataclass(frozen=True)
class Paths:
    """HubSpot's two path families: legacy numeric versions, or a date version."""

    version: str

    def objects(self, kind: str) -> str:
        if self.version == "v3":
            return f"/crm/v3/objects/{kind}"
        return f"/crm/objects/{self.version}/{kind}"

    def contact(self, contact_id: str) -> str:
        return f"{self.objects('contacts')}/{quote(contact_id, safe='')}"

    def links(self, contact_id: str, kind: str) -> str:
        root = "/crm/v4/objects" if self.version == "v3" else f"/crm/objects/{self.version}"
        return f"{root}/contacts/{quote(contact_id, safe='')}/associations/{kind}"

    def properties(self) -> str:
        if self.version == "v3":
            return "/crm/v3/properties/contacts"
        return f"/crm/properties/{self.version}/contacts"


@dataclass(frozen=True)
class Contact:
    id: str
    properties: dict[str, Any]
    archived: bool = False

    @property
    def addresses(self) -> set[str]:
        extra = str(self.properties.get("hs_additional_emails") or "")
        primary = str(self.properties.get("email") or "")
        return {a.strip().lower() for a in [primary, *extra.split(";")] if a.strip()}


class HubSpotConnector(HttpConnector[HubSpotSettings]):
    key = "hubspot"
    display_name = SYSTEM
    supports = frozenset(Action)

    settings_class = HubSpotSettings

    @property
    def paths(self) -> Paths:
        return Paths(self.settings.api_version)

    def endpoint_limits(self) -> Mapping[str, tuple[Limit, ...]]:
        general = Limit("general", rate=Rate(self.settings.requests_per_10_s, 10.0))
        search = Limit("search", rate=Rate(self.settings.searches_per_second, 1.0))
        return {"general": (general,), "search": (general, search)}

    @property
    def credential(self) -> str:
        return self.settings.token

    def client_auth(self) -> dict[str, Any]:
        return {
            "credentials_hint": f"check the private-app token in {self.settings.token_env}",
            "permission_hint": (
                "give the private app the scopes crm.objects.contacts.read and .write, "
                "crm.schemas.contacts.read and .write, forms, and "
                "communication_preferences.read_write"
            ),
            "headers": {"Authorization": f"Bearer {self.settings.token}"},
        }

    # --- actions -------------------------------------------------------------------------------

    def check(self) -> CheckReport:
        report = CheckReport(SYSTEM)
        with self._client() as http:
            try:
                names = _property_names(http, self.paths)
            except ConnectorError as error:
                report.add("credentials", ok=False, message=str(error))
                return report
            report.add(
                "credentials", ok=True, message=f"the token reads {len(names)} contact properties"
            )
            try:
                for name, created in self._ensure_properties(http, present=set(names)):
                    report.add(
                        f"property {name}",
                        ok=True,
                        created=created,
                        message="created" if created else "present",
                    )
            except ConnectorError as error:
                report.add(
                    "custom properties",
                    ok=False,
                    message=f"{error}; or create them by hand: {self._property_help()}",
                )
            for name, scope in (
                ("subscription types", lambda: _subscription_types(http)),
                ("forms", lambda: list(_forms(http))),
            ):
                try:
                    found = scope()
                    report.add(name, ok=True, message=f"{len(found)} found")
                except ConnectorError as error:
                    report.add(name, ok=False, message=str(error))
        return report

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        resume = Resume(progress)
        counter = CountingSink(sink, resume)
        with self._client() as http:
            contacts = self._find(http, identity)
            if not contacts:
                return counter.outcome()
            names: list[str] | None = None
            for contact in contacts:
                stream = f"contact:{contact.id}"
                if not resume.done(stream):
                    names = names or _property_names(http, self.paths)
                    _export_contact(http, self.paths, contact, names, counter)
                    resume.finish(stream)
                if contact.archived:
                    # HubSpot keeps no associations readable for an archived contact.
                    continue
                for kind, properties in ENGAGEMENTS.items():
                    stream = f"contact:{contact.id}:{kind}"
                    if resume.done(stream):
                        continue
                    start = str(resume.position(stream).get("after", ""))
                    for ids, after in _links(http, self.paths, contact.id, kind, after=start):
                        _export_engagements(
                            http, self.paths, contact, (kind, properties), ids, counter
                        )
                        resume.checkpoint(stream, {"after": after})
                    resume.finish(stream)
            addresses = set().union(*(contact.addresses for contact in contacts))
            for guid in _forms(http):
                stream = f"form:{guid}"
                if resume.done(stream):
                    continue
                start = str(resume.position(stream).get("after", ""))
                for page, after in _submissions(http, guid, after=start):
                    for submission in page:
                        if _submitted_by(submission, addresses):
                            counter.write("form_submissions", {**submission, "form_id": guid})
                    resume.checkpoint(stream, {"after": after})
                resume.finish(stream)
        return counter.outcome()

    def erase(self, identity: Identity) -> Outcome:
        with self._client() as http:
            contacts = self._find(http, identity)
            # An unknown address is left alone: GDPR delete by email would blocklist it, which
            # would stop a person we never held from ever being added.
            if not contacts:
                return Outcome.nothing_found(Action.ERASE)
            for contact in contacts:
                http.request(
                    "POST",
                    f"{self.paths.objects('contacts')}/gdpr-delete",
                    what="GDPR delete",
                    # By id: it deletes the contact however the address was held.
                    json={"objectId": contact.id},
                    # Gone since the search: nothing left to erase.
                    accept=(404,),
                )
        ids = [contact.id for contact in contacts]
        return Outcome(
            action=Action.ERASE,
            kind=OutcomeKind.ERASED,
            summary=f"Deleted contact {', '.join(ids)} with its engagements and history (GDPR "
            "delete); HubSpot blocklists the address so it is not added again",
            changed=[
                f"contact {c.id}{' (archived)' if c.archived else ''} deleted with its "
                "engagements and property history"
                for c in contacts
            ],
            details={"contact_ids": ids, "address_blocklisted": True},
        )

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        flag = self.settings.restricted_property
        with self._client() as http:
            contacts = [c for c in self._find(http, identity, [flag]) if not c.archived]
            if not contacts:
                return Outcome.nothing_found(Action.RESTRICT)
            changed = []
            pending = [c for c in contacts if str(c.properties.get(flag) or "").lower() != "true"]
            if pending:
                list(self._ensure_properties(http, present=None))
            for contact in pending:
                _update(
                    http,
                    self.paths,
                    contact.id,
                    {flag: "true", self.settings.reason_property: reason},
                )
                changed.append(f"contact {contact.id} marked as restricted ({flag})")
            unsubscribed = self._unsubscribe_all(http, contacts)
        changed += [f"unsubscribed from {name}" for name in unsubscribed]
        summary = "Marked the contact as restricted" if pending else "Already restricted"
        if unsubscribed:
            summary += " and unsubscribed from all marketing"
        return Outcome(
            Action.RESTRICT,
            OutcomeKind.RESTRICTED,
            summary=summary,
            changed=changed,
            unsubscribed_from=unsubscribed,
        )

    def rectify(self, identity: Identity, *, changes: Mapping[str, str]) -> Outcome:
        not_held = sorted(name for name in changes if name not in PROPERTY_FOR_FIELD)
        wanted = {
            name: value.strip().lower() if name == "email" else value
            for name, value in changes.items()
            if name in PROPERTY_FOR_FIELD
        }
        props = [PROPERTY_FOR_FIELD[name] for name in wanted]
        with self._client() as http:
            contacts = [c for c in self._find(http, identity, props) if not c.archived]
            if not contacts:
                return Outcome.nothing_found(Action.RECTIFY)
            changed, corrections = [], []
            for contact in contacts:
                differing = {}
                for name, value in wanted.items():
                    old = str(contact.properties.get(PROPERTY_FOR_FIELD[name]) or "")
                    if old != value:
                        differing[PROPERTY_FOR_FIELD[name]] = value
                        corrections.append(Correction(name, old, value))
                if differing:
                    _update(http, self.paths, contact.id, differing)
                    changed.append(
                        f"contact {contact.id}: {', '.join(sorted(differing))} corrected"
                    )
        return Outcome.rectified(
            corrections=corrections, changed=changed, not_held=not_held, holder="HubSpot"
        )

    def object(self, identity: Identity) -> Outcome:
        return self._stop_marketing(identity, keys=None)

    def subscriptions(self, identity: Identity) -> list[Subscription]:
        with self._client() as http:
            contacts = [c for c in self._find(http, identity) if not c.archived]
            if not contacts:
                return []
            types = _subscription_types(http)
            found: dict[str, Subscription] = {}
            for address in _addresses(contacts):
                for sub, status in _subscription_statuses(http, address).items():
                    if status == "SUBSCRIBED" and sub in types:
                        found[sub] = Subscription(
                            key=sub,
                            name=types[sub],
                            by_person=None,
                            how="HubSpot's subscription status does not say who subscribed",
                        )
        return list(found.values())

    def unsubscribe(self, identity: Identity, *, keys: Collection[str]) -> Outcome:
        return self._stop_marketing(identity, keys=set(keys))

    def _stop_marketing(self, identity: Identity, *, keys: set[str] | None) -> Outcome:
        """Unsubscribe from every subscription type (or those ``keys`` names), each with the
        legal basis HubSpot records, then opt every address out of all email."""
        with self._client() as http:
            contacts = [c for c in self._find(http, identity) if not c.archived]
            if not contacts:
                return Outcome.nothing_found(Action.OBJECT)
            unsubscribed = self._unsubscribe_all(http, contacts, only=keys)
            opted_out = [a for a in _addresses(contacts) if _opt_out_of_all_email(http, a)]
        changed = [f"unsubscribed from {name}" for name in unsubscribed]
        changed += [f"address {n} opted out of all email" for n in range(1, len(opted_out) + 1)]
        summary = "Unsubscribed from all marketing" if unsubscribed else "Already unsubscribed"
        if opted_out:
            summary += " and opted out of all email"
        return Outcome(
            Action.OBJECT,
            OutcomeKind.UNSUBSCRIBED,
            summary=summary,
            changed=changed,
            unsubscribed_from=unsubscribed,
        )

    # --- parts ---------------------------------------------------------------------------------

    def _find(
        self, http: HttpClient, identity: Identity, properties: list[str] | None = None
    ) -> list[Contact]:
        """The contacts holding the address as ``email`` or in ``hs_additional_emails``, and
        an archived contact with it as ``email``."""
        email = identity.normalized_email
        names = [*CONTACT_PROPERTIES, *(properties or [])]
        reply = http.request(
            "POST",
            f"{self.paths.objects('contacts')}/search",
            what="contact search",
            writes=False,
            endpoint="search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]},
                    {
                        "filters": [
                            {
                                "propertyName": "hs_additional_emails",
                                "operator": "CONTAINS_TOKEN",
                                "value": email,
                            }
                        ]
                    },
                ],
                "properties": names,
                "limit": 10,
            },
        )
        found = _contacts(reply.json_object(), reply, archived=False)
        archived = http.request(
            "POST",
            f"{self.paths.objects('contacts')}/batch/read",
            what="archived contact read",
            writes=False,
            params={"archived": "true"},
            json={"idProperty": "email", "inputs": [{"id": email}], "properties": names},
            accept=(207,),
        )
        found += _contacts(archived.json_object(), archived, archived=True)
        # Search matches loosely; act only on contacts that hold exactly this address.
        return [contact for contact in found if email in contact.addresses]

    def _ensure_properties(
        self, http: HttpClient, *, present: set[str] | None
    ) -> Iterator[tuple[str, bool]]:
        """Create the two custom properties a restriction writes, where missing; yields each
        with whether it was created."""
        wanted: dict[str, dict[str, Any]] = {
            self.settings.restricted_property: {
                "label": "Processing restricted (GDPR)",
                "type": "enumeration",
                "fieldType": "booleancheckbox",
                "options": [
                    {"label": "Yes", "value": "true", "displayOrder": 0},
                    {"label": "No", "value": "false", "displayOrder": 1},
                ],
            },
            self.settings.reason_property: {
                "label": "Restriction reason (GDPR)",
                "type": "string",
                "fieldType": "textarea",
            },
        }
        for name, definition in wanted.items():
            if present is not None:
                exists = name in present
            else:
                reply = http.request(
                    "GET",
                    f"{self.paths.properties()}/{quote(name, safe='')}",
                    what="property read",
                    accept=(404,),
                )
                exists = reply.status != 404
            if not exists:
                http.request(
                    "POST",
                    self.paths.properties(),
                    what="property creation",
                    json={
                        "name": name,
                        "groupName": "contactinformation",
                        "description": "Set by DSAR Desk when a person restricts processing",
                        **definition,
                    },
                    accept=(409,),
                )
            yield name, not exists

    def _property_help(self) -> str:
        return (
            f"a single checkbox property '{self.settings.restricted_property}' and a multi-line "
            f"text property '{self.settings.reason_property}' on contacts"
        )

    def _unsubscribe_all(
        self, http: HttpClient, contacts: list[Contact], *, only: set[str] | None = None
    ) -> list[str]:
        """Unsubscribe every address of the contacts from every subscription type (or the
        configured ones, or those ``only`` names); the names of those it was subscribed to."""
        types = _subscription_types(http)
        wanted = set(self.settings.subscription_ids) or set(types)
        if only is not None:
            wanted &= only
        unknown = wanted - set(types)
        if unknown:
            raise http.error(
                f"HubSpot has no subscription type {', '.join(sorted(unknown))}: "
                "check subscription_ids"
            )
        done: list[str] = []
        for address in _addresses(contacts):
            statuses = _subscription_statuses(http, address)
            for sub in sorted(wanted):
                if statuses.get(sub) != "SUBSCRIBED":
                    continue
                http.request(
                    "POST",
                    "/communication-preferences/v3/unsubscribe",
                    what="unsubscribe",
                    json={
                        "emailAddress": address,
                        "subscriptionId": sub,
                        "legalBasis": self.settings.legal_basis,
                        "legalBasisExplanation": self.settings.legal_basis_explanation,
                    },
                )
                if types[sub] not in done:
                    done.append(types[sub])
        return done


# --- requests ------------------------------------------------------------------------------------


def _contacts(data: dict[str, Any], reply: Any, *, archived: bool) -> list[Contact]:
    contacts = []
    for result in reply.objects(data, "results"):
        props = reply.as_object(reply.get(result, "properties", dict), "'properties'")
        contacts.append(Contact(reply.get(result, "id", str), props, archived=archived))
    return contacts


def _property_names(http: HttpClient, paths: Paths) -> list[str]:
    reply = http.request("GET", paths.properties(), what="property list")
    return [reply.get(item, "name", str) for item in reply.objects(reply.json_object(), "results")]


def _export_contact(
    http: HttpClient, paths: Paths, contact: Contact, names: list[str], sink: RecordSink
) -> None:
    # The names go in a POST body: a real portal's hundreds of properties, named in a query
    # string, pass HubSpot's URL limit (414).
    reply = http.request(
        "POST",
        f"{paths.objects('contacts')}/batch/read",
        what="contact read",
        writes=False,
        params={"archived": "true"} if contact.archived else None,
        json={
            "properties": names,
            "propertiesWithHistory": names,
            "inputs": [{"id": contact.id}],
        },
        accept=(207,),
    )
    for data in reply.objects(reply.json_object(), "results"):
        properties = reply.get(data, "properties", dict)
        sink.write(
            "contact",
            {
                "id": contact.id,
                "archived": contact.archived,
                "createdAt": reply.optional(data, "createdAt", str, ""),
                "updatedAt": reply.optional(data, "updatedAt", str, ""),
                "properties": {k: v for k, v in properties.items() if v not in (None, "")},
            },
        )
        history = reply.optional(data, "propertiesWithHistory", dict, {})
        for name in history:
            for entry in reply.objects(history, name):
                sink.write(
                    "property_history",
                    {
                        "contact_id": contact.id,
                        "property": name,
                        "value": reply.optional(entry, "value", str, ""),
                        "timestamp": reply.get(entry, "timestamp", str),
                        "source": reply.optional(entry, "sourceType", str, ""),
                    },
                )


def _links(
    http: HttpClient, paths: Paths, contact_id: str, kind: str, *, after: str
) -> Iterator[tuple[list[str], str]]:
    """The ids of the contact's engagements of one kind, a page at a time, each with the
    ``after`` token that follows it (empty after the last)."""
    while True:
        params: dict[str, str | int] = {"limit": LINKS_PAGE}
        if after:
            params["after"] = after
        reply = http.request(
            "GET", paths.links(contact_id, kind), what=f"{kind} list", params=params
        )
        data = reply.json_object()
        ids = [str(reply.get(link, "toObjectId", int)) for link in reply.objects(data, "results")]
        paging = reply.optional(data, "paging", dict, {})
        after = reply.optional(reply.optional(paging, "next", dict, {}), "after", str, "")
        yield ids, after
        if not after:
            return


def _export_engagements(
    http: HttpClient,
    paths: Paths,
    contact: Contact,
    engagement: tuple[str, tuple[str, ...]],
    ids: list[str],
    sink: RecordSink,
) -> None:
    kind, properties = engagement
    for start in range(0, len(ids), BATCH):
        reply = http.request(
            "POST",
            f"{paths.objects(kind)}/batch/read",
            what=f"{kind} read",
            writes=False,
            json={
                "properties": list(properties),
                "inputs": [{"id": i} for i in ids[start : start + BATCH]],
            },
            # 207: some went between listing and reading them; the rest are still read.
            accept=(207,),
        )
        for item in reply.objects(reply.json_object(), "results"):
            values = reply.get(item, "properties", dict)
            sink.write(
                kind,
                {
                    "id": reply.get(item, "id", str),
                    "contact_id": contact.id,
                    **{name: values[name] for name in properties if values.get(name)},
                },
            )


def _forms(http: HttpClient) -> list[str]:
    guids: list[str] = []
    after = ""
    while True:
        params: dict[str, str | int] = {"limit": FORMS_PAGE}
        if after:
            params["after"] = after
        reply = http.request("GET", "/marketing/v3/forms", what="form list", params=params)
        data = reply.json_object()
        guids += [reply.get(form, "id", str) for form in reply.objects(data, "results")]
        paging = reply.optional(data, "paging", dict, {})
        after = reply.optional(reply.optional(paging, "next", dict, {}), "after", str, "")
        if not after:
            return sorted(guids)


def _submissions(
    http: HttpClient, guid: str, *, after: str
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    while True:
        params: dict[str, str | int] = {"limit": SUBMISSIONS_PAGE}
        if after:
            params["after"] = after
        reply = http.request(
            "GET",
            f"/form-integrations/v1/submissions/forms/{quote(guid, safe='')}",
            what="form submission list",
            params=params,
        )
        data = reply.json_object()
        page = reply.objects(data, "results")
        for submission in page:
            reply.objects(submission, "values")
        paging = reply.optional(data, "paging", dict, {})
        after = reply.optional(reply.optional(paging, "next", dict, {}), "after", str, "")
        yield page, after
        if not after:
            return


def _submitted_by(submission: dict[str, Any], addresses: set[str]) -> bool:
    return any(
        isinstance(value, dict)
        and value.get("name") == "email"
        and str(value.get("value") or "").lower() in addresses
        for value in submission.get("values", [])
    )


def _update(http: HttpClient, paths: Paths, contact_id: str, properties: Mapping[str, str]) -> None:
    http.request(
        "PATCH",
        paths.contact(contact_id),
        what="contact update",
        json={"properties": dict(properties)},
    )


def _subscription_types(http: HttpClient) -> dict[str, str]:
    """Every active subscription type: id → name."""
    reply = http.request(
        "GET", "/communication-preferences/v3/definitions", what="subscription type list"
    )
    return {
        reply.get(item, "id", str): reply.optional(item, "name", str, "")
        for item in reply.objects(reply.json_object(), "subscriptionDefinitions")
        if reply.optional(item, "isActive", bool, True)
    }


def _addresses(contacts: list[Contact]) -> list[str]:
    """The contacts' primary addresses: HubSpot keeps subscription statuses per address."""
    return sorted({c.properties.get("email") or "" for c in contacts} - {""})


def _opt_out_of_all_email(http: HttpClient, email: str) -> bool:
    """Opt the address out of all email (v4); whether it had not been already."""
    path = f"/communication-preferences/v4/statuses/{quote(email, safe='@')}/unsubscribe-all"
    reply = http.request("GET", path, what="opt-out status", params={"channel": "EMAIL"})
    if reply.objects(reply.json_object(), "results"):
        return False
    http.request("POST", path, what="opt-out of all email", params={"channel": "EMAIL"})
    return True


def _subscription_statuses(http: HttpClient, email: str) -> dict[str, str]:
    """Subscription type id → the address's status."""
    reply = http.request(
        "GET",
        f"/communication-preferences/v3/status/email/{quote(email, safe='@')}",
        what="subscription status",
    )
    return {
        reply.get(item, "id", str): reply.get(item, "status", str)
        for item in reply.objects(reply.json_object(), "subscriptionStatuses")
    }
