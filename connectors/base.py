"""The connector interface: identities in, plain outcomes out, and errors of two kinds.

A connector drives one kind of system (a CRM, a newsletter tool, a forum, a database). It gets the
data subject's ``Identity`` and its own settings, and returns plain data classes. Errors are
``ConnectorError``: *retryable* ones (timeouts, rate limits, server errors) are tried again later,
*final* ones (bad credentials, a refused request, a malformed reply) need a person to act.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
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
    {"email", "first_name", "last_name", "name", "phone", "company", "job_title", "country"}
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

    def __str__(self) -> str:
        return self.message


class RecordSink(Protocol):
    """Where an export writes its records, one at a time, so memory stays bounded."""

    def write(self, category: str, record: Mapping[str, Any]) -> None: ...


@dataclass
class ExportOutcome:
    """What an export found: whether the person is known, and how many records per category."""

    found: bool
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """What an erase, restrict, rectify or object action did.

    ``changed`` lists what was done in words staff and the subject can read ("contact 123
    deleted"), never the personal data itself; ``details`` holds machine-readable extras.
    """

    action: Action
    found: bool
    summary: str
    changed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def nothing_found(cls, action: Action) -> Outcome:
        return cls(action=action, found=False, summary="nothing found")

    @classmethod
    def rectified(
        cls, *, changed: list[str], not_held: list[str], corrected: str, holder: str
    ) -> Outcome:
        """A correction of a person who was found: what changed, and which fields the system
        does not hold at all."""
        summary = corrected if changed else "Already correct"
        if not_held:
            summary += f"; {holder} holds no {', '.join(not_held)}"
        return cls(
            Action.RECTIFY,
            found=True,
            summary=summary,
            changed=changed,
            details={"not_held": not_held},
        )


class CountingSink:
    """Passes records on to the caller's sink and counts them per category."""

    def __init__(self, sink: RecordSink) -> None:
        self._sink = sink
        self.counts: Counter[str] = Counter()

    def write(self, category: str, record: Mapping[str, Any]) -> None:
        self._sink.write(category, record)
        self.counts[category] += 1

    def outcome(self) -> ExportOutcome:
        return ExportOutcome(found=bool(self.counts), counts=dict(self.counts))


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

    def export(self, identity: Identity, sink: RecordSink) -> ExportOutcome:
        raise self._unsupported(Action.EXPORT)

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
