"""The HubSpot CRM connector (CRM API v3, communication preferences v3).

A person is the contact whose email matches. Export reads every contact property with its
history and the notes attached to the contact; erase is HubSpot's GDPR delete; restrict sets a
custom property; rectify updates the mapped properties; object unsubscribes the address from the
configured subscription types.
"""

from __future__ import annotations

from collections.abc import Mapping
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

SYSTEM = "HubSpot"
CONTACTS = "/crm/v3/objects/contacts"
# Generic field → HubSpot contact property. HubSpot keeps no single "name" property.
PROPERTY_FOR_FIELD = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "company": "company",
    "job_title": "jobtitle",
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
NOTES_PAGE = 500
NOTES_BATCH = 100


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
    timeout_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        read = SettingsReader(SYSTEM, config, secrets=secrets)
        token, token_env = read.secret(
            "token_env", default_env="DSAR_SECRET_HUBSPOT_TOKEN", what="token"
        )
        return cls(
            base_url=read.base_url(),
            token=token,
            token_env=token_env,
            subscription_ids=tuple(read.text_list("subscription_ids", required=True)),
            legal_basis=read.choice("legal_basis", LEGAL_BASES, "LEGITIMATE_INTEREST_OTHER"),
            legal_basis_explanation=read.text(
                "legal_basis_explanation",
                "The person objected to direct marketing (Art. 21 GDPR) in a data-subject request.",
            ),
            restricted_property=read.text("restricted_property", "dsar_processing_restricted"),
            reason_property=read.text("reason_property", "dsar_restriction_reason"),
            timeout_s=read.number("timeout_s", 10.0),
        )


@dataclass(frozen=True)
class Contact:
    id: str
    properties: dict[str, Any]


class HubSpotConnector(HttpConnector[HubSpotSettings]):
    key = "hubspot"
    display_name = SYSTEM
    supports = frozenset(Action)

    settings_class = HubSpotSettings

    def client_auth(self) -> dict[str, Any]:
        return {
            "credentials_hint": f"check the private-app token in {self.settings.token_env}",
            "headers": {"Authorization": f"Bearer {self.settings.token}"},
        }

    # --- actions -------------------------------------------------------------------------------

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        counter = CountingSink(sink)
        with self._client() as http:
            contacts = _find(http, identity, ["email"])
            if not contacts:
                return counter.outcome()
            names = _property_names(http)
            for contact in contacts:
                _export_contact(http, contact.id, names, counter)
                _export_notes(http, contact.id, counter)
        return counter.outcome()

    def erase(self, identity: Identity) -> Outcome:
        with self._client() as http:
            contacts = _find(http, identity, ["email"])
            # An unknown address is left alone: GDPR delete would blocklist it, which would
            # stop a person we never held from ever being added.
            if not contacts:
                return Outcome.nothing_found(Action.ERASE)
            http.request(
                "POST",
                f"{CONTACTS}/gdpr-delete",
                what="GDPR delete",
                json={"objectId": identity.normalized_email, "idProperty": "email"},
            )
        ids = [contact.id for contact in contacts]
        return Outcome(
            action=Action.ERASE,
            kind=OutcomeKind.ERASED,
            summary=f"Deleted contact {', '.join(ids)} with its notes and history (GDPR delete)",
            changed=[f"contact {i} deleted with its notes and property history" for i in ids],
            details={"contact_ids": ids, "address_blocklisted": True},
        )

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        flag = self.settings.restricted_property
        with self._client() as http:
            contacts = _find(http, identity, ["email", flag])
            if not contacts:
                return Outcome.nothing_found(Action.RESTRICT)
            changed = []
            for contact in contacts:
                if str(contact.properties.get(flag) or "").lower() == "true":
                    continue
                _update(http, contact.id, {flag: "true", self.settings.reason_property: reason})
                changed.append(f"contact {contact.id} marked as restricted ({flag})")
        summary = "Marked the contact as restricted" if changed else "Already restricted"
        return Outcome(Action.RESTRICT, OutcomeKind.RESTRICTED, summary=summary, changed=changed)

    def rectify(self, identity: Identity, *, changes: Mapping[str, str]) -> Outcome:
        not_held = sorted(name for name in changes if name not in PROPERTY_FOR_FIELD)
        wanted = {
            PROPERTY_FOR_FIELD[name]: value.strip().lower() if name == "email" else value
            for name, value in changes.items()
            if name in PROPERTY_FOR_FIELD
        }
        with self._client() as http:
            contacts = _find(http, identity, ["email", *wanted])
            if not contacts:
                return Outcome.nothing_found(Action.RECTIFY)
            changed = []
            for contact in contacts:
                differing = {
                    prop: value
                    for prop, value in wanted.items()
                    if str(contact.properties.get(prop) or "") != value
                }
                if differing:
                    _update(http, contact.id, differing)
                    changed.append(
                        f"contact {contact.id}: {', '.join(sorted(differing))} corrected"
                    )
        return Outcome.rectified(
            corrections=[], changed=changed, not_held=not_held, holder="HubSpot"
        )

    def object(self, identity: Identity) -> Outcome:
        email = identity.normalized_email
        with self._client() as http:
            if not _find(http, identity, ["email"]):
                return Outcome.nothing_found(Action.OBJECT)
            statuses = _subscription_statuses(http, email)
            changed = []
            for sub in self.settings.subscription_ids:
                if sub not in statuses:
                    raise http.error(
                        f"HubSpot has no subscription type {sub}: check subscription_ids"
                    )
                name, status = statuses[sub]
                if status != "SUBSCRIBED":
                    continue
                http.request(
                    "POST",
                    "/communication-preferences/v3/unsubscribe",
                    what="unsubscribe",
                    json={
                        "emailAddress": email,
                        "subscriptionId": sub,
                        "legalBasis": self.settings.legal_basis,
                        "legalBasisExplanation": self.settings.legal_basis_explanation,
                    },
                )
                changed.append(f"unsubscribed from {name} ({sub})")
        summary = "Unsubscribed from all marketing" if changed else "Already unsubscribed"
        return Outcome(Action.OBJECT, OutcomeKind.UNSUBSCRIBED, summary=summary, changed=changed)


# --- requests ------------------------------------------------------------------------------------


def _find(http: HttpClient, identity: Identity, properties: list[str]) -> list[Contact]:
    email = identity.normalized_email
    reply = http.request(
        "POST",
        f"{CONTACTS}/search",
        what="contact search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
            ],
            "properties": properties,
            "limit": 10,
        },
    )
    data = reply.json_object()
    contacts = []
    for result in reply.objects(data, "results"):
        props = reply.as_object(reply.get(result, "properties", dict), "'properties'")
        # Search matches loosely; act only on the contact whose address is exactly this one.
        if str(props.get("email") or "").lower() == email:
            contacts.append(Contact(id=reply.get(result, "id", str), properties=props))
    return contacts


def _property_names(http: HttpClient) -> list[str]:
    reply = http.request("GET", "/crm/v3/properties/contacts", what="property list")
    return [reply.get(item, "name", str) for item in reply.objects(reply.json_object(), "results")]


def _export_contact(http: HttpClient, contact_id: str, names: list[str], sink: RecordSink) -> None:
    joined = ",".join(names)
    reply = http.request(
        "GET",
        f"{CONTACTS}/{quote(contact_id, safe='')}",
        what="contact read",
        params={"properties": joined, "propertiesWithHistory": joined},
    )
    data = reply.json_object()
    properties = reply.get(data, "properties", dict)
    sink.write(
        "contact",
        {
            "id": contact_id,
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
                    "contact_id": contact_id,
                    "property": name,
                    "value": reply.optional(entry, "value", str, ""),
                    "timestamp": reply.get(entry, "timestamp", str),
                    "source": reply.optional(entry, "sourceType", str, ""),
                },
            )


def _export_notes(http: HttpClient, contact_id: str, sink: RecordSink) -> None:
    after = ""
    while True:
        params: dict[str, str | int] = {"limit": NOTES_PAGE}
        if after:
            params["after"] = after
        reply = http.request(
            "GET",
            f"/crm/v4/objects/contacts/{quote(contact_id, safe='')}/associations/notes",
            what="note list",
            params=params,
        )
        data = reply.json_object()
        note_ids = [
            str(reply.get(link, "toObjectId", int)) for link in reply.objects(data, "results")
        ]
        for start in range(0, len(note_ids), NOTES_BATCH):
            _export_note_batch(http, contact_id, note_ids[start : start + NOTES_BATCH], sink)
        paging = reply.optional(data, "paging", dict, {})
        after = reply.optional(reply.optional(paging, "next", dict, {}), "after", str, "")
        if not after:
            return


def _export_note_batch(
    http: HttpClient, contact_id: str, note_ids: list[str], sink: RecordSink
) -> None:
    reply = http.request(
        "POST",
        "/crm/v3/objects/notes/batch/read",
        what="note read",
        json={
            "properties": ["hs_note_body", "hs_timestamp"],
            "inputs": [{"id": note_id} for note_id in note_ids],
        },
        # 207: some notes went between listing and reading them; the rest are still read.
        accept=(207,),
    )
    for note in reply.objects(reply.json_object(), "results"):
        properties = reply.get(note, "properties", dict)
        sink.write(
            "notes",
            {
                "id": reply.get(note, "id", str),
                "contact_id": contact_id,
                "timestamp": reply.optional(properties, "hs_timestamp", str, ""),
                "body": reply.optional(properties, "hs_note_body", str, ""),
            },
        )


def _update(http: HttpClient, contact_id: str, properties: Mapping[str, str]) -> None:
    http.request(
        "PATCH",
        f"{CONTACTS}/{quote(contact_id, safe='')}",
        what="contact update",
        json={"properties": dict(properties)},
    )


def _subscription_statuses(http: HttpClient, email: str) -> dict[str, tuple[str, str]]:
    """Subscription type id → (its name, the address's status)."""
    reply = http.request(
        "GET",
        f"/communication-preferences/v3/status/email/{quote(email, safe='@')}",
        what="subscription status",
    )
    statuses = {}
    for item in reply.objects(reply.json_object(), "subscriptionStatuses"):
        name = reply.optional(item, "name", str, "")
        statuses[reply.get(item, "id", str)] = (name, reply.get(item, "status", str))
    return statuses
