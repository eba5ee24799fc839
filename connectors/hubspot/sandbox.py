"""A local stand-in for the HubSpot CRM API, loaded with the demo people.

It answers the routes the HubSpot connector uses, each under both path families from one
handler: the legacy numeric ones (``/crm/v3/objects/...``, ``/crm/v4/objects/.../associations``,
``/crm/v3/properties/...``), which the ``hubspot-api-client`` package still calls, and the
date-versioned ones that replace them (``/crm/objects/2026-03/...``,
``/crm/properties/2026-03/...``; the legacy v4 association paths lose support on 30 March 2027,
v1-v3 in September 2027, HubSpot developer changelog).

- contact search (at most 5 filter groups, OR-ed; ``EQ`` and ``CONTAINS_TOKEN`` on ``email``
  and ``hs_additional_emails``; never archived contacts) and batch read (``idProperty``,
  ``properties``, ``propertiesWithHistory``, ``?archived=true`` for contacts archived in the
  last 90 days; 207 when some ids are not found);
- a portal with some 330 contact properties, as real portals have: a read that names them all
  in its query string is longer than the 8,000 characters HubSpot accepts and gets 414;
- property definitions, one property, and property creation (the connector's two custom
  properties do not exist until created);
- engagement associations (notes, emails, calls, meetings, tasks) and their batch reads;
- the Forms submissions API per form (``/form-integrations/v1/submissions/forms/{guid}``) and the
  form list (``/marketing/v3/forms``): submissions are not CRM associations;
- updates (400 for a property that does not exist), GDPR delete by id or by email (which deletes
  only a primary address's contact, and blocklists the address given), and communication
  preferences (definitions, status, unsubscribe with a legal basis; and v4's opt-out of all
  email, ``/communication-preferences/v4/statuses/{email}/unsubscribe-all``, after which the v3
  status reads every subscription as ``NOT_SUBSCRIBED`` with ``sourceOfStatus``
  ``PORTAL_WIDE_STATUS``).

Wrong tokens get 401; over 100 requests in 10 s get 429 ``TEN_SECONDLY_ROLLING``, and searches
beyond 4 a second 429 ``SECONDLY``; non-search replies carry the ``X-HubSpot-RateLimit-*``
headers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

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
DATED = "2026-03"

# name → (label, type, field type)
PROPERTIES: dict[str, tuple[str, str, str]] = {
    "email": ("Email", "string", "text"),
    "hs_additional_emails": ("Additional email addresses", "enumeration", "checkbox"),
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
}
# What a real portal also has: hundreds of HubSpot-defined and custom properties.
PORTAL_PROPERTIES = 315
MAX_URL_LENGTH = 8000
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
# Engagement object → (type id, the DemoPerson count, the digit that marks its ids, properties)
ENGAGEMENTS: dict[str, tuple[int, str, str]] = {
    "notes": (202, "crm_notes", "1"),
    "emails": (198, "crm_emails", "2"),
    "calls": (194, "crm_calls", "3"),
    "meetings": (200, "crm_meetings", "4"),
    "tasks": (204, "crm_tasks", "5"),
}
ID_DIGITS = 4
FORMS = {
    "7f1c0d2e-0000-4000-8000-000000000001": "Contact us",
    "7f1c0d2e-0000-4000-8000-000000000002": "Webinar sign-up",
}
SUBSCRIPTION_PURPOSE = "Marketing"
WIDE = "/communication-preferences/v4/statuses"


@dataclass
class Contact:
    id: str
    person: DemoPerson
    properties: dict[str, str]
    created_at: str
    subscriptions: dict[str, str]
    archived: bool = False
    # Changes made through the API, oldest first; generated history comes from ``person``.
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    updated_at: str = ""

    def addresses(self) -> list[str]:
        extra = self.properties.get("hs_additional_emails", "")
        return [self.properties.get("email", ""), *(a for a in extra.split(";") if a)]

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
        "hs_additional_emails": ";".join(person.other_emails),
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


def _portal_properties() -> dict[str, dict[str, Any]]:
    definitions = {
        name: _definition(name, label, kind, field_type, hubspot_defined=True)
        for name, (label, kind, field_type) in PROPERTIES.items()
    }
    for number in range(1, PORTAL_PROPERTIES + 1):
        name = f"hs_custom_field_{number:03d}"
        definitions[name] = _definition(name, f"Custom field {number}", "string", "text")
    return definitions


def _definition(
    name: str, label: str, kind: str, field_type: str, *, hubspot_defined: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "groupName": "contactinformation",
        "description": "",
        "options": [],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": False,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not hubspot_defined,
        "createdAt": _iso(0),
        "updatedAt": _iso(0),
        "archived": False,
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": False,
        },
    }


class HubSpotSandbox(SandboxServer):
    system = "HubSpot"
    max_url_length: ClassVar[int | None] = MAX_URL_LENGTH

    def __init__(self, *, token: str = TOKEN, seed: int = 0, **config: Any) -> None:
        self.token = token
        super().__init__(seed=seed, **config)

    @classmethod
    def default_config(cls) -> SandboxConfig:
        return SandboxConfig(
            rate_limit=RateLimit(requests=100, window_s=10.0),
            class_rate_limits=(("search", RateLimit(requests=4, window_s=1.0)),),
        )

    def load(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.blocklist: set[str] = set()
        self.unsubscribed: dict[tuple[str, str], dict[str, str]] = {}
        # Addresses opted out of all email, portal-wide, with when (HubSpot keeps this per
        # address, not per contact).
        self.opted_out: dict[str, str] = {}
        self.properties = _portal_properties()
        crm_people = [person for person in DEMO_PEOPLE if person.in_crm]
        for number, person in enumerate(crm_people, start=1):
            contact_id = str(1000 + number)
            self.contacts[contact_id] = Contact(
                id=contact_id,
                person=person,
                properties=_current_properties(person, contact_id),
                created_at=_iso(0),
                updated_at=_iso(person.crm_history),
                archived=person.crm_archived,
                subscriptions={
                    sub: "SUBSCRIBED" if sub in person.crm_subscriptions else "NOT_SUBSCRIBED"
                    for sub in CRM_SUBSCRIPTIONS
                },
            )

    def routes(self) -> list[Route]:
        routes: list[Route] = []
        for objects, properties, associations in (
            ("/crm/v3/objects", "/crm/v3/properties", "/crm/v4/objects"),
            (f"/crm/objects/{DATED}", f"/crm/properties/{DATED}", f"/crm/objects/{DATED}"),
        ):
            contacts = f"{objects}/contacts"
            routes += [
                route("POST", f"{contacts}/search", self.search),
                route("POST", f"{contacts}/gdpr-delete", self.gdpr_delete),
                route("POST", f"{contacts}/batch/read", self.read_contacts),
                route("GET", f"{contacts}/{{contact_id}}", self.read),
                route("PATCH", f"{contacts}/{{contact_id}}", self.update),
                route("GET", f"{properties}/contacts", self.property_definitions),
                route("POST", f"{properties}/contacts", self.create_property),
                route("GET", f"{properties}/contacts/{{name}}", self.property_definition),
                route(
                    "GET",
                    f"{associations}/contacts/{{contact_id}}/associations/{{kind}}",
                    self.engagement_links,
                ),
                route("POST", f"{objects}/{{kind}}/batch/read", self.read_engagements),
            ]
        preferences = "/communication-preferences/v3"
        return [
            *routes,
            route("GET", f"{preferences}/definitions", self.subscription_definitions),
            route("GET", f"{preferences}/status/email/{{email}}", self.subscription_status),
            route("POST", f"{preferences}/unsubscribe", self.unsubscribe),
            route("GET", f"{WIDE}/{{email}}/unsubscribe-all", self.opt_out_status),
            route("POST", f"{WIDE}/{{email}}/unsubscribe-all", self.opt_out_of_all),
            route("GET", "/marketing/v3/forms", self.forms),
            route("GET", "/marketing/v3/forms/", self.forms),
            route("GET", "/form-integrations/v1/submissions/forms/{guid}", self.submissions),
        ]

    def limit_classes(self, request: Request) -> list[str]:
        # Search requests have their own, stricter limit on top of the general one.
        if request.path.endswith("/search"):
            return ["general", "search"]
        return ["general"]

    def on_reply(self, request: Request, response: Response, config: SandboxConfig) -> None:
        # HubSpot sends its rate-limit headers on every reply but those of search requests.
        general = config.limits().get("general")
        if general is None or request.path.endswith("/search"):
            return
        remaining = self.remaining("general", config)
        response.headers.update(
            {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(general.window_s * 1000)),
                "X-HubSpot-RateLimit-Max": str(general.requests),
                "X-HubSpot-RateLimit-Remaining": str(remaining),
            }
        )

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
            403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND",
            409: "CONFLICT",
            414: "VALIDATION_ERROR",
        }.get(status, "INTERNAL_ERROR")
        body = {
            "status": "error",
            "message": message,
            "correlationId": new_id(),
            "category": category,
        }
        return Response(status, body)

    def too_many(self, wait_s: float | None, limit_class: str = "general") -> Response:
        limit = self.config.limits().get(limit_class) or RateLimit(requests=100, window_s=10.0)
        secondly = limit_class == "search"
        return Response(
            429,
            {
                "status": "error",
                "message": "You have reached your secondly limit."
                if secondly
                else "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": new_id(),
                "policyName": "SECONDLY" if secondly else "TEN_SECONDLY_ROLLING",
            },
            headers={
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(limit.window_s * 1000)),
                "X-HubSpot-RateLimit-Max": str(limit.requests),
                "X-HubSpot-RateLimit-Remaining": "0",
            },
        )

    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        email = query.get("email", "").lower()
        contact = self._by_address(email, archived=None)
        if contact is None:
            return {"exists": False, "blocklisted": email in self.blocklist}
        return {
            "exists": True,
            "id": contact.id,
            "archived": contact.archived,
            "restricted": contact.properties.get("dsar_processing_restricted") == "true",
            "restriction_reason": contact.properties.get("dsar_restriction_reason"),
            "subscriptions": dict(contact.subscriptions),
            "unsubscribe_legal_basis": {
                sub: basis
                for (address, sub), basis in self.unsubscribed.items()
                if address == contact.properties.get("email")
            },
            "properties": dict(contact.properties),
            "blocklisted": email in self.blocklist,
            "opted_out_of_all_email": email in self.opted_out,
        }

    def _by_address(self, email: str, *, archived: bool | None = False) -> Contact | None:
        for contact in self.contacts.values():
            if archived is not None and contact.archived != archived:
                continue
            if email in contact.addresses():
                return contact
        return None

    def _contact(self, request: Request) -> Contact | Response:
        contact = self.contacts.get(request.params["contact_id"])
        if contact is None or contact.archived:
            return self.error(404, "Object not found.  objectId are usually numeric.")
        return contact

    def _object(self, contact: Contact, names: list[str]) -> dict[str, Any]:
        wanted = [*names, *DEFAULT_PROPERTIES]
        return {
            "id": contact.id,
            "properties": {name: contact.properties.get(name) for name in wanted},
            "createdAt": contact.created_at,
            "updatedAt": contact.updated_at,
            "archived": contact.archived,
            **({"archivedAt": _iso(contact.person.crm_history + 1)} if contact.archived else {}),
        }

    # --- contacts ----------------------------------------------------------------------------

    def search(self, request: Request) -> Response:
        body = request.json_object()
        groups = body.get("filterGroups")
        if not isinstance(groups, list) or not 0 < len(groups) <= 5:
            raise BadRequest("Invalid input JSON: filterGroups must hold 1 to 5 groups")
        found: dict[str, Contact] = {}
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list) or not filters:
                raise BadRequest("Invalid input JSON: each filter group needs filters")
            for contact in self.contacts.values():
                if not contact.archived and all(_matches(contact, rule) for rule in filters):
                    found[contact.id] = contact
        names = body.get("properties") or ["email", "firstname", "lastname"]
        results = [self._object(c, names) for c in found.values()]
        return Response(200, {"total": len(results), "results": results})

    def read_contacts(self, request: Request) -> Response:
        body = request.json_object()
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 0 < len(inputs) <= 100:
            raise BadRequest("Invalid input JSON: 'inputs' must hold 1 to 100 ids")
        archived = request.arg("archived").lower() == "true"
        id_property = body.get("idProperty") or "hs_object_id"
        names = [str(n) for n in body.get("properties") or ["email", "firstname", "lastname"]]
        history = [str(n) for n in body.get("propertiesWithHistory") or []]
        results, missing = [], []
        for item in inputs:
            key = str(item.get("id")) if isinstance(item, dict) else ""
            if id_property == "email":
                contact = next(
                    (
                        c
                        for c in self.contacts.values()
                        if c.archived == archived and c.properties.get("email") == key.lower()
                    ),
                    None,
                )
            else:
                contact = self.contacts.get(key)
                contact = contact if contact and contact.archived == archived else None
            if contact is None:
                missing.append(key)
                continue
            result = self._object(contact, names)
            if history:
                result["propertiesWithHistory"] = {n: contact.history(n) for n in history}
            results.append(result)
        return _batch(results, missing, "CONTACT")

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
        unknown = [name for name in changes if name not in self.properties]
        if unknown:
            raise BadRequest(
                f'Property values were not valid: Property "{unknown[0]}" does not exist'
            )
        new_email = changes.get("email")
        if isinstance(new_email, str):
            other = self._by_address(new_email.lower())
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
            address = object_id.lower()
            # Only a primary address names a contact here; the address given is blocklisted
            # either way, so it is never added again.
            contact = next(
                (c for c in self.contacts.values() if c.properties.get("email") == address), None
            )
            self.blocklist.add(address)
        else:
            contact = self.contacts.get(object_id)
        if contact is None:
            return self.error(404, "Object not found.  objectId are usually numeric.")
        self.blocklist.add(contact.properties.get("email", ""))
        del self.contacts[contact.id]
        return Response(204)

    # --- properties --------------------------------------------------------------------------

    def property_definitions(self, request: Request) -> Response:
        return Response(200, {"results": list(self.properties.values())})

    def property_definition(self, request: Request) -> Response:
        definition = self.properties.get(request.params["name"])
        if definition is None:
            return self.error(404, f"Unable to find property {request.params['name']}")
        return Response(200, definition)

    def create_property(self, request: Request) -> Response:
        body = request.json_object()
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise BadRequest(f"Invalid input JSON: missing {', '.join(missing)}")
        name = str(body["name"])
        if name in self.properties:
            return self.error(409, f"Property named '{name}' already exists.")
        definition = _definition(name, str(body["label"]), str(body["type"]), body["fieldType"])
        definition.update(
            {k: body[k] for k in ("description", "options", "groupName") if k in body}
        )
        self.properties[name] = definition
        return Response(201, definition)

    # --- engagements -------------------------------------------------------------------------

    def engagement_links(self, request: Request) -> Response:
        contact = self._contact(request)
        if isinstance(contact, Response):
            return contact
        kind = request.params["kind"]
        if kind not in ENGAGEMENTS:
            return self.error(400, f"Unable to infer object type from: {kind}")
        type_id, count_name, _digit = ENGAGEMENTS[kind]
        total = int(getattr(contact.person, count_name))
        limit = min(max(request.int_arg("limit", 500), 1), 500)
        start = request.int_arg("after", 0)
        end = min(start + limit, total)
        label = {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(_engagement_id(kind, contact.id, i)),
                    "associationTypes": [label],
                }
                for i in range(start, end)
            ]
        }
        if end < total:
            body["paging"] = {"next": {"after": str(end), "link": None}}
        return Response(200, body)

    def read_engagements(self, request: Request) -> Response:
        kind = request.params["kind"]
        if kind not in ENGAGEMENTS:
            return self.error(400, f"Unable to infer object type from: {kind}")
        inputs = request.json_object().get("inputs")
        if not isinstance(inputs, list) or not 0 < len(inputs) <= 100:
            raise BadRequest("Invalid input JSON: 'inputs' must hold 1 to 100 ids")
        results, missing = [], []
        for item in inputs:
            engagement_id = str(item.get("id")) if isinstance(item, dict) else ""
            engagement = self._engagement(kind, engagement_id)
            if engagement is None:
                missing.append(engagement_id)
            else:
                results.append(engagement)
        return _batch(results, missing, kind.upper().rstrip("S"))

    def _engagement(self, kind: str, engagement_id: str) -> dict[str, Any] | None:
        _type_id, count_name, digit = ENGAGEMENTS[kind]
        if not engagement_id.startswith(digit):
            return None
        contact = self.contacts.get(engagement_id[1:-ID_DIGITS])
        tail = engagement_id[-ID_DIGITS:]
        index = int(tail) - 1 if tail.isdigit() else -1
        if contact is None or not 0 <= index < int(getattr(contact.person, count_name)):
            return None
        when = _iso(index * 3 + 1)
        properties = {"hs_timestamp": when, "hs_createdate": when, "hs_object_id": engagement_id}
        properties |= _engagement_properties(kind, contact.person, index)
        return {
            "id": engagement_id,
            "properties": properties,
            "createdAt": when,
            "updatedAt": when,
            "archived": False,
        }

    # --- forms -------------------------------------------------------------------------------

    def forms(self, request: Request) -> Response:
        results = [
            {
                "id": guid,
                "name": name,
                "formType": "hubspot",
                "createdAt": _iso(0),
                "updatedAt": _iso(0),
                "archived": False,
            }
            for guid, name in FORMS.items()
        ]
        return Response(200, {"results": results})

    def submissions(self, request: Request) -> Response:
        guid = request.params["guid"]
        if guid not in FORMS:
            return self.error(404, f"Form {guid} does not exist")
        everyone = [
            (contact, index)
            for contact in self.contacts.values()
            for index in range(contact.person.crm_form_submissions)
            if index % len(FORMS) == list(FORMS).index(guid)
        ]
        limit = min(max(request.int_arg("limit", 20), 1), 50)
        start = request.int_arg("after", 0)
        page = everyone[start : start + limit]
        body: dict[str, Any] = {
            "results": [
                {
                    "conversionId": f"{guid[:8]}-{contact.id}-{index}",
                    "submittedAt": int(at(index * 11 + 2).timestamp() * 1000),
                    "values": [
                        {"name": "email", "value": contact.properties.get("email", "")},
                        {"name": "firstname", "value": contact.properties.get("firstname", "")},
                        {"name": "message", "value": f"Question {index + 1} about pricing."},
                    ],
                    "pageUrl": "https://www.example.com/contact",
                }
                for contact, index in page
            ]
        }
        if start + limit < len(everyone):
            body["paging"] = {"next": {"after": str(start + limit), "link": None}}
        return Response(200, body)

    # --- communication preferences -----------------------------------------------------------

    def subscription_definitions(self, request: Request) -> Response:
        definitions = [
            {
                "id": sub,
                "name": name,
                "description": f"{name} emails",
                "purpose": SUBSCRIPTION_PURPOSE,
                "communicationMethod": "Email",
                "isActive": True,
                "isDefault": False,
                "isInternal": False,
                "createdAt": _iso(0),
                "updatedAt": _iso(0),
            }
            for sub, name in CRM_SUBSCRIPTIONS.items()
        ]
        return Response(200, {"subscriptionDefinitions": definitions})

    def subscription_status(self, request: Request) -> Response:
        email = request.params["email"].lower()
        contact = self._by_address(email)
        statuses = []
        for sub, name in CRM_SUBSCRIPTIONS.items():
            if email in self.opted_out:
                statuses.append(_subscription(sub, name, "NOT_SUBSCRIBED", "PORTAL_WIDE_STATUS"))
                continue
            status = contact.subscriptions[sub] if contact else "NOT_SUBSCRIBED"
            statuses.append(_subscription(sub, name, status))
        return Response(200, {"recipient": email, "subscriptionStatuses": statuses})

    def _channel(self, request: Request) -> None:
        if request.arg("channel", "EMAIL") != "EMAIL":
            raise BadRequest("channel must be EMAIL")

    def opt_out_status(self, request: Request) -> Response:
        """v4: whether the address opted out of all email; ``results`` empty when it did not."""
        self._channel(request)
        email = request.params["email"].lower()
        results = []
        if email in self.opted_out:
            results.append(
                {
                    "channel": "EMAIL",
                    "status": "UNSUBSCRIBED",
                    "subscriberIdString": email,
                    "timestamp": self.opted_out[email],
                    "wideStatusType": "PORTAL_WIDE",
                }
            )
        return Response(200, _batch_status(results))

    def opt_out_of_all(self, request: Request) -> Response:
        """v4: opt the address out of every subscription type, now and later ones too."""
        self._channel(request)
        email = request.params["email"].lower()
        contact = self._by_address(email)
        reason = "NO_STATUS_CHANGE" if email in self.opted_out else "UNSUBSCRIBE_FROM_ALL_OCCURRED"
        self.opted_out.setdefault(email, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        if contact is not None:
            contact.subscriptions = dict.fromkeys(contact.subscriptions, "NOT_SUBSCRIBED")
        results = [
            {
                "channel": "EMAIL",
                "source": "Public API",
                "status": "UNSUBSCRIBED",
                "subscriberIdString": email,
                "subscriptionId": int(sub),
                "subscriptionName": name,
                "timestamp": self.opted_out[email],
                "setStatusSuccessReason": reason,
            }
            for sub, name in CRM_SUBSCRIPTIONS.items()
        ]
        return Response(200, _batch_status(results))

    def unsubscribe(self, request: Request) -> Response:
        body = request.json_object()
        email = str(body.get("emailAddress", "")).lower()
        sub = str(body.get("subscriptionId", ""))
        if sub not in CRM_SUBSCRIPTIONS:
            raise BadRequest(f"Subscription {sub} does not exist")
        if not body.get("legalBasis"):
            raise BadRequest("A legal basis is required in a GDPR-enabled portal")
        contact = self._by_address(email)
        if contact is None or contact.subscriptions[sub] != "SUBSCRIBED":
            raise BadRequest(f"{email} is already unsubscribed from subscription {sub}")
        contact.subscriptions[sub] = "NOT_SUBSCRIBED"
        self.unsubscribed[(contact.properties.get("email", ""), sub)] = {
            "legalBasis": str(body["legalBasis"]),
            "legalBasisExplanation": str(body.get("legalBasisExplanation", "")),
        }
        return Response(200, _subscription(sub, CRM_SUBSCRIPTIONS[sub], "NOT_SUBSCRIBED"))


def _matches(contact: Contact, rule: Any) -> bool:
    if not isinstance(rule, dict):
        raise BadRequest("Invalid input JSON: a filter must be an object")
    prop, operator, value = rule.get("propertyName"), rule.get("operator"), rule.get("value")
    if prop not in ("email", "hs_additional_emails") or not isinstance(value, str):
        raise BadRequest("The sandbox searches email and hs_additional_emails only")
    held = contact.properties.get(str(prop), "").lower()
    if operator == "EQ":
        return held == value.lower()
    if operator == "CONTAINS_TOKEN":
        return value.lower() in {token for token in held.replace(";", " ").split() if token}
    raise BadRequest(f"The sandbox does not support the operator {operator}")


def _batch(results: list[dict[str, Any]], missing: list[str], kind: str) -> Response:
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
            "message": f"Could not get some {kind} objects, they may be deleted or not exist.",
            "context": {"ids": missing},
        }
    ]
    return Response(207, body)


def _engagement_properties(kind: str, person: DemoPerson, index: int) -> dict[str, str]:
    n = index + 1
    if kind == "notes":
        text = (
            ADA_NOTES[index % len(ADA_NOTES)]
            if person is ADA
            else f"Support call {n}: went through open tickets and next steps."
        )
        return {"hs_note_body": f"<p>{text}</p>"}
    if kind == "emails":
        return {
            "hs_email_subject": f"Re: your renewal ({n})",
            "hs_email_text": f"Thanks for the update on the renewal, message {n}.",
            "hs_email_direction": "INCOMING_EMAIL" if index % 2 else "EMAIL",
        }
    if kind == "calls":
        return {
            "hs_call_title": f"Call {n}",
            "hs_call_body": f"Discussed onboarding, call {n}.",
            "hs_call_duration": str(60_000 * (1 + index % 30)),
            "hs_call_direction": "OUTBOUND",
        }
    if kind == "meetings":
        return {
            "hs_meeting_title": f"Quarterly review {n}",
            "hs_meeting_body": "Roadmap and open issues.",
            "hs_meeting_start_time": _iso(index * 3 + 1),
            "hs_meeting_end_time": _iso(index * 3 + 2),
        }
    return {
        "hs_task_subject": f"Follow up {n}",
        "hs_task_body": "Send the documents promised on the call.",
        "hs_task_status": "COMPLETED",
    }


def _batch_status(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "status": "COMPLETE",
        "results": results,
        "startedAt": _iso(0),
        "completedAt": _iso(0),
    }


def _subscription(
    sub: str, name: str, status: str, source: str = "SUBSCRIPTION_STATUS"
) -> dict[str, Any]:
    return {
        "id": sub,
        "name": name,
        "description": f"{name} emails",
        "status": status,
        "sourceOfStatus": source,
        "legalBasis": None,
        "legalBasisExplanation": None,
    }


def _names(request: Request, key: str) -> list[str]:
    """HubSpot accepts a list parameter comma-separated, repeated, or both."""
    return [name for value in request.query.get(key, []) for name in value.split(",") if name]


def _link(object_id: str, label: dict[str, Any]) -> dict[str, Any]:
    return {"toObjectId": int(object_id), "associationTypes": [label]}


def _engagement_id(kind: str, contact_id: str, index: int) -> str:
    return f"{ENGAGEMENTS[kind][2]}{contact_id}{index + 1:0{ID_DIGITS}d}"
