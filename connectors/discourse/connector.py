"""The Discourse forum connector (admin API).

A person is the forum user whose email matches. Export reads the admin view of the user and
every topic and reply they wrote; erase anonymizes the user (posts stay, under an anonymous
name, as the controller keeps authors identifiable only as long as it must) or deletes user and
posts; restrict suspends the user. The forum holds nothing to correct through the API and sends
no marketing, so rectify and object become manual tasks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

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
from connectors.http import HttpClient, HttpConnector, Reply
from connectors.settings import SettingsReader

SYSTEM = "Discourse"
ERASE_MODES = frozenset({"anonymize", "delete"})
# Discourse has no "forever"; its own admin UI suspends for a millennium.
SUSPEND_UNTIL = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
NEW_TOPIC, REPLY = 4, 5


@dataclass(frozen=True)
class DiscourseSettings:
    base_url: str
    api_key: str
    api_key_env: str
    api_username: str
    erase_mode: str
    timeout_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        read = SettingsReader(SYSTEM, config, secrets=secrets)
        api_key, api_key_env = read.secret(
            "api_key_env", default_env="DSAR_SECRET_DISCOURSE_API_KEY", what="API key"
        )
        return cls(
            base_url=read.base_url(),
            api_key=api_key,
            api_key_env=api_key_env,
            api_username=read.text("api_username", "system"),
            erase_mode=read.choice("erase_mode", ERASE_MODES, "anonymize"),
            timeout_s=read.number("timeout_s", 10.0),
        )


@dataclass(frozen=True)
class ForumUser:
    id: int
    username: str


class DiscourseConnector(HttpConnector[DiscourseSettings]):
    key = "discourse"
    display_name = SYSTEM
    supports = frozenset({Action.EXPORT, Action.ERASE, Action.RESTRICT})

    settings_class = DiscourseSettings

    def client_auth(self) -> dict[str, Any]:
        return {
            "credentials_hint": (
                f"check the API key in {self.settings.api_key_env} and that "
                f"'{self.settings.api_username}' is an admin"
            ),
            "headers": {
                "Api-Key": self.settings.api_key,
                "Api-Username": self.settings.api_username,
                "Accept": "application/json",
            },
        }

    # --- actions -------------------------------------------------------------------------------

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        counter = CountingSink(sink)
        with self._client() as http:
            for user in _find(http, identity):
                reply = _user_detail(http, user)
                counter.write("profile", reply.json_object())
                for post in _posts(http, user):
                    counter.write("posts", post)
        return counter.outcome()

    def erase(self, identity: Identity) -> Outcome:
        anonymize = self.settings.erase_mode == "anonymize"
        changed = []
        with self._client() as http:
            users = _find(http, identity)
            for user in users:
                if anonymize:
                    reply = http.request(
                        "PUT", f"/admin/users/{user.id}/anonymize.json", what="anonymization"
                    )
                    data = reply.json_object()
                    if reply.get(data, "success", str) != "OK":
                        raise reply.malformed("'success' is not OK")
                    new_name = reply.get(data, "username", str)
                    changed.append(f"user {user.id} anonymised (now {new_name}); posts kept")
                else:
                    reply = http.request(
                        "DELETE",
                        f"/admin/users/{user.id}.json",
                        what="user deletion",
                        json={"delete_posts": True, "block_email": False, "block_ip": False},
                    )
                    if reply.get(reply.json_object(), "deleted", bool) is not True:
                        raise reply.malformed("'deleted' is not true")
                    changed.append(f"user {user.id} deleted with their posts")
        if not users:
            return Outcome.nothing_found(Action.ERASE)
        kept = ["posts, now shown under an anonymous name"] if anonymize else []
        return Outcome(
            Action.ERASE,
            OutcomeKind.ANONYMISED if anonymize else OutcomeKind.ERASED,
            summary="Anonymised the forum user" if anonymize else "Deleted the forum user",
            changed=changed,
            remains=["posts"] if anonymize else [],
            details={"mode": self.settings.erase_mode, "kept": kept},
        )

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        changed = []
        with self._client() as http:
            users = _find(http, identity)
            for user in users:
                reply = _user_detail(http, user)
                till = reply.optional(reply.json_object(), "suspended_till", str, "")
                if till and _parse_time(reply, till) >= SUSPEND_UNTIL:
                    continue
                reply = http.request(
                    "PUT",
                    f"/admin/users/{user.id}/suspend.json",
                    what="suspension",
                    json={"suspend_until": SUSPEND_UNTIL.isoformat(), "reason": reason},
                )
                reply.get(reply.json_object(), "suspension", dict)
                changed.append(f"user {user.id} suspended")
        if not users:
            return Outcome.nothing_found(Action.RESTRICT)
        summary = "Suspended the forum user" if changed else "Already suspended"
        return Outcome(Action.RESTRICT, OutcomeKind.RESTRICTED, summary=summary, changed=changed)


def _find(http: HttpClient, identity: Identity) -> list[ForumUser]:
    email = identity.normalized_email
    reply = http.request(
        "GET",
        "/admin/users/list/active.json",
        what="user search",
        params={"email": email, "show_emails": "true"},
    )
    users = []
    for item in reply.json_list():
        user = reply.as_object(item, "a user")
        addresses = [reply.optional(user, "email", str, "")]
        addresses += reply.optional(user, "secondary_emails", list, [])
        # Act only on a user who holds exactly this address, whatever the search matched.
        if email in {str(address).lower() for address in addresses}:
            users.append(ForumUser(reply.get(user, "id", int), reply.get(user, "username", str)))
    return users


def _user_detail(http: HttpClient, user: ForumUser) -> Reply:
    return http.request("GET", f"/admin/users/{user.id}.json", what="user read")


def _posts(http: HttpClient, user: ForumUser) -> Iterator[dict[str, Any]]:
    """The user's topics and replies, a page at a time (Discourse pages by 30; an empty page
    ends the list)."""
    offset = 0
    while True:
        reply = http.request(
            "GET",
            "/user_actions.json",
            what="post list",
            params={"username": user.username, "filter": f"{NEW_TOPIC},{REPLY}", "offset": offset},
        )
        actions = reply.objects(reply.json_object(), "user_actions")
        if not actions:
            return
        offset += len(actions)
        for action in actions:
            # Only what the person wrote: the other people in these fields (whose topic they
            # replied to) are not part of their data.
            if reply.get(action, "user_id", int) != user.id:
                continue
            kind = reply.get(action, "action_type", int)
            yield {
                "post_id": reply.get(action, "post_id", int),
                "topic_id": reply.get(action, "topic_id", int),
                "post_number": reply.optional(action, "post_number", int, 0),
                "kind": "topic" if kind == NEW_TOPIC else "reply",
                "title": reply.optional(action, "title", str, ""),
                "excerpt": reply.optional(action, "excerpt", str, ""),
                "created_at": reply.get(action, "created_at", str),
                "category_id": reply.optional(action, "category_id", int, 0),
                "deleted": reply.optional(action, "deleted", bool, False),
                "hidden": reply.optional(action, "hidden", bool, False),
            }


def _parse_time(reply: Reply, value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise reply.malformed(f"'{value}' is not a date") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
