"""The connector interface: identities in, plain outcomes out, and errors of two kinds.

A connector drives one kind of system (a CRM, a newsletter tool, a forum, a database). It gets the
data subject's ``Identity`` and its own settings, and returns plain data classes. Errors are
``ConnectorError``: *retryable* ones (timeouts, rate limits, server errors) are tried again later,
*final* ones (bad credentials, a refused request, a malformed reply) need a person to act.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, Self


class Action(StrEnum):
    """What a data-subject request asks a system to do."""

    EXPORT = "export"
    ERASE = "erase"
    RESTRICT = "restrict"
    RECTIFY = "rectify"
    OBJECT = "object"


# The field names a rectification may name; each connector maps them to its own fields.
GENERIC_FIELDS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "name",
        "phone",
        "company",
        "job_title",
        "street",
        "postal_code",
        "city",
        "country",
    }
)


@dataclass(frozen=True)
class Identity:
    """Who the request is about, as verified by the app (the email address was confirmed)."""

    email: str
    name: str = ""
    customer_number: str = ""
    forum_username: str = ""

    @property
    def normalized_email(self) -> str:
        """The address as systems compare it: without surrounding spaces, in lower case."""
        return self.email.strip().lower()


class ConnectorError(Exception):
    """A system could not do what was asked.

    ``retryable`` errors pass (a timeout, a rate limit, a server error): the caller tries again,
    no sooner than ``retry_after`` seconds when the system said so. Final errors need a person:
    the message says what to check.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        system: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.system = system

    # True only for ``RateLimited``: the system is fine, the budget says "not yet".
    waiting_only = False

    def __str__(self) -> str:
        return self.message


class RateLimited(ConnectorError):
    """Only waiting, no failure: the system's rate-limit budget allows the next request in
    ``retry_after`` seconds, longer than a worker should sit idle.

    The caller sets a ``not_before`` time on the run and continues from the export's last
    checkpoint then; such an attempt does not count towards giving up (``waiting_only``).
    """

    waiting_only = True

    def __init__(self, message: str, *, retry_after: float, system: str = "") -> None:
        super().__init__(message, retryable=True, retry_after=retry_after, system=system)
        self.retry_after: float = retry_after


class WriteJournal(Protocol):
    """Told right before a connector sends a request that changes the system, so the app can
    record (and commit) that the change was attempted before its result is known."""

    def before_write(self, what: str) -> None: ...


_journal: ContextVar[WriteJournal | None] = ContextVar("dsar_write_journal", default=None)


@contextmanager
def journaling(journal: WriteJournal) -> Iterator[None]:
    """Let ``before_write`` calls in this context reach ``journal``."""
    token = _journal.set(journal)
    try:
        yield
    finally:
        _journal.reset(token)


def before_write(what: str) -> None:
    """Connectors call this right before each request that changes the system (the HTTP
    helper does it for every write it sends); a no-op outside ``journaling``."""
    journal = _journal.get()
    if journal is not None:
        journal.before_write(what)


class RecordSink(Protocol):
    """Where an export writes its records, one at a time, so memory stays bounded."""

    def write(self, category: str, record: Mapping[str, Any]) -> None: ...


class OutcomeKind(StrEnum):
    """What happened in one system, in the closed vocabulary every document reads.

    A connector returns one of these for each action; the app adds ``retained`` (from the
    register's retention rules) and ``failed``. Nothing else is ever said about a system.
    """

    EXPORTED = "exported"  # counts per category
    ERASED = "erased"
    ANONYMISED = "anonymised"  # ``remains``: what is kept, without the person's identity
    RETAINED = "retained"  # kept under a legal obligation until a date (set by the app)
    RESTRICTED = "restricted"
    UNSUBSCRIBED = "unsubscribed"  # ``unsubscribed_from``: the lists or subscription types
    CORRECTED = "corrected"  # ``corrections``: field, old value, new value
    NOT_HELD = "not_held"  # the system holds nothing about the person
    NOT_USED = "not_used_for_this_purpose"  # held, but not used for what the person objected to
    REFUSED = "refused_by_system"  # ``refusal``: the system's own reason
    FAILED = "failed"  # set by the app when a run gives up


# What may remain after an anonymisation, by code; the app words each for the person.
REMAINS: dict[str, str] = {
    "posts": "posts and topics, shown under an anonymous name",
    "private_messages": "private messages, under an anonymous name",
    "anonymous_profile": "an account with no name, email or profile",
    "aggregate_statistics": "statistics that no longer identify the person",
    "rows_without_identity": "records with the identifying columns removed",
    "suppression_entry": "a hashed entry of the address on the system's do-not-contact list",
}


@dataclass(frozen=True)
class Correction:
    """One corrected field: what the system held and what it holds now (Art. 16, Art. 19)."""

    field: str
    old: str
    new: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass
class ExportOutcome:
    """What an export found: whether the person is known, and how many records per category."""

    found: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> OutcomeKind:
        return OutcomeKind.EXPORTED if self.found else OutcomeKind.NOT_HELD


@dataclass
class Outcome:
    """What an erase, restrict, rectify or object action did, as one ``OutcomeKind``.

    ``summary`` and ``changed`` are for staff ("contact 123 deleted"), never the personal data
    itself. The typed fields carry what the person's documents and the Art. 19 notices say:
    ``remains`` (codes of ``REMAINS``) for an anonymisation, ``corrections`` for a correction,
    ``unsubscribed_from`` wherever marketing was switched off (also with a restriction),
    ``not_held_fields`` for fields a correction names that the system does not hold, and
    ``refusal`` for the system's reason when it refused. ``details`` holds machine extras.
    """

    action: Action
    kind: OutcomeKind
    summary: str = ""
    changed: list[str] = field(default_factory=list)
    remains: list[str] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    not_held_fields: list[str] = field(default_factory=list)
    unsubscribed_from: list[str] = field(default_factory=list)
    refusal: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether the system held anything about the person."""
        return self.kind != OutcomeKind.NOT_HELD

    @classmethod
    def nothing_found(cls, action: Action) -> Outcome:
        return cls(action=action, kind=OutcomeKind.NOT_HELD, summary="nothing found")

    @classmethod
    def rectified(
        cls,
        *,
        corrections: list[Correction],
        not_held: list[str],
        holder: str,
        changed: list[str] | None = None,
    ) -> Outcome:
        """A correction of a person who was found: what changed (old and new values), and
        which fields the system does not hold at all."""
        lines = changed if changed is not None else [f"{c.field} corrected" for c in corrections]
        summary = f"Corrected {', '.join(lines)}" if lines else "Already correct"
        if not_held:
            summary += f"; {holder} holds no {', '.join(not_held)}"
        return cls(
            Action.RECTIFY,
            OutcomeKind.CORRECTED,
            summary=summary,
            changed=lines,
            corrections=corrections,
            not_held_fields=not_held,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "kind": str(self.kind),
            "summary": self.summary,
            "changed": list(self.changed),
            "remains": list(self.remains),
            "corrections": [c.as_json() for c in self.corrections],
            "not_held_fields": list(self.not_held_fields),
            "unsubscribed_from": list(self.unsubscribed_from),
            "refusal": self.refusal,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            action=Action(data["action"]),
            kind=OutcomeKind(data["kind"]),
            summary=data.get("summary", ""),
            changed=list(data.get("changed", [])),
            remains=list(data.get("remains", [])),
            corrections=[Correction(**c) for c in data.get("corrections", [])],
            not_held_fields=list(data.get("not_held_fields", [])),
            unsubscribed_from=list(data.get("unsubscribed_from", [])),
            refusal=data.get("refusal", ""),
            details=dict(data.get("details", {})),
        )


@dataclass(frozen=True)
class Subscription:
    """One marketing subscription the person holds in a system, and who made it, as far as the
    system's own record shows.

    ``key`` is what ``Connector.unsubscribe`` takes (a list id, a subscription type id);
    ``name`` is for people. ``by_person`` is True where the system records the person's own
    confirmed opt-in (Mailchimp's double opt-in: ``ip_opt`` and ``timestamp_opt``), False where
    it records that someone else made it (an import, an API call, staff), None where the system
    does not say. ``since`` is when the system recorded that opt-in or subscription; ``how`` is
    the system's own account of it, for staff.
    """

    key: str
    name: str
    by_person: bool | None
    since: dt.datetime | None = None
    how: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "by_person": self.by_person,
            "since": self.since.isoformat() if self.since else None,
            "how": self.how,
        }


class ExportProgress(Protocol):
    """Where a resumable export stands: the connector reads ``cursor`` when it starts (empty at
    the first attempt) and calls ``checkpoint`` after each page it has written to the sink.

    The app makes checkpoints durable (the records written so far and the cursor together; at
    most every ``DSAR_RUN_CHECKPOINT_SECONDS``, and whenever an attempt stops short), so an
    attempt cut short — by a rate limit's wait or a killed worker — resumes where the last
    durable checkpoint left off, without writing any record twice. The cursor is the connector's own
    JSON-serialisable object (say ``{"stream": "posts", "offset": 930}``).
    """

    @property
    def cursor(self) -> Mapping[str, Any]: ...

    def checkpoint(self, cursor: Mapping[str, Any]) -> None: ...


class Resume:
    """A resumable export's position, one entry per stream, kept in ``ExportProgress``.

    A stream is one sequence of pages ("user 2 posts", "contact 1001 calls"); its entry is the
    connector's position in it (an offset, an ``after`` token) or ``DONE``. The cursor also
    holds the counts of records written so far, so the outcome of a resumed export counts every
    record, not only this attempt's. With ``progress`` None it keeps the position for itself:
    the export simply runs from the start.

    The cursor looks like ``{"streams": {"user:2:posts": {"offset": 930}, "user:2:profile":
    "done"}, "counts": {"profile": 1, "posts": 930}}``.
    """

    DONE = "done"

    def __init__(self, progress: ExportProgress | None) -> None:
        self._progress = progress
        cursor = progress.cursor if progress is not None else {}
        self.streams: dict[str, Any] = dict(cursor.get("streams") or {})
        self.counts: Counter[str] = Counter(cursor.get("counts") or {})

    def done(self, stream: str) -> bool:
        return self.streams.get(stream) == self.DONE

    def position(self, stream: str) -> dict[str, Any]:
        """Where ``stream`` stopped (empty at its start)."""
        value = self.streams.get(stream)
        return dict(value) if isinstance(value, Mapping) else {}

    def checkpoint(self, stream: str, position: Mapping[str, Any] | str) -> None:
        """Record the position after a page written to the sink (``DONE`` after the last)."""
        self.streams[stream] = position if isinstance(position, str) else dict(position)
        if self._progress is not None:
            self._progress.checkpoint({"streams": dict(self.streams), "counts": dict(self.counts)})

    def finish(self, stream: str) -> None:
        self.checkpoint(stream, self.DONE)


class CountingSink:
    """Passes records on to the caller's sink and counts them per category (from the counts
    a resumed export had already written)."""

    def __init__(self, sink: RecordSink, resume: Resume | None = None) -> None:
        self._sink = sink
        self.counts: Counter[str] = resume.counts if resume is not None else Counter()

    def write(self, category: str, record: Mapping[str, Any]) -> None:
        self._sink.write(category, record)
        self.counts[category] += 1

    def outcome(self) -> ExportOutcome:
        return ExportOutcome(found=bool(self.counts), counts=dict(self.counts))


@dataclass(frozen=True)
class CheckItem:
    """One thing a connection check looked at: what it found or did, or exactly what a person
    must do (``ok`` False)."""

    name: str
    ok: bool
    message: str
    created: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "message": self.message, "created": self.created}


@dataclass
class CheckReport:
    """What ``Connector.check`` found: credentials, scopes, the custom fields it needs."""

    system: str
    items: list[CheckItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    def add(self, name: str, *, ok: bool, message: str, created: bool = False) -> None:
        self.items.append(CheckItem(name=name, ok=ok, message=message, created=created))

    def as_json(self) -> dict[str, Any]:
        return {"system": self.system, "ok": self.ok, "items": [i.as_json() for i in self.items]}


class Connector(ABC):
    """One kind of system, behind the same five actions.

    ``supports`` names the actions the connector can carry out; the app turns any other action
    into a manual task, and the methods for them raise ``NotImplementedError``. A connector may
    narrow ``supports`` per instance when its settings decide it. Every action is idempotent:
    doing it again finds nothing more to do and says so.
    """

    key: ClassVar[str]
    display_name: ClassVar[str]
    supports: frozenset[Action] = frozenset()

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        """Build the connector from its plain settings and the secrets they name.

        Raises a final ``ConnectorError`` that says which setting or secret is wrong.
        """

    def interrupted_erasure(self, writes: Sequence[str]) -> Outcome:
        """What an erasure did here whose writes (``writes``, as journaled by ``before_write``)
        an attempt sent before it was cut short, now that a later attempt finds nothing of the
        person: erased, unless the connector knows that those writes leave something behind
        (it then overrides this)."""
        return Outcome(Action.ERASE, OutcomeKind.ERASED, summary="Erased", changed=list(writes))

    def check(self) -> CheckReport:
        """Check the connection: credentials, scopes, and the custom fields the actions need,
        creating those the system's API lets us create. Never changes a person's data."""
        report = CheckReport(self.display_name)
        report.add("connection", ok=True, message="nothing to connect to: work is done by hand")
        return report

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        raise self._unsupported(Action.EXPORT)

    def holds(self, identity: Identity) -> bool | None:
        """Whether the system holds anything about the person, found cheaply (a lookup, not
        an export); None when the connector cannot tell. Used where an action does not apply
        (an objection to marketing in a system that does none) to say truthfully whether the
        person's data are there."""
        return None

    def subscriptions(self, identity: Identity) -> list[Subscription] | None:
        """The person's current marketing subscriptions here, each with who made it as far as
        the system shows; None for a connector that does no marketing. Never changes anything.
        The app checks these for people who objected to direct marketing (Art. 21(3))."""
        return None

    def unsubscribe(self, identity: Identity, *, keys: Collection[str]) -> Outcome:
        """End the subscriptions ``keys`` names (``Subscription.key``) and no other; an
        ``unsubscribed`` outcome naming what changed, or ``not_held``."""
        raise self._unsupported(Action.OBJECT)

    def erase(self, identity: Identity) -> Outcome:
        raise self._unsupported(Action.ERASE)

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        raise self._unsupported(Action.RESTRICT)

    def rectify(self, identity: Identity, *, changes: Mapping[str, str]) -> Outcome:
        raise self._unsupported(Action.RECTIFY)

    def object(self, identity: Identity) -> Outcome:
        raise self._unsupported(Action.OBJECT)

    def _unsupported(self, action: Action) -> NotImplementedError:
        return NotImplementedError(f"{self.display_name} cannot {action} by itself")
