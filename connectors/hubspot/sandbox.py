"""A local stand-in for the HubSpot CRM API v3, loaded with the demo people.

It answers the routes the HubSpot connector uses with HubSpot's shapes: contact search, read
with property history, property definitions, note associations (v4) and note batch reads,
updates, GDPR delete (which also blocklists the address) and communication preferences. Wrong
tokens get 401; over 100 requests in 10 s get 429 with the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.demo_people import ADA, CRM_SUBSCRIPTIONS, DEMO_PEOPLE, DemoPerson, at
from connectors.sandbox_base import (
    BadRequest,
    RateLimit,
    Request,
    Response,
    Route,
    SandboxConfig,
    SandboxServer,
    new_id,
    route,
)

TOKEN = "demo-hubspot-token"  # noqa: S105  # nosec B105  # the sandbox's public demo token

# name → (label, type, field type)
PROPERTIES: dict[str, tuple[str, str, str]] = {
    "email": ("Email", "string", "text"),
    "firstname": ("First name", "string", "text"),
    "lastname": ("Last name", "string", "text"),
    "phone": ("Phone number", "string", "phonenumber"),
    "company": ("Company name", "string", "text"),
    "jobtitle": ("Job title", "string", "text"),
    "country": ("Country/Region", "string", "text"),
    "city": ("City", "string", "text"),
    "lifecyclestage": ("Lifecycle stage", "enumeration", "radio"),
    "hs_lead_status": ("Lead status", "enumeration", "radio"),
    "hs_analytics_num_page_views": ("Number of page views", "number", "number"),
    "createdate": ("Create date", "datetime", "date"),
    "lastmodifieddate": ("Last modified date", "datetime", "date"),
    "hs_object_id": ("Record ID", "number", "number"),
    "dsar_processing_restricted": ("Processing restricted (GDPR)", "bool", "booleancheckbox"),
    "dsar_restriction_reason": ("Restriction reason (GDPR)", "string", "textarea"),
}
DEFAULT_PROPERTIES = ("createdate", "hs_object_id", "lastmodifieddate")
# Which properties the generated history of a busy contact changes, and through which values.
HISTORY_CYCLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hs_analytics_num_page_views", ()),
    ("hs_lead_status", ("NEW", "OPEN", "IN_PROGRESS", "CONNECTED")),
    ("lifecyclestage", ("subscriber", "lead", "marketingqualifiedlead", "opportunity")),
    ("city", ("London", "Berlin", "Tokyo", "Oberursel")),
)
ADA_NOTES = (
    "Met at the conference; interested in the enterprise plan.",
    "Sent the quote for 25 seats.",
    "Asked for invoices to go to the accounts department.",
)
NOTE_TYPE = {"category": "HUBSPOT_DEFINED", "typeId": 202, "label": None}
NOTE_ID_DIGITS = 4


@dataclass
class Contact:
    id: str
    person: DemoPerson
    properties: dict[str, str]
    created_at: str
    subscriptions: dict[str, str]
    # Changes made through the API, oldest first; generated history comes from ``person``.
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    updated_at: str = ""

    def history(self, name: str) -> list[dict[str, Any]]:
        """The property's values, newest first, as HubSpot's ``propertiesWithHistory``."""
        entries = [
            {"value": value, "timestamp": when, "sourceType": "INTEGRATION", "sourceId": "dsar"}
            for prop, value, when in reversed(self.changes)
            if prop == name
        ]
        for index in reversed(range(self.person.crm_history)):
            prop, value = _generated_change(index)
            if prop == name:
                entries.append(_entry(value, index + 1, "ANALYTICS"))
        initial = _initial_properties(self.person, self.id).get(name)
        if initial is not None:
            entries.append(_entry(initial, 0, "CRM_UI"))
        return entries


def _entry(value: str, index: int, source: str) -> dict[str, Any]:
    return {"value": value, "timestamp": _iso(index), "sourceType": source, "sourceId": None}


def _iso(index: int) -> str:
    return at(index).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _current_properties(person: DemoPerson, contact_id: str) -> dict[str, str]:
    """The values at creation, overwritten by the last generated change of each property."""
    values = _initial_properties(person, contact_id)
    for index in range(max(0, person.crm_history - len(HISTORY_CYCLE)), person.crm_history):
        prop, value = _generated_change(index)
        values[prop] = value
    return values


def _generated_change(index: int) -> tuple[str, str]:
    """The ``index``-th generated property change: the properties take turns."""
    prop, values = HISTORY_CYCLE[index % len(HISTORY_CYCLE)]
    turn = index // len(HISTORY_CYCLE)
    return prop, values[turn % len(values)] if values else str(turn)


def _initial_properties(person: DemoPerson, contact_id: str) -> dict[str, str]:
    values = {
        "email": person.email,
        "firstname": person.first_name,
        "lastname": person.last_name,
        "phone": person.phone,
        "company": person.company,
        "jobtitle": person.job_title,
        "country": person.country,
        "lifecyclestage": "customer",
        "createdate": _iso(0),
        "lastmodifieddate": _iso(0),
        "hs_object_id": contact_id,
    }
    return {name: value for name, value in values.items() if value}


class HubSpotSandbox(SandboxServer):
    system = "HubSpot"

    def __init__(self, *, token: str = TOKEN, seed: int = 0, **config: Any) -> None:
        self.token = token
        super().__init__(seed=seed, **config)

    @classmethod
    def default_config(cls) -> SandboxConfig:
        return SandboxConfig(rate_limit=RateLimit(requests=100, window_s=10.0))

    def load(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.blocklist: set[str] = set()
        self.unsubscribed: dict[tuple[str, str], dict[str, str]] = {}
        crm_people = [person for person in DEMO_PEOPLE if person.in_crm]
        for number, person in enumerate(crm_people, start=1):
            contact_id = str(1000 + number)
            self.contacts[contact_id] = Contact(
                id=contact_id,
                person=person,
                properties=_current_properties(person, contact_id),
                created_at=_iso(0),
                updated_at=_iso(person.crm_history),
                subscriptions={
                    sub: "SUBSCRIBED" if sub in person.crm_subscriptions else "NOT_SUBSCRIBED"
                    for sub in CRM_SUBSCRIPTIONS
                },
            )

    def routes(self) -> list[Route]:
        contacts = "/crm/v3/objects/contacts"
        preferences = "/communication-preferences/v3"
        return [
            route("POST", f"{contacts}/search", self.search),
            route("POST", f"{contacts}/gdpr-delete", self.gdpr_delete),
            route("GET", f"{contacts}/{{contact_id}}", self.read),
            route("PATCH", f"{contacts}/{{contact_id}}", self.update),
            route("GET", "/crm/v3/properties/contacts", self.property_definitions),
            route(
                "GET", "/crm/v4/objects/contacts/{contact_id}/associations/notes", self.note_links
            ),
            route("POST", "/crm/v3/objects/notes/batch/read", self.read_notes),
            route("GET", f"{preferences}/status/email/{{email}}", self.subscription_status),
            route("POST", f"{preferences}/unsubscribe", self.unsubscribe),
        ]

    # --- shapes ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return None
        return self.error(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication "
            "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
            "oauth-overview",
        )

    def error(self, status: int, message: str) -> Response:
        category = {
            400: "VALIDATION_ERROR",
            401: "INVALID_AUTHENTICATION",
            404: "OBJECT_NOT_FOUND",
            409: "CONFLICT",
        }.get(status, "INTERNAL_ERROR")
        body = {
            "status": "error",
            "message": message,
            "correlationId": new_id(),
            "category": category,
        }
        return Response(status, body)

    def too_many(self, wait_s: float | None) -> Response:
        limit = self.config.rate_limit or RateLimit(requests=100, window_s=10.0)
        return Response(
            429,
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": new_id(),
                "policyName": "TEN_SECONDLY_ROLLING",
            },
            headers={
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(limit.window_s * 1000)),
                "X-HubSpot-RateLimit-Max": str(limit.requests),
                "X-HubSpot-RateLimit-Remaining": "0",
            },
        )

    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        email = query.get("email", "").lower()
        contact = self._by_email(email)
        if contact is None:
            return {"exists": False, "blocklisted": email in self.blocklist}
        return {
            "exists": True,
            "id": contact.id,
            "restricted": contact.properties.get("dsar_processing_restricted") == "true",
            "restriction_reason": contact.properties.get("dsar_restriction_reason"),
            "subscriptions": dict(contact.subscriptions),
            "unsubscribe_legal_basis": {
                sub: basis
                for (address, sub), basis in self.unsubscribed.items()
                if address == email
            },
            "properties": dict(contact.properties),
            "blocklisted": False,
        }

    def _by_email(self, email: str) -> Contact | None:
        for contact in self.contacts.values():
            if contact.properties.get("email", "").lower() == email:
                return contact
        return None

    def _contact(self, request: Request) -> Contact | Response:
        contact = self.contacts.get(request.params["contact_id"])
        if contact is None:
            return self.error(404, "Object not found.  objectId are usually numeric.")
        return contact

    def _object(self, contact: Contact, names: list[str]) -> dict[str, Any]:
        wanted = [*names, *DEFAULT_PROPERTIES]
        return {
            "id": contact.id,
            "properties": {name: contact.properties.get(name) for name in wanted},
            "createdAt": contact.created_at,
            "updatedAt": contact.updated_at,
            "archived": False,
        }

    # --- routes ------------------------------------------------------------------------------

    def search(self, request: Request) -> Response:
        body = request.json_object()
        try:
            (group,) = body["filterGroups"]
            (rule,) = group["filters"]
            prop, operator, value = rule["propertyName"], rule["operator"], rule["value"]
        except (KeyError, TypeError, ValueError):
            raise BadRequest(
                "Invalid input JSON: expected one filter group with one filter"
            ) from None
        if (prop, operator) != ("email", "EQ") or not isinstance(value, str):
            raise BadRequest("The sandbox searches by email with the EQ operator only")
        names = body.get("properties") or ["email", "firstname", "lastname"]
        found = [
            c for c in self.contacts.values() if c.properties.get("email", "") == value.lower()
        ]
        return Response(
            200, {"total": len(found), "results": [self._object(c, names) for c in found]}
        )

    def read(self, request: Request) -> Response:
        contact = self._contact(request)
        if isinstance(contact, Response):
            return contact
        names = _names(request, "properties") or ["email", "firstname", "lastname"]
        body = self._object(contact, names)
        with_history = _names(request, "propertiesWithHistory")
        if with_history:
            body["propertiesWithHistory"] = {name: contact.history(name) for name in with_history}
        return Response(200, body)

    def update(self, request: Request) -> Response:
        contact = self._contact(request)
        if isinstance(contact, Response):
            return contact
        changes = request.json_object().get("properties")
        if not isinstance(changes, dict):
            raise BadRequest("Invalid input JSON: 'properties' must be an object")
        unknown = [name for name in changes if name not in PROPERTIES]
        if unknown:
            raise BadRequest(
                f'Property values were not valid: Property "{unknown[0]}" does not exist'
            )
        new_email = changes.get("email")
        if isinstance(new_email, str):
            other = self._by_email(new_email.lower())
            if other is not None and other is not contact:
                return self.error(409, "Contact already exists")
        stamp = _iso(contact.person.crm_history + len(contact.changes) + 1)
        for name, value in changes.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if name == "email":
                text = text.lower()
            if text:
                contact.properties[name] = text
            else:
                contact.properties.pop(name, None)
            contact.changes.append((name, text, stamp))
        contact.properties["lastmodifieddate"] = contact.updated_at = stamp
        return Response(200, self._object(contact, list(changes)))

    def gdpr_delete(self, request: Request) -> Response:
        body = request.json_object()
        object_id = body.get("objectId")
        if not isinstance(object_id, str) or not object_id:
            raise BadRequest("Invalid input JSON: 'objectId' is required")
        if body.get("idProperty") == "email":
            contact = self._by_email(object_id.lower())
            # HubSpot blocklists an address it does not know, so it is never added later.
            self.blocklist.add(object_id.lower())
        else:
            contact = self.contacts.get(object_id)
        if contact is not None:
            self.blocklist.add(contact.properties.get("email", ""))
            del self.contacts[contact.id]
        return Response(204)

    def property_definitions(self, request: Request) -> Response:
        results = [
            {
                "name": name,
                "label": label,
                "type": kind,
                "fieldType": field_type,
                "groupName": "contactinformation",
                "hidden": False,
            }
            for name, (label, kind, field_type) in PROPERTIES.items()
        ]
        return Response(200, {"results": results})

    def note_links(self, request: Request) -> Response:
        contact = self._contact(request)
        if isinstance(contact, Response):
            return contact
        limit = min(max(request.int_arg("limit", 500), 1), 500)
        start = request.int_arg("after", 0)
        end = min(start + limit, contact.person.crm_notes)
        body: dict[str, Any] = {
            "results": [
                {"toObjectId": int(_note_id(contact.id, index)), "associationTypes": [NOTE_TYPE]}
                for index in range(start, end)
            ]
        }
        if end < contact.person.crm_notes:
            body["paging"] = {"next": {"after": str(end)}}
        return Response(200, body)

    def read_notes(self, request: Request) -> Response:
        inputs = request.json_object().get("inputs")
        if not isinstance(inputs, list) or not 0 < len(inputs) <= 100:
            raise BadRequest("Invalid input JSON: 'inputs' must hold 1 to 100 ids")
        results, missing = [], []
        for item in inputs:
            note_id = str(item.get("id")) if isinstance(item, dict) else ""
            note = self._note(note_id)
            if note is None:
                missing.append(note_id)
            else:
                results.append(note)
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": _iso(0),
            "completedAt": _iso(0),
        }
        if not missing:
            return Response(200, body)
        body["numErrors"] = 1
        body["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some NOTE objects, they may be deleted or not exist.",
                "context": {"ids": missing},
            }
        ]
        return Response(207, body)

    def _note(self, note_id: str) -> dict[str, Any] | None:
        contact = self.contacts.get(note_id[:-NOTE_ID_DIGITS])
        index = int(note_id[-NOTE_ID_DIGITS:]) - 1 if note_id[-NOTE_ID_DIGITS:].isdigit() else -1
        if contact is None or not 0 <= index < contact.person.crm_notes:
            return None
        if contact.person is ADA:
            text = ADA_NOTES[index % len(ADA_NOTES)]
        else:
            text = f"Support call {index + 1}: went through open tickets and next steps."
        when = _iso(index * 3 + 1)
        return {
            "id": note_id,
            "properties": {
                "hs_note_body": f"<p>{text}</p>",
                "hs_timestamp": when,
                "hs_createdate": when,
                "hs_lastmodifieddate": when,
                "hs_object_id": note_id,
            },
            "createdAt": when,
            "updatedAt": when,
            "archived": False,
        }

    def subscription_status(self, request: Request) -> Response:
        email = request.params["email"].lower()
        contact = self._by_email(email)
        statuses = []
        for sub, name in CRM_SUBSCRIPTIONS.items():
            status = contact.subscriptions[sub] if contact else "NOT_SUBSCRIBED"
            statuses.append(_subscription(sub, name, status))
        return Response(200, {"recipient": email, "subscriptionStatuses": statuses})

    def unsubscribe(self, request: Request) -> Response:
        body = request.json_object()
        email = str(body.get("emailAddress", "")).lower()
        sub = str(body.get("subscriptionId", ""))
        if sub not in CRM_SUBSCRIPTIONS:
            raise BadRequest(f"Subscription {sub} does not exist")
        if not body.get("legalBasis"):
            raise BadRequest("A legal basis is required in a GDPR-enabled portal")
        contact = self._by_email(email)
        if contact is None or contact.subscriptions[sub] != "SUBSCRIBED":
            raise BadRequest(f"{email} is already unsubscribed from subscription {sub}")
        contact.subscriptions[sub] = "NOT_SUBSCRIBED"
        self.unsubscribed[(email, sub)] = {
            "legalBasis": str(body["legalBasis"]),
            "legalBasisExplanation": str(body.get("legalBasisExplanation", "")),
        }
        return Response(200, _subscription(sub, CRM_SUBSCRIPTIONS[sub], "NOT_SUBSCRIBED"))


def _subscription(sub: str, name: str, status: str) -> dict[str, Any]:
    return {
        "id": sub,
        "name": name,
        "description": f"{name} emails",
        "status": status,
        "sourceOfStatus": "SUBSCRIPTION_STATUS",
    }


def _names(request: Request, key: str) -> list[str]:
    """HubSpot accepts a list parameter comma-separated, repeated, or both."""
    return [name for value in request.query.get(key, []) for name in value.split(",") if name]


def _note_id(contact_id: str, index: int) -> str:
    return f"{contact_id}{index + 1:0{NOTE_ID_DIGITS}d}"
