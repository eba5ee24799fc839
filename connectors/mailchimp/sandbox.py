"""A local stand-in for the Mailchimp Marketing API 3.0, loaded with the demo people.

It serves under ``/3.0`` like the real API: ping, lists and their merge fields, the account-wide
member search (``/search-members``: exact matches across every audience), members by the MD5
hash of the lower-cased address (archived ones too, with status ``archived``), their activity
feed, tags, notes and events, updates and permanent deletion. Auth is HTTP Basic with any user
name and the API key as password (401 otherwise); errors are JSON problem documents; more than
10 simultaneous connections get 429 with no rate-limit headers.

What real audiences refuse, it refuses too: an update that leaves a required merge field empty
is a 400 "Your merge fields were invalid." unless ``skip_merge_validation=true`` is sent; an API
call that sets an unsubscribed, cleaned or archived member back to ``subscribed`` is a 400
"Member In Compliance State" (only the person can resubscribe, through a double opt-in: set the
status to ``pending`` and the person confirms). A member shows what Mailchimp records of how
they came to be subscribed: ``source`` ("Hosted Signup Form", "Import", "API - Generic"), and
``ip_opt`` and ``timestamp_opt``, the address and time the person confirmed their opt-in, empty
for a subscription nobody confirmed (an import, an API call). ``/__sandbox__/state`` shows the
same per membership as ``subscribed_via`` (``import``, ``hosted_form``, ``api`` or
``double_opt_in``).

Demo actions: ``confirm_opt_in`` (``email``, ``list_id``) is the person clicking the
confirmation link; ``import_member`` (``email``, ``list_id``) is an audience import in
Mailchimp's web app (a CSV file, a sync from another tool): it adds the address as subscribed,
and restores an archived member, but, as Mailchimp's import does, skips an unsubscribed or
cleaned member and an address deleted permanently from that audience.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.demo_people import (
    DEMO_PEOPLE,
    NEWSLETTER_LISTS,
    REQUIRED_MERGE_FIELDS,
    DemoPerson,
    at,
)
from connectors.sandbox_base import (
    BadRequest,
    Request,
    Response,
    Route,
    SandboxConfig,
    SandboxServer,
    new_id,
    route,
)

API_KEY = "demo0mailchimp0key-us21"
MERGE_FIELDS = ("FNAME", "LNAME", "PHONE", "COMPANY", "ADDRESS", "BIRTHDAY")
STATUSES = frozenset(
    {"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"}
)
# Statuses from which only the person may resubscribe (Mailchimp's compliance state).
COMPLIANCE_STATES = frozenset({"unsubscribed", "cleaned", "archived"})
TITLES = {
    400: "Invalid Resource",
    401: "API Key Invalid",
    403: "Forbidden",
    404: "Resource Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
}
ACTIVITY_TYPES = ("sent", "open", "click", "open", "sent")
MAX_COUNT = 1000


# The address the demo people confirmed their opt-in from, and the one the person uses for a
# later double opt-in (documentation ranges, RFC 5737).
OPT_IN_ADDRESS = "192.0.2.10"
PERSON_ADDRESS = "198.51.100.23"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def subscriber_hash(email: str) -> str:
    # Computed here apart from the connector's, so a wrong hash there fails the tests.
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


@dataclass
class Member:
    person: DemoPerson
    list_id: str
    email: str
    status: str
    merge_fields: dict[str, str]
    tags: list[str]
    notes: list[dict[str, Any]] = field(default_factory=list)
    subscribed_via: str = "import"
    # Mailchimp's record of the opt-in: where and when the person confirmed it (empty when
    # nobody did), and how the member came to the audience.
    ip_opt: str = ""
    timestamp_opt: str = ""
    source: str = "Import"

    @property
    def hash(self) -> str:
        return subscriber_hash(self.email)

    def as_json(self) -> dict[str, Any]:
        signup = at(1).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        return {
            "id": self.hash,
            "email_address": self.email,
            "unique_email_id": self.hash[:10],
            "contact_id": self.hash[10:20],
            "full_name": " ".join(
                self.merge_fields[key] for key in ("FNAME", "LNAME") if self.merge_fields.get(key)
            ),
            "web_id": int(self.hash[:6], 16),
            "email_type": "html",
            "status": self.status,
            "merge_fields": dict(self.merge_fields),
            "interests": {},
            "stats": {"avg_open_rate": 0.42, "avg_click_rate": 0.07},
            "ip_signup": OPT_IN_ADDRESS if self.source == "Hosted Signup Form" else "",
            "timestamp_signup": signup,
            "ip_opt": self.ip_opt,
            "timestamp_opt": self.timestamp_opt,
            "member_rating": 3,
            "last_changed": signup,
            "language": "en",
            "vip": False,
            "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "country_code": "", "timezone": ""},
            "marketing_permissions": [],
            "source": self.source,
            "tags_count": len(self.tags),
            "tags": [{"id": _tag_id(name), "name": name} for name in self.tags],
            "list_id": self.list_id,
            "_links": [],
        }


def _tag_id(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)


def _stamp(index: int) -> str:
    return at(index).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class MailchimpSandbox(SandboxServer):
    system = "Mailchimp"
    path_prefix = "/3.0"

    def __init__(self, *, api_key: str = API_KEY, seed: int = 0, **config: Any) -> None:
        self.api_key = api_key
        super().__init__(seed=seed, **config)

    @classmethod
    def default_config(cls) -> SandboxConfig:
        return SandboxConfig(max_concurrent=10)

    def load(self) -> None:
        self.members: dict[str, dict[str, Member]] = {list_id: {} for list_id in NEWSLETTER_LISTS}
        self.deleted: set[tuple[str, str]] = set()
        for person in DEMO_PEOPLE:
            for list_id in person.newsletter_lists:
                member = Member(
                    person=person,
                    list_id=list_id,
                    email=person.email,
                    status="archived" if list_id in person.newsletter_archived else "subscribed",
                    subscribed_via="hosted_form" if person.newsletter_tags else "import",
                    ip_opt=OPT_IN_ADDRESS if person.newsletter_tags else "",
                    timestamp_opt=_stamp(1) if person.newsletter_tags else "",
                    source="Hosted Signup Form" if person.newsletter_tags else "Import",
                    merge_fields={
                        key: value
                        for key, value in (
                            ("FNAME", person.first_name),
                            ("LNAME", person.last_name),
                            ("PHONE", person.phone),
                            ("COMPANY", person.company),
                        )
                        if value
                    },
                    tags=list(person.newsletter_tags),
                    notes=[
                        {
                            "id": 700 + index,
                            "created_at": _stamp(index * 50),
                            "created_by": "Newsletter team",
                            "updated_at": _stamp(index * 50),
                            "note": f"Asked about the webinar series (note {index + 1}).",
                        }
                        for index in range(person.newsletter_notes)
                    ],
                )
                self.members[list_id][member.hash] = member

    def routes(self) -> list[Route]:
        member = "/lists/{list_id}/members/{subscriber_hash}"
        return [
            route("GET", "/ping", self.ping),
            route("GET", "/lists", self.all_lists),
            route("GET", "/search-members", self.search_members),
            route("GET", "/lists/{list_id}/merge-fields", self.merge_fields),
            route("GET", "/lists/{list_id}", self.read_list),
            route("GET", member, self.read_member),
            route("PATCH", member, self.update_member),
            route("GET", f"{member}/activity-feed", self.activity),
            route("GET", f"{member}/tags", self.tags),
            route("POST", f"{member}/tags", self.change_tags),
            route("GET", f"{member}/notes", self.notes),
            route("GET", f"{member}/events", self.events),
            route("POST", f"{member}/actions/delete-permanent", self.delete_permanent),
        ]

    # --- shapes ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        try:
            _user, _, key = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key = ""
        if scheme.lower() == "basic" and key == self.api_key:
            return None
        return self.error(
            401,
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )

    def error(self, status: int, message: str) -> Response:
        return Response(
            status,
            {
                "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                "title": TITLES.get(status, "Internal Server Error"),
                "status": status,
                "detail": message,
                "instance": new_id(),
            },
        )

    def too_many(self, wait_s: float | None, limit_class: str = "general") -> Response:
        limit = self.config.max_concurrent or 10
        return self.error(429, f"You have exceeded the limit of {limit} simultaneous connections.")

    def actions(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"confirm_opt_in": self._confirm_opt_in, "import_member": self._import_member}

    def _confirm_opt_in(self, body: dict[str, Any]) -> dict[str, Any]:
        member = self.members[str(body["list_id"])][subscriber_hash(str(body["email"]))]
        if member.status != "pending":
            raise BadRequest("Only a pending member can confirm a double opt-in")
        member.status, member.subscribed_via = "subscribed", "double_opt_in"
        member.ip_opt, member.timestamp_opt = PERSON_ADDRESS, _now()
        return self.person_state({"email": member.email})

    def _import_member(self, body: dict[str, Any]) -> dict[str, Any]:
        list_id, email = str(body["list_id"]), str(body["email"])
        if list_id not in self.members:
            raise BadRequest(f"No audience {list_id}")
        key = subscriber_hash(email)
        member = self.members[list_id].get(key)
        if (list_id, key) in self.deleted:
            return {"imported": False, "reason": "deleted permanently: only the person can rejoin"}
        if member is not None and member.status in ("unsubscribed", "cleaned"):
            return {"imported": False, "reason": f"{member.status}: the import skips the member"}
        if member is None:
            person = next(
                (p for p in DEMO_PEOPLE if p.email == email),
                DemoPerson(email=email, first_name="", last_name=""),
            )
            member = Member(
                person=person, list_id=list_id, email=email, status="", merge_fields={}, tags=[]
            )
            self.members[list_id][key] = member
        if member.status != "subscribed":
            member.status, member.subscribed_via = "subscribed", "import"
            member.ip_opt, member.timestamp_opt, member.source = "", "", "Import"
        return {"imported": True, **self.person_state({"email": email})}

    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        email = query.get("email", "")
        key = subscriber_hash(email)
        lists = {
            list_id: {
                "status": members[key].status,
                "subscribed_via": members[key].subscribed_via,
                "tags": list(members[key].tags),
                "merge_fields": dict(members[key].merge_fields),
            }
            for list_id, members in self.members.items()
            if key in members
        }
        deleted = sorted(list_id for list_id, hashed in self.deleted if hashed == key)
        return {"exists": bool(lists), "lists": lists, "deleted_permanently": deleted}

    def _member(self, request: Request) -> Member | Response:
        members = self.members.get(request.params["list_id"])
        member = members.get(request.params["subscriber_hash"]) if members is not None else None
        if member is None:
            return self.error(404, "The requested resource could not be found.")
        return member

    def _page(
        self,
        request: Request,
        member: Member,
        key: str,
        total: int,
        item: Callable[[int], dict[str, Any]],
    ) -> Response:
        count = min(max(request.int_arg("count", 10), 1), MAX_COUNT)
        offset = max(request.int_arg("offset", 0), 0)
        items = [item(index) for index in range(offset, min(offset + count, total))]
        return Response(
            200,
            {
                key: items,
                "email_id": member.hash,
                "list_id": member.list_id,
                "total_items": total,
                "_links": [],
            },
        )

    # --- routes ------------------------------------------------------------------------------

    def ping(self, request: Request) -> Response:
        return Response(200, {"health_status": "Everything's Chimpy!"})

    def _list(self, list_id: str) -> dict[str, Any]:
        return {
            "id": list_id,
            "web_id": int(hashlib.sha256(list_id.encode()).hexdigest()[:6], 16),
            "name": NEWSLETTER_LISTS[list_id],
            "stats": {"member_count": len(self.members[list_id])},
        }

    def all_lists(self, request: Request) -> Response:
        lists = [self._list(list_id) for list_id in self.members]
        return Response(200, {"lists": lists, "total_items": len(lists), "_links": []})

    def read_list(self, request: Request) -> Response:
        list_id = request.params["list_id"]
        if list_id not in self.members:
            return self.error(404, "The requested resource could not be found.")
        return Response(200, self._list(list_id))

    def merge_fields(self, request: Request) -> Response:
        list_id = request.params["list_id"]
        if list_id not in self.members:
            return self.error(404, "The requested resource could not be found.")
        required = REQUIRED_MERGE_FIELDS.get(list_id, ())
        fields = [
            {
                "merge_id": number,
                "tag": tag,
                "name": tag.title(),
                "type": "text",
                "required": tag in required,
                "list_id": list_id,
            }
            for number, tag in enumerate(MERGE_FIELDS, start=1)
        ]
        return Response(
            200, {"merge_fields": fields, "list_id": list_id, "total_items": len(fields)}
        )

    def search_members(self, request: Request) -> Response:
        """Exact matches of the address across every audience (``list_id`` narrows it)."""
        query = request.arg("query").strip().lower()
        if not query:
            raise BadRequest("The resource submitted could not be validated: query is required")
        only = request.arg("list_id")
        exact = [
            member.as_json()
            for list_id, members in self.members.items()
            if not only or list_id == only
            for member in members.values()
            if member.email.lower() == query
        ]
        return Response(
            200,
            {
                "exact_matches": {"members": exact, "total_items": len(exact)},
                "full_search": {"members": [], "total_items": 0},
                "_links": [],
            },
        )

    def read_member(self, request: Request) -> Response:
        member = self._member(request)
        return member if isinstance(member, Response) else Response(200, member.as_json())

    def update_member(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member
        body = request.json_object()
        status = body.get("status")
        if status is not None and status not in STATUSES:
            raise BadRequest("The resource submitted could not be validated: status is invalid")
        if status == "subscribed" and member.status in COMPLIANCE_STATES:
            return Response(
                400,
                {
                    "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                    "title": "Member In Compliance State",
                    "status": 400,
                    "detail": f"{member.email} is in a compliance state due to unsubscribe, "
                    "bounce, or compliance review and cannot be subscribed.",
                    "instance": new_id(),
                },
            )
        merge_fields = body.get("merge_fields", {})
        if not isinstance(merge_fields, dict) or not set(merge_fields) <= set(MERGE_FIELDS):
            raise BadRequest("Your merge fields were invalid.")
        # The official client sends the flag as "True" (Python's bool in the query string).
        if request.arg("skip_merge_validation").lower() != "true":
            after = {**member.merge_fields, **merge_fields}
            empty = [
                tag
                for tag in REQUIRED_MERGE_FIELDS.get(member.list_id, ())
                if not str(after.get(tag) or "")
            ]
            if empty:
                return Response(
                    400,
                    {
                        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                        "title": "Invalid Resource",
                        "status": 400,
                        "detail": "Your merge fields were invalid.",
                        "instance": new_id(),
                        "errors": [
                            {"field": tag, "message": "Please enter a value"} for tag in empty
                        ],
                    },
                )
        email = body.get("email_address")
        if email is not None:
            if not isinstance(email, str) or "@" not in email:
                raise BadRequest("Please provide a valid email address.")
            if subscriber_hash(email) in self.members[member.list_id] and (
                subscriber_hash(email) != member.hash
            ):
                raise BadRequest(f"{email} is already a list member.")
            del self.members[member.list_id][member.hash]
            member.email = email
            self.members[member.list_id][member.hash] = member
        if status is not None:
            if status == "subscribed" and member.status != "subscribed":
                member.subscribed_via, member.source = "api", "API - Generic"
            member.status = status
        member.merge_fields.update({k: str(v) for k, v in merge_fields.items()})
        return Response(200, member.as_json())

    def activity(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member

        def item(index: int) -> dict[str, Any]:
            campaign = index // len(ACTIVITY_TYPES)
            return {
                "activity_type": ACTIVITY_TYPES[index % len(ACTIVITY_TYPES)],
                "created_at_timestamp": _stamp(member.person.newsletter_activity - index),
                "campaign_id": f"c{campaign:06d}",
                "campaign_title": f"Newsletter #{campaign + 1}",
            }

        return self._page(request, member, "activity", member.person.newsletter_activity, item)

    def tags(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member
        names = member.tags
        return self._page(
            request,
            member,
            "tags",
            len(names),
            lambda i: {"id": _tag_id(names[i]), "name": names[i], "date_added": _stamp(i)},
        )

    def change_tags(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member
        tags = request.json_object().get("tags")
        if not isinstance(tags, list):
            raise BadRequest("The resource submitted could not be validated: tags is required")
        for tag in tags:
            if not isinstance(tag, dict) or tag.get("status") not in ("active", "inactive"):
                raise BadRequest("Each tag needs a name and a status of active or inactive")
            name = str(tag.get("name", ""))
            if tag["status"] == "active" and name not in member.tags:
                member.tags.append(name)
            if tag["status"] == "inactive" and name in member.tags:
                member.tags.remove(name)
        return Response(204)

    def notes(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member
        notes = member.notes
        return self._page(
            request,
            member,
            "notes",
            len(notes),
            lambda i: {**notes[i], "list_id": member.list_id, "email_id": member.hash},
        )

    def events(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member
        return self._page(
            request,
            member,
            "events",
            member.person.newsletter_events,
            lambda i: {
                "name": "webinar_registered",
                "occurred_at": _stamp(i * 40),
                "properties": {"webinar": f"Webinar {i + 1}"},
            },
        )

    def delete_permanent(self, request: Request) -> Response:
        member = self._member(request)
        if isinstance(member, Response):
            return member
        del self.members[member.list_id][member.hash]
        self.deleted.add((member.list_id, member.hash))
        return Response(204)
