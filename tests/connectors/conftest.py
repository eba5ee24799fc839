"""Shared parts of the connector tests: a sink that keeps what an export wrote, a retry policy
that records its waits instead of sleeping, and running a sandbox for a test module."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from connectors.budget import LocalBudgetStore
from connectors.demo_people import DEMO_PEOPLE, DemoPerson
from connectors.http import RetryPolicy
from connectors.sandbox_base import SandboxControl, SandboxServer


class Records:
    """A RecordSink that keeps every record, to look at after an export."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    def write(self, category: str, record: Mapping[str, Any]) -> None:
        self.items.append((category, dict(record)))

    def of(self, category: str) -> list[dict[str, Any]]:
        return [record for kind, record in self.items if kind == category]

    def text(self) -> str:
        return json.dumps(self.items).lower()


class Checkpoints:
    """An export's sink and progress as the app keeps them: records become durable together
    with the cursor at each checkpoint; what an attempt wrote after its last checkpoint is
    lost when it stops (``abandon``), as a killed worker's partial page is."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, dict[str, Any]]] = []
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self._cursor: dict[str, Any] = {}
        self.checkpoints = 0

    @property
    def cursor(self) -> Mapping[str, Any]:
        return self._cursor

    def checkpoint(self, cursor: Mapping[str, Any]) -> None:
        # Round-tripped through JSON, as the app stores it.
        self._cursor = json.loads(json.dumps(cursor))
        self.kept += self.pending
        self.pending = []
        self.checkpoints += 1

    def write(self, category: str, record: Mapping[str, Any]) -> None:
        self.pending.append((category, dict(record)))

    def abandon(self) -> None:
        self.pending = []

    def finish(self) -> None:
        self.kept += self.pending
        self.pending = []

    def of(self, category: str) -> list[dict[str, Any]]:
        return [record for kind, record in self.kept if kind == category]


def others_than(person: DemoPerson) -> list[str]:
    """Strings that identify the other demo people: their addresses and surnames."""
    return [
        text.lower()
        for other in DEMO_PEOPLE
        if other is not person
        for text in (other.email, other.last_name, other.forum_username)
        if text
    ]


@pytest.fixture
def records() -> Records:
    return Records()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def budget() -> LocalBudgetStore:
    """A budget store of the test's own, so no test spends another's budget."""
    return LocalBudgetStore()


@pytest.fixture
def retry(sleeps: list[float]) -> RetryPolicy:
    """Three tries, waits recorded rather than slept, no jitter: fast and predictable."""
    return RetryPolicy(
        tries=3, backoff_s=0.5, max_wait_s=30.0, sleep=sleeps.append, jitter=lambda: 1.0
    )


def serve(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    sandbox.start()
    yield sandbox
    sandbox.stop()


def controlled(sandbox: SandboxServer) -> Iterator[SandboxControl]:
    """Drive the sandbox over its control routes, from a fresh state."""
    with SandboxControl(sandbox.base_url) as control:
        control.reset()
        yield control
        # Wakes any call still hanging in a timeout fault.
        control.reset()


def api_calls(control: SandboxControl, path_end: str, *, status: int | None = None) -> int:
    return sum(
        1
        for call in control.calls()
        if call["path"].endswith(path_end) and (status is None or call["status"] == status)
    )
