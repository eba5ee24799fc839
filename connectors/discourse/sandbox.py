"""A local stand-in for the Discourse admin API, loaded with the demo people.

It answers the routes the Discourse connector uses, as Discourse's own source does (references
are to discourse/discourse):

- user lookup (``/admin/users/list/{flag}.json``): ``email=`` matches primary addresses only
  (``AdminUserIndexQuery#filter_by_search``); ``filter=`` first looks for an exact match among
  *all* of a user's addresses, secondary ones included, then falls back to a substring match on
  user names and primary addresses (``User.filter_by_username_or_email``);
- the admin user detail, with ``can_be_deleted`` and ``can_be_anonymized`` as the guardian
  decides them (``UserGuardian#can_delete_user?``: at most 5 posts, or a first post younger than
  the ``delete_user_max_post_age`` site setting, 60 days by default; ``#can_anonymize_user?``:
  never staff);
- the user's actions (``user_actions.json``, 30 a page): topics (4), replies (5) and the private
  messages they wrote (12), which are only listed when ``filter`` names them; each private
  message greets the other forum user it was written to by their first name;
- delete (403 ``invalid_access`` when the guardian refuses), anonymize (403 for staff) and
  suspend (409 when the user is already suspended, ``Admin::UsersController#suspend``).

Auth is the ``Api-Key`` and ``Api-Username`` headers; a wrong key gets 403 ``invalid_access``
"The API username or key is invalid", as Discourse answers. Over 60 admin requests a minute
(``max_admin_api_reqs_per_minute``) get 429 with ``Retry-After`` and the exact wait in
``extras.wait_seconds``. Posts are generated on the fly from the demo counts, so the heavy
user's 30,000 posts cost nothing until read.

Demo actions (``POST /__sandbox__/act/<name>``): ``update_user`` (``username`` and any of
``admin``, ``moderator``, ``suspended_days``) and ``site_settings`` (``delete_user_max_post_age``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
NEW_TOPIC, REPLY, NEW_PRIVATE_MESSAGE = 4, 5, 12
# UserGuardian#can_delete_user? : User::MAX_STAFF_DELETE_POST_COUNT
MAX_STAFF_DELETE_POST_COUNT = 5
ERROR_TYPES = {400: "invalid_parameters", 403: "invalid_access", 404: "not_found"}
NOT_FOUND = "The requested URL or resource could not be found."
INVALID_ACCESS = "You are not permitted to view the requested resource."
ANONYMIZED_SUFFIX = "@anonymized.invalid"


@dataclass
class User:
    id: int
    person: DemoPerson
    username: str
    name: str
    email: str
    secondary_emails: list[str]
    post_count: int
    message_count: int
    admin: bool = False
    moderator: bool = False
    suspended_till: str | None = None
    suspended_at: str | None = None
    suspend_reason: str | None = None
    # Action types of the user's posts, newest first, built when first listed.
    _actions: list[int] = field(default_factory=list)

    @property
    def staff(self) -> bool:
        return self.admin or self.moderator

    @property
    def anonymized(self) -> bool:
        return self.email.endswith(ANONYMIZED_SUFFIX)

    def suspended(self, now: dt.datetime) -> bool:
        return self.suspended_till is not None and _parse(self.suspended_till) > now

    def first_post_at(self) -> dt.datetime | None:
        return at(1) if self.post_count + self.message_count else None

    def actions(self) -> list[int]:
        """Every post's action type, newest first: private messages spread among the posts."""
        if not self._actions:
            total = self.post_count + self.message_count
            stride = total // self.message_count if self.message_count else 0
            for number in range(total, 0, -1):
                is_message = (
                    stride and number % stride == 0 and number // stride <= (self.message_count)
                )
                self._actions.append(
                    NEW_PRIVATE_MESSAGE if is_message else NEW_TOPIC if number % 5 == 1 else REPLY
                )
        return self._actions

    def summary(self, *, emails: bool) -> dict[str, Any]:
        """The admin user list's fields (``AdminUserListSerializer``)."""
        data: dict[str, Any] = {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "avatar_template": f"/letter_avatar_proxy/v4/letter/{self.username[0]}/{{size}}.png",
            "active": True,
            "admin": self.admin,
            "moderator": self.moderator,
            "last_seen_at": _iso(self.post_count),
            "last_emailed_at": None,
            "created_at": _iso(0),
            "last_seen_age": 3600.0,
            "last_emailed_age": None,
            "created_at_age": 86400.0,
            "trust_level": 2,
            "manual_locked_trust_level": None,
            "title": None,
            "time_read": 0,
            "staged": False,
            "days_visited": 1,
            "posts_read_count": 0,
            "topics_entered": 0,
            "post_count": self.post_count,
            "suspended_at": self.suspended_at,
            "suspended_till": self.suspended_till,
        }
        if emails:
            data["email"] = self.email
            data["secondary_emails"] = list(self.secondary_emails)
        return data

    def detail(self, *, max_post_age_days: int, now: dt.datetime) -> dict[str, Any]:
        """The admin user detail's fields that matter here (``AdminDetailedUserSerializer``)."""
        staff_only = {
            name: False
            for name in (
                "can_send_activation_email",
                "can_activate",
                "can_deactivate",
                "can_grant_admin",
                "can_revoke_admin",
                "can_grant_moderation",
                "can_revoke_moderation",
                "can_impersonate",
                "can_be_merged",
                "can_delete_all_posts",
                "can_view_action_logs",
                "can_disable_second_factor",
                "can_delete_sso_record",
                "include_ip",
            )
        }
        return {
            **self.summary(emails=True),
            **staff_only,
            "ip_address": "198.51.100.23",
            "registration_ip_address": "198.51.100.7",
            "like_count": 0,
            "like_given_count": 0,
            "topic_count": math.ceil(self.post_count / 5),
            "flags_given_count": 0,
            "flags_received_count": 0,
            "private_topics_count": self.message_count,
            "suspend_reason": self.suspend_reason,
            "full_suspend_reason": self.suspend_reason,
            "can_be_deleted": self.can_be_deleted(max_post_age_days, now),
            "can_be_anonymized": not self.staff and not self.anonymized,
            "single_sign_on_record": None,
            "primary_group_id": None,
            "badge_count": 0,
            "warnings_received_count": 0,
            "bounce_score": 0,
            "reset_bounce_score_after": None,
            "api_key_count": 0,
            "approved_by": None,
            "suspended_by": None,
            "silenced_by": None,
            "groups": [],
            "external_ids": {},
        }

    def can_be_deleted(self, max_post_age_days: int, now: dt.datetime) -> bool:
        """``UserGuardian#can_delete_user?`` for a staff caller."""
        if self.admin:
            return False
        first = self.first_post_at()
        return (
            first is None
            or self.post_count + self.message_count <= MAX_STAFF_DELETE_POST_COUNT
            or first > now - dt.timedelta(days=max_post_age_days)
        )


def _iso(index: int) -> str:
    return at(index).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse(value: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


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
        self.deleted: set[str] = set()
        self.max_post_age_days = 60
        self._streams: dict[tuple[int, frozenset[int]], list[tuple[int, int]]] = {}
        forum_people = [person for person in DEMO_PEOPLE if person.forum_username]
        for number, person in enumerate(forum_people, start=2):
            self.users[number] = User(
                id=number,
                person=person,
                username=person.forum_username,
                name=person.name,
                email=person.email,
                secondary_emails=list(person.other_emails),
                post_count=person.forum_posts,
                message_count=person.forum_messages,
            )

    def routes(self) -> list[Route]:
        # Rails answers JSON with or without the .json suffix when the client accepts JSON.
        return [
            route(method, template + suffix, handler)
            for method, template, handler in (
                ("GET", "/admin/users/list/{flag}", self.list_users),
                ("GET", "/admin/users/{user_id}", self.read_user),
                ("DELETE", "/admin/users/{user_id}", self.delete_user),
                ("PUT", "/admin/users/{user_id}/anonymize", self.anonymize),
                ("PUT", "/admin/users/{user_id}/suspend", self.suspend),
                ("GET", "/user_actions", self.user_actions),
                ("GET", "/session/current", self.current_session),
            )
            for suffix in (".json", "")
        ]

    def actions(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {"update_user": self._update_user, "site_settings": self._site_settings}

    # --- shapes ------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Response | None:
        if (
            request.headers.get("Api-Key") == self.api_key
            and request.headers.get("Api-Username") == self.api_username
        ):
            return None
        return self.error(403, f"{INVALID_ACCESS} The API username or key is invalid.")

    def error(self, status: int, message: str) -> Response:
        return Response(
            status, {"errors": [message], "error_type": ERROR_TYPES.get(status, "server_error")}
        )

    def too_many(self, wait_s: float | None, limit_class: str = "general") -> Response:
        seconds = math.ceil(wait_s or 0)
        window = self.config.limits().get("general")
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
            # Discourse names the limit's whole window here, the exact wait in the body.
            headers={"Retry-After": str(math.ceil(window.window_s) if window else 60)},
        )

    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        email, username = query.get("email", "").lower(), query.get("username", "")
        user = next(
            (
                u
                for u in self.users.values()
                if email in (u.email, *u.secondary_emails) or u.username == username
            ),
            None,
        )
        if user is None:
            return {"exists": False, "deleted": bool(username and username in self.deleted)}
        return {
            "exists": True,
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "secondary_emails": list(user.secondary_emails),
            "anonymized": user.anonymized,
            "suspended": user.suspended_till is not None,
            "suspended_till": user.suspended_till,
            "suspend_reason": user.suspend_reason,
            "post_count": user.post_count,
            "message_count": user.message_count,
            "staff": user.staff,
        }

    def _user(self, request: Request) -> User | Response:
        user_id = request.params["user_id"]
        user = self.users.get(int(user_id)) if user_id.lstrip("-").isdigit() else None
        return self.error(404, NOT_FOUND) if user is None else user

    def _update_user(self, body: dict[str, Any]) -> dict[str, Any]:
        user = next(u for u in self.users.values() if u.username == body["username"])
        user.admin = bool(body.get("admin", user.admin))
        user.moderator = bool(body.get("moderator", user.moderator))
        if "suspended_days" in body:
            now = dt.datetime.now(dt.UTC)
            user.suspended_at = now.isoformat()
            until = now + dt.timedelta(days=float(body["suspended_days"]))
            user.suspended_till = until.isoformat()
            user.suspend_reason = "Suspended by a moderator"
        return self.person_state({"username": user.username})

    def _site_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        if "delete_user_max_post_age" in body:
            self.max_post_age_days = int(body["delete_user_max_post_age"])
        return {"delete_user_max_post_age": self.max_post_age_days}

    # --- routes ------------------------------------------------------------------------------

    def list_users(self, request: Request) -> Response:
        email, search = request.arg("email").strip().lower(), request.arg("filter").strip().lower()
        users = list(self.users.values())
        if email:
            users = [u for u in users if u.email == email]
        elif search:
            exact = [u for u in users if search in (u.email, *u.secondary_emails)]
            users = exact or [u for u in users if search in u.username.lower() or search in u.email]
        emails = request.arg("show_emails") == "true"
        return Response(200, [user.summary(emails=emails) for user in users])

    def read_user(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        now = dt.datetime.now(dt.UTC)
        return Response(200, user.detail(max_post_age_days=self.max_post_age_days, now=now))

    def current_session(self, request: Request) -> Response:
        return Response(
            200,
            {
                "current_user": {
                    "id": -1,
                    "username": self.api_username,
                    "name": "system",
                    "admin": True,
                    "moderator": True,
                }
            },
        )

    def delete_user(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        if not user.can_be_deleted(self.max_post_age_days, dt.datetime.now(dt.UTC)):
            return self.error(403, INVALID_ACCESS)
        # ActiveModel::Type::Boolean casts "true" and true alike (Admin::UsersController#destroy)
        delete_posts = str(request.values().get("delete_posts", "")).lower() == "true"
        if user.post_count + user.message_count and not delete_posts:
            return Response(
                403,
                {
                    "deleted": False,
                    "message": f"Can't delete {user.username}: they have posts. "
                    "Delete their posts first.",
                },
            )
        del self.users[user.id]
        self.deleted.add(user.username)
        return Response(200, {"deleted": True})

    def anonymize(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        if user.staff or user.anonymized:
            return self.error(403, INVALID_ACCESS)
        digest = hashlib.sha256(f"{user.id}:{user.email}".encode()).hexdigest()
        user.username = f"anon{digest[:8]}"
        user.name = ""
        user.email = f"{user.username}{ANONYMIZED_SUFFIX}"
        user.secondary_emails = []
        return Response(200, {"success": "OK", "username": user.username})

    def suspend(self, request: Request) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        if user.staff:
            return self.error(403, INVALID_ACCESS)
        now = dt.datetime.now(dt.UTC)
        if user.suspended(now):
            return Response(
                409,
                {
                    "success": False,
                    "failed": "FAILED",
                    "message": f"{user.username} was already suspended until "
                    f"{user.suspended_till}.",
                },
            )
        body = request.values()
        until, reason = body.get("suspend_until"), body.get("reason")
        if not until or not reason:
            raise BadRequest("param is missing or the value is empty: suspend_until, reason")
        try:
            _parse(str(until))
        except ValueError:
            raise BadRequest("suspend_until is not a valid date") from None
        user.suspended_till = str(until)
        user.suspended_at = now.isoformat()
        user.suspend_reason = str(reason)
        return Response(
            200,
            {
                "suspension": {
                    "suspend_reason": user.suspend_reason,
                    "full_suspend_reason": user.suspend_reason,
                    "suspended_till": user.suspended_till,
                    "suspended_at": user.suspended_at,
                    "suspended_by": {
                        "id": -1,
                        "username": API_USERNAME,
                        "name": "system",
                        "avatar_template": "/images/discourse-logo-sketch-small.png",
                    },
                }
            },
        )

    def user_actions(self, request: Request) -> Response:
        username = request.arg("username")
        user = next((u for u in self.users.values() if u.username == username), None)
        if user is None:
            return self.error(404, NOT_FOUND)
        raw_filter = request.arg("filter")
        try:
            wanted = {int(part) for part in raw_filter.split(",") if part}
        except ValueError:
            raise BadRequest("filter must be a list of action types") from None
        if not raw_filter:
            # UserActionsController: without a filter, private messages are left out.
            wanted = {NEW_TOPIC, REPLY}
        offset = max(request.int_arg("offset", 0), 0)
        key = (user.id, frozenset(wanted))
        stream = self._streams.get(key)
        if stream is None:
            total = len(user.actions())
            stream = self._streams[key] = [
                (total - index, kind) for index, kind in enumerate(user.actions()) if kind in wanted
            ]
        page = [self._post(user, n, kind) for n, kind in stream[offset : offset + PAGE]]
        return Response(200, {"user_actions": page})

    def _post(self, user: User, number: int, kind: int) -> dict[str, Any]:
        """The user's ``number``-th post: topics they started, replies in other people's
        topics (whose names the real API puts in the ``target_*`` fields), private messages."""
        is_topic = kind in (NEW_TOPIC, NEW_PRIVATE_MESSAGE)
        others = [u for u in self.users.values() if u.id != user.id]
        owner = user if is_topic or not others else others[number % len(others)]
        topic_id = 10_000 * owner.id + number
        avatar = owner.summary(emails=False)["avatar_template"]
        # A private message is written to another user, and names them: other people's data
        # in the writer's export (Art. 15(4) GDPR).
        to = others[number % len(others)] if others else None
        greeting = f"Hi {to.person.first_name}, " if to else ""
        return {
            "excerpt": (
                f"{greeting}message {number}: about my invoice and account settings."
                if kind == NEW_PRIVATE_MESSAGE
                else f"Post {number} on configuring ticket queues and escalations."
            ),
            "action_type": kind,
            "created_at": _iso(number),
            "avatar_template": avatar,
            "acting_avatar_template": user.summary(emails=False)["avatar_template"],
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
            "title": (
                "Private message: my account"
                if kind == NEW_PRIVATE_MESSAGE
                else f"Topic {topic_id}: ticket queues"
            ),
            "deleted": False,
            "hidden": False,
            "post_type": 1,
            "action_code": None,
            "category_id": 4,
            "closed": False,
            "archived": False,
        }
