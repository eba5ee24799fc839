"""A local stand-in for the Discourse admin API, loaded with the demo people.

It answers the routes the Discourse connector uses: user lookup by email, the admin user
detail, the user's posts (``user_actions.json``, 30 a page), anonymize, delete and suspend.
Auth is the ``Api-Key`` and ``Api-Username`` headers; a wrong key gets 403 ``invalid_access``,
as Discourse answers. Over 60 admin requests a minute get 429 with ``Retry-After: 60`` and the
exact wait in ``extras.wait_seconds``. Posts are generated on the fly from the demo counts, so
the heavy user's 30,000 posts cost nothing until read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.demo_people import DEMO_PEOPLE, DemoPerson, at
from connectors.sandbox_base import (
    BadRequest,
    RateLimit,
    Request,
    Response,
    Route,
    SandboxConfig,
    SandboxServer,
    route,
)

API_KEY = "demo-discourse-key"
API_USERNAME = "system"
PAGE = 30
POST_ACTIONS = frozenset({4, 5})
ERROR_TYPES = {400: "invalid_parameters", 403: "invalid_access", 404: "not_found"}
NOT_FOUND = "The requested URL or resource could not be found."


@dataclass
class User:
    id: int
    person: DemoPerson
    username: str
    name: str
    email: str
    post_count: int
    suspended_till: str | None = None
    suspended_at: str | None = None
    suspend_reason: str | None = None

    def summary(self) -> dict[str, Any]:
        """The admin user list's fields (with ``show_emails``)."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "avatar_template": f"/letter_avatar_proxy/v4/letter/{self.username[0]}/{{size}}.png",
            "email": self.email,
            "secondary_emails": [],
            "active": True,
            "admin": False,
            "moderator": False,
            "last_seen_at": _iso(self.post_count),
            "created_at": _iso(0),
            "trust_level": 2,
            "post_count": self.post_count,
            "suspended_at": self.suspended_at,
            "suspended_till": self.suspended_till,
        }

    def detail(self) -> dict[str, Any]:
        """The admin user detail's fields that matter here."""
        return {
            **self.summary(),
            "title": None,
            "ip_address": "198.51.100.23",
            "registration_ip_address": "198.51.100.7",
            "topic_count": math.ceil(self.post_count / 5),
            "suspend_reason": self.suspend_reason,
            "full_suspend_reason": self.suspend_reason,
            "can_be_anonymized": True,
            "can_be_deleted": True,
            "single_sign_on_record": None,
        }


def _iso(index: int) -> str:
    return at(index).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class DiscourseSandbox(SandboxServer):
    system = "Discourse"

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_username: str = API_USERNAME,
        seed: int = 0,
        **config: Any,
    ) -> None:
        self.api_key = api_key
        self.api_username = api_username
        super().__init__(seed=seed, **config)

    @classmethod
    def default_config(cls) -> SandboxConfig:
        return SandboxConfig(rate_limit=RateLimit(requests=60, window_s=60.0))

    def load(self) -> None:
        self.users: dict[int, User] = {}
        forum_people = [person for person in DEMO_PEOPLE if person.forum_username]
        for number, person in enumerate(forum_people, start=2):
            self.users[number] = User(
                id=number,
                person=person,
                username=person.forum_username,
                name=person.name,
                email=person.email,
                post_count=person.forum_posts,
            )

    def routes(self) -> list[Route]:
        return [
            route("GET", "/admin/users/list/active.json", self.list_users),
            route("GET", "/admin/users/{user_id}.json", self.read_user),
            route("DELETE", "/admin/users/{user_id}.json", self.delete_user),
            route("PUT", "/admin/users/{user_id}/anonymize.json", self.anonymize),
            route("PUT", "/admin/users/{user_id}/suspend.json", self.suspend),
            route("GET", "/user_actions.json", self.user_actions),
        ]

    # --- shapes ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        if (
            request.headers.get("Api-Key") == self.api_key
            and request.headers.get("Api-Username") == self.api_username
        ):
            return None
        return self.error(
            403,
            "You are not permitted to view the requested resource. "
            "The API username or key is invalid.",
        )

    def error(self, status: int, message: str) -> Response:
        return Response(
            status, {"errors": [message], "error_type": ERROR_TYPES.get(status, "server_error")}
        )

    def too_many(self, wait_s: float | None) -> Response:
        seconds = math.ceil(wait_s or 0)
        return Response(
            429,
            {
                "errors": [
                    "You\u2019ve performed this action too many times. "
                    f"Please wait {seconds} seconds before trying again."
                ],
                "error_type": "rate_limit",
                "extras": {"wait_seconds": seconds, "time_left": f"{seconds} seconds"},
            },
            headers={"Retry-After": "60"},
        )

    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        email, username = query.get("email", "").lower(), query.get("username", "")
        user = next(
            (u for u in self.users.values() if u.email == email or u.username == username), None
        )
        if user is None:
            return {"exists": False}
        return {
            "exists": True,
            "id": user.id,
            "username": user.username,
            "suspended": user.suspended_till is not None,
            "suspend_reason": user.suspend_reason,
            "post_count": user.post_count,
        }

    def _user(self, request: Request) -> User | Response:
        user_id = request.params["user_id"]
        user = self.users.get(int(user_id)) if user_id.lstrip("-").isdigit() else None
        return self.error(404, NOT_FOUND) if user is None else user

    # --- routes ------------------------------------------------------------------------------

    def list_users(self, request: Request) -> Response:
        email = request.arg("email").lower()
        show_emails = request.arg("show_emails") == "true"
        found = [user.summary() for user in self.users.values() if not email or user.email == email]
        if not show_emails:
            for item in found:
                del item["email"], item["secondary_emails"]
        return Response(200, found)

    def read_user(self, request: Request) -> Response:
        user = self._user(request)
        return user if isinstance(user, Response) else Response(200, user.detail())

    def delete_user(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        if user.post_count and request.json_object().get("delete_posts") is not True:
            return self.error(403, "The user has posts; delete them with delete_posts.")
        del self.users[user.id]
        return Response(200, {"deleted": True})

    def anonymize(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        digest = hashlib.sha256(f"{user.id}:{user.email}".encode()).hexdigest()
        user.username = f"anon{digest[:8]}"
        user.name = ""
        user.email = f"{user.username}@anonymized.invalid"
        return Response(200, {"success": "OK", "username": user.username})

    def suspend(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        body = request.json_object()
        until, reason = body.get("suspend_until"), body.get("reason")
        if not until or not reason:
            raise BadRequest("param is missing or the value is empty: suspend_until, reason")
        try:
            dt.datetime.fromisoformat(str(until))
        except ValueError:
            raise BadRequest("suspend_until is not a valid date") from None
        user.suspended_till = str(until)
        user.suspended_at = _iso(user.post_count + 1)
        user.suspend_reason = str(reason)
        return Response(
            200,
            {
                "suspension": {
                    "suspend_reason": user.suspend_reason,
                    "full_suspend_reason": user.suspend_reason,
                    "suspended_till": user.suspended_till,
                    "suspended_at": user.suspended_at,
                    "suspended_by": {"id": -1, "username": API_USERNAME},
                }
            },
        )

    def user_actions(self, request: Request) -> Response:
        username = request.arg("username")
        user = next((u for u in self.users.values() if u.username == username), None)
        if user is None:
            return self.error(404, NOT_FOUND)
        try:
            wanted = {int(part) for part in request.arg("filter").split(",") if part}
        except ValueError:
            raise BadRequest("filter must be a list of action types") from None
        offset = max(request.int_arg("offset", 0), 0)
        # Topics and replies are the only actions the demo holds.
        indexes = (
            range(offset, min(offset + PAGE, user.post_count)) if wanted & POST_ACTIONS else []
        )
        actions = [self._post(user, index) for index in indexes]
        return Response(200, {"user_actions": [a for a in actions if a["action_type"] in wanted]})

    def _post(self, user: User, index: int) -> dict[str, Any]:
        """The user's ``index``-th newest post: every fifth starts a topic, the rest reply in
        other people's topics (whose names the real API puts in the ``target_*`` fields)."""
        number = user.post_count - index
        is_topic = number % 5 == 1
        others = [u for u in self.users.values() if u.id != user.id]
        owner = user if is_topic or not others else others[number % len(others)]
        topic_id = 10_000 * owner.id + number
        return {
            "excerpt": f"Post {number} on configuring ticket queues and escalations.",
            "action_type": 4 if is_topic else 5,
            "created_at": _iso(number),
            "avatar_template": owner.summary()["avatar_template"],
            "acting_avatar_template": user.summary()["avatar_template"],
            "slug": f"topic-{topic_id}",
            "topic_id": topic_id,
            "target_user_id": owner.id,
            "target_name": owner.name,
            "target_username": owner.username,
            "post_number": 1 if is_topic else 2 + number % 40,
            "post_id": 1_000_000 * user.id + number,
            "reply_to_post_number": None if is_topic else 1,
            "username": user.username,
            "name": user.name,
            "user_id": user.id,
            "acting_username": user.username,
            "acting_name": user.name,
            "acting_user_id": user.id,
            "title": f"Topic {topic_id}: ticket queues",
            "deleted": False,
            "hidden": False,
            "post_type": 1,
            "action_code": None,
            "category_id": 4,
            "closed": False,
            "archived": False,
        }
