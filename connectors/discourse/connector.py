"""The Discourse forum connector (admin API).

A person is every forum user who holds the verified address, as primary or secondary email
(``filter=`` finds both; ``email=`` only primaries). Export reads the admin view of the user
and every topic, reply and private message they wrote, resumable page by page. Erase deletes
the user with their posts, or anonymises them (posts stay under an anonymous name): Discourse
refuses to delete a user with more than 5 posts whose first post is older than its
``delete_user_max_post_age`` setting, so a refused deletion falls back to anonymisation and says
so, and a staff account, which Discourse neither deletes nor anonymises, is a refusal with the
reason. Restrict suspends the user (one already suspended is restricted already). The forum
sends no marketing, so an objection finds the person "not used for this purpose"; rectify is
left to people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from connectors.base import (
    Action,
    CheckReport,
    ConnectorError,
    CountingSink,
    ExportOutcome,
    ExportProgress,
    Identity,
    Outcome,
    OutcomeKind,
    RecordSink,
    Resume,
)
from connectors.budget import Limit, Rate
from connectors.http import HttpClient, HttpConnector, Reply
from connectors.settings import SettingsReader

SYSTEM = "Discourse"
ERASE_MODES = frozenset({"anonymize", "delete"})
# Discourse has no "forever"; its own admin UI suspends for a millennium.
SUSPEND_UNTIL = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
NEW_TOPIC, REPLY, NEW_PRIVATE_MESSAGE = 4, 5, 12
# What the person wrote: topics, replies, and private messages (which real Discourse records as
# action type 12 and lists only when the filter names it).
WRITTEN = f"{NEW_TOPIC},{REPLY},{NEW_PRIVATE_MESSAGE}"
REMAINS_AFTER_ANONYMISING = ["posts", "private_messages", "anonymous_profile"]
# The journal's name for the anonymising write (``interrupted_erasure`` reads it back).
ANONYMISATION = "anonymization"


@dataclass(frozen=True)
class DiscourseSettings:
    base_url: str
    api_key: str
    api_key_env: str
    api_username: str
    erase_mode: str
    admin_requests_per_minute: int
    timeout_s: float
    time_scale: float

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
            # The forum's DISCOURSE_MAX_ADMIN_API_REQS_PER_MINUTE (60 unless its admin changed it)
            admin_requests_per_minute=int(read.number("admin_requests_per_minute", 60)),
            timeout_s=read.number("timeout_s", 10.0),
            time_scale=read.number("time_scale", 1.0),
        )


@dataclass(frozen=True)
class ForumUser:
    id: int
    username: str


class DiscourseConnector(HttpConnector[DiscourseSettings]):
    key = "discourse"
    display_name = SYSTEM
    supports = frozenset({Action.EXPORT, Action.ERASE, Action.RESTRICT, Action.OBJECT})

    settings_class = DiscourseSettings

    def endpoint_limits(self) -> Mapping[str, Sequence[Limit]]:
        # config/discourse_defaults.conf: max_admin_api_reqs_per_minute = 60, counted for every
        # request made with an admin API key (lib/middleware/request_tracker.rb).
        rate = Rate(self.settings.admin_requests_per_minute, 60.0)
        return {"general": (Limit("admin", rate=rate),)}

    @property
    def credential(self) -> str:
        return self.settings.api_key

    def client_auth(self) -> dict[str, Any]:
        user = self.settings.api_username
        return {
            "credentials_hint": (
                f"check the API key in {self.settings.api_key_env} and that it belongs to '{user}'"
            ),
            "permission_hint": (
                f"the API key must be a global key (Admin > API > Keys: User Level 'All Users' "
                f"or '{user}', Scope 'Global') and '{user}' must be an admin"
            ),
            "credential_markers": ("API username or key is invalid",),
            "headers": {
                "Api-Key": self.settings.api_key,
                "Api-Username": user,
                "Accept": "application/json",
            },
        }

    # --- actions -------------------------------------------------------------------------------

    def check(self) -> CheckReport:
        report = CheckReport(SYSTEM)
        with self._client() as http:
            try:
                reply = http.request("GET", "/session/current.json", what="session read")
            except ConnectorError as error:
                report.add("credentials", ok=False, message=str(error))
                return report
            current = reply.as_object(reply.json_object().get("current_user"), "'current_user'")
            name = reply.optional(current, "username", str, "")
            report.add("credentials", ok=True, message=f"the API key acts as '{name}'")
            if reply.optional(current, "admin", bool, False):
                report.add("admin", ok=True, message=f"'{name}' is an admin")
            else:
                report.add(
                    "admin",
                    ok=False,
                    message=f"'{name}' is not an admin: make it one (Admin > Users > Grant "
                    "admin) or use an admin's key; the user list, deletion and suspension need it",
                )
            try:
                http.request(
                    "GET",
                    "/admin/users/list/active.json",
                    what="user list",
                    params={"show_emails": "true", "page": 1},
                )
                report.add("scopes", ok=True, message="the key may list users with their emails")
            except ConnectorError as error:
                report.add("scopes", ok=False, message=str(error))
        return report

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        resume = Resume(progress)
        counter = CountingSink(sink, resume)
        with self._client() as http:
            for user in _find(http, identity):
                profile = f"user:{user.id}:profile"
                if not resume.done(profile):
                    counter.write("profile", _user_detail(http, user).json_object())
                    resume.finish(profile)
                posts = f"user:{user.id}:posts"
                if resume.done(posts):
                    continue
                start = int(resume.position(posts).get("offset", 0))
                for page, offset in _post_pages(http, user, offset=start):
                    for post in page:
                        category = "private_messages" if post["kind"] == "message" else "posts"
                        counter.write(category, post)
                    resume.checkpoint(posts, {"offset": offset})
                resume.finish(posts)
        return counter.outcome()

    def erase(self, identity: Identity) -> Outcome:
        outcomes = []
        with self._client() as http:
            for user in _find(http, identity):
                outcomes.append(self._erase_user(http, user))
        if not outcomes:
            return Outcome.nothing_found(Action.ERASE)
        return _combine(Action.ERASE, outcomes)

    def _erase_user(self, http: HttpClient, user: ForumUser) -> Outcome:
        detail = _user_detail(http, user)
        data = detail.json_object()
        can_delete = detail.optional(data, "can_be_deleted", bool, False)
        can_anonymise = detail.optional(data, "can_be_anonymized", bool, False)
        if self.settings.erase_mode == "delete":
            if can_delete and _delete(http, user):
                return Outcome(
                    Action.ERASE,
                    OutcomeKind.ERASED,
                    summary="Deleted the forum user with their posts and messages",
                    changed=[f"user {user.id} deleted with their posts"],
                )
            refused = (
                "Discourse refused to delete the user: it deletes no user with more than 5 "
                "posts whose first post is older than its delete_user_max_post_age setting"
            )
            if not can_anonymise:
                return _refused(user, detail, data, refused)
            outcome = _anonymise(http, user)
            outcome.summary = f"{refused}; anonymised instead, as Discourse offers"
            outcome.details["deletion_refused"] = True
            return outcome
        if not can_anonymise:
            return _refused(user, detail, data, "")
        return _anonymise(http, user)

    def interrupted_erasure(self, writes: Sequence[str]) -> Outcome:
        """An interrupted anonymisation left the posts and messages under an anonymous name;
        a later lookup by the address finds nothing, but the erasure was not a deletion."""
        if ANONYMISATION in writes:
            return _anonymised(list(writes))
        return super().interrupted_erasure(writes)

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        changed, already = [], []
        with self._client() as http:
            users = _find(http, identity)
            for user in users:
                reply = http.request(
                    "PUT",
                    f"/admin/users/{user.id}/suspend.json",
                    what="suspension",
                    json={"suspend_until": SUSPEND_UNTIL.date().isoformat(), "reason": reason},
                    # 409: Discourse suspends nobody twice (User::Suspend, not_suspended_already).
                    accept=(409,),
                )
                if reply.status == 409:
                    till = reply.optional(
                        _user_detail(http, user).json_object(), "suspended_till", str, ""
                    )
                    already.append(f"user {user.id} already suspended until {till or 'unknown'}")
                    continue
                reply.get(reply.json_object(), "suspension", dict)
                changed.append(f"user {user.id} suspended")
        if not users:
            return Outcome.nothing_found(Action.RESTRICT)
        summary = "Suspended the forum user" if changed else "Already suspended"
        if already:
            summary += (
                f" ({'; '.join(already)}: Discourse refuses a second suspension, so a "
                "suspension that ends must be extended by hand)"
            )
        return Outcome(
            Action.RESTRICT,
            OutcomeKind.RESTRICTED,
            summary=summary,
            changed=changed,
            details={"already_suspended": already},
        )

    def object(self, identity: Identity) -> Outcome:
        with self._client() as http:
            users = _find(http, identity)
        if not users:
            return Outcome.nothing_found(Action.OBJECT)
        return Outcome(
            Action.OBJECT,
            OutcomeKind.NOT_USED,
            summary="The forum holds the person but sends no direct marketing",
        )


def _find(http: HttpClient, identity: Identity) -> list[ForumUser]:
    """Every user holding the verified address as primary or secondary email.

    ``filter=`` is Discourse's exact match over all of a user's addresses (falling back to a
    substring match when none matches exactly), so only exact holders are kept. The user name the
    person gave is a hint that may only choose among these, never add a user.
    """
    email = identity.normalized_email
    reply = http.request(
        "GET",
        "/admin/users/list/active.json",
        what="user search",
        params={"filter": email, "show_emails": "true"},
    )
    users = []
    for item in reply.json_list():
        user = reply.as_object(item, "a user")
        addresses = [reply.optional(user, "email", str, "")]
        addresses += reply.optional(user, "secondary_emails", list, [])
        if email in {str(address).lower() for address in addresses}:
            users.append(ForumUser(reply.get(user, "id", int), reply.get(user, "username", str)))
    hint = identity.forum_username.strip().lower()
    narrowed = [user for user in users if user.username.lower() == hint]
    return narrowed if hint and narrowed else users


def _user_detail(http: HttpClient, user: ForumUser) -> Reply:
    return http.request("GET", f"/admin/users/{user.id}.json", what="user read")


def _delete(http: HttpClient, user: ForumUser) -> bool:
    """Delete the user with their posts; False when Discourse refused (403)."""
    reply = http.request(
        "DELETE",
        f"/admin/users/{user.id}.json",
        what="user deletion",
        json={"delete_posts": True, "block_email": False, "block_ip": False},
        accept=(403,),
    )
    if reply.status == 403:
        return False
    if reply.get(reply.json_object(), "deleted", bool) is not True:
        raise reply.malformed("'deleted' is not true")
    return True


def _anonymise(http: HttpClient, user: ForumUser) -> Outcome:
    reply = http.request("PUT", f"/admin/users/{user.id}/anonymize.json", what=ANONYMISATION)
    data = reply.json_object()
    if reply.get(data, "success", str) != "OK":
        raise reply.malformed("'success' is not OK")
    new_name = reply.get(data, "username", str)
    return _anonymised([f"user {user.id} anonymised (now {new_name}); posts kept"])


def _anonymised(changed: list[str]) -> Outcome:
    return Outcome(
        Action.ERASE,
        OutcomeKind.ANONYMISED,
        summary="Anonymised the forum user; posts and messages stay under an anonymous name",
        changed=changed,
        remains=list(REMAINS_AFTER_ANONYMISING),
    )


def _refused(user: ForumUser, detail: Reply, data: dict[str, Any], deletion: str) -> Outcome:
    staff = detail.optional(data, "admin", bool, False) or detail.optional(
        data, "moderator", bool, False
    )
    reason = (
        "Discourse neither deletes nor anonymises staff accounts: revoke the user's admin or "
        "moderator role (Admin > Users), then retry"
        if staff
        else "Discourse refuses to anonymise this user (already anonymised, or not permitted)"
    )
    if deletion:
        reason = f"{deletion}; {reason}"
    return Outcome(
        Action.ERASE,
        OutcomeKind.REFUSED,
        summary=f"user {user.id}: {reason}",
        refusal=reason,
    )


def _combine(action: Action, outcomes: list[Outcome]) -> Outcome:
    """One outcome for several forum users of one person: the least done decides the kind."""
    if len(outcomes) == 1:
        return outcomes[0]
    order = [OutcomeKind.REFUSED, OutcomeKind.ANONYMISED, OutcomeKind.ERASED]
    kind = next(k for k in order if any(o.kind == k for o in outcomes))
    return Outcome(
        action,
        kind,
        summary="; ".join(o.summary for o in outcomes),
        changed=[line for o in outcomes for line in o.changed],
        remains=sorted({code for o in outcomes for code in o.remains}),
        refusal="; ".join(o.refusal for o in outcomes if o.refusal),
    )


def _post_pages(
    http: HttpClient, user: ForumUser, *, offset: int
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """The user's topics, replies and private messages a page at a time (Discourse pages by
    30; an empty page ends the list), each with the offset after it."""
    while True:
        reply = http.request(
            "GET",
            "/user_actions.json",
            what="post list",
            params={"username": user.username, "filter": WRITTEN, "offset": offset},
        )
        actions = reply.objects(reply.json_object(), "user_actions")
        if not actions:
            return
        offset += len(actions)
        yield [_post(reply, action) for action in actions if _own(reply, action, user)], offset


def _own(reply: Reply, action: dict[str, Any], user: ForumUser) -> bool:
    # Only what the person wrote: the other people in these fields (whose topic they replied
    # to, whom they messaged) are not part of their data.
    return reply.get(action, "user_id", int) == user.id


def _post(reply: Reply, action: dict[str, Any]) -> dict[str, Any]:
    kind = reply.get(action, "action_type", int)
    return {
        "post_id": reply.get(action, "post_id", int),
        "topic_id": reply.get(action, "topic_id", int),
        "post_number": reply.optional(action, "post_number", int, 0),
        "kind": {NEW_TOPIC: "topic", NEW_PRIVATE_MESSAGE: "message"}.get(kind, "reply"),
        "title": reply.optional(action, "title", str, ""),
        "excerpt": reply.optional(action, "excerpt", str, ""),
        "created_at": reply.get(action, "created_at", str),
        "category_id": reply.optional(action, "category_id", int, 0),
        "post_type": reply.optional(action, "post_type", int, 1),
        "deleted": reply.optional(action, "deleted", bool, False),
        "hidden": reply.optional(action, "hidden", bool, False),
    }
