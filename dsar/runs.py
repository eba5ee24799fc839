"""Running one system's part of a case: claim it, call its connector, record what happened.

The Celery task in ``dsar.tasks`` is a thin loop around ``perform_run``; everything it decides
lives here. Connectors know nothing of these models: they get a plain identity and settings.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors.base import Action, Connector, ConnectorError, Identity
from connectors.manual.connector import ManualConnector
from connectors.registry import get_connector_class

from . import tasks, transitions
from .events import SYSTEM, append_event
from .models import (
    Case,
    CaseType,
    DataSystem,
    ManualTask,
    RunStatus,
    SystemRun,
)
from .rights import request_day, retention_obligations

logger = logging.getLogger(__name__)

ACTION_FOR_TYPE: dict[str, Action] = {
    CaseType.ACCESS: Action.EXPORT,
    CaseType.PORTABILITY: Action.EXPORT,
    CaseType.ERASURE: Action.ERASE,
    CaseType.RESTRICTION: Action.RESTRICT,
    CaseType.RECTIFICATION: Action.RECTIFY,
    CaseType.OBJECTION: Action.OBJECT,
}

# Art. 19: the recipients of a system's data are told of these.
NOTIFIED_ACTIONS = frozenset({Action.ERASE, Action.RESTRICT, Action.RECTIFY})

FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.WAITING_MANUAL})


@dataclass(frozen=True)
class Claim:
    """The answer to "may this worker run it now?": yes, no (it is done), or later."""

    claimed: bool
    done: bool = False
    retry_in: float = 0.0


def identity_of(case: Case) -> Identity:
    return Identity(
        email=case.email,
        name=case.name,
        customer_number=case.customer_number,
        forum_username=case.forum_username,
    )


def connector_for(system: DataSystem) -> Connector:
    connector_class = get_connector_class(system.connector)
    return connector_class.from_config(system.config, secrets=settings.CONNECTOR_SECRETS)


def action_for(case: Case) -> Action:
    """What the systems do for this case; an upheld objection to other processing stops that
    processing, so the systems restrict the person's data."""
    if case.type == CaseType.OBJECTION and case.details.get("decision") == "upheld":
        return Action.RESTRICT
    return ACTION_FOR_TYPE[case.type]


def create_runs(case: Case) -> list[SystemRun]:
    """One pending run per enabled system (the caller holds the case lock)."""
    action = action_for(case)
    return [
        SystemRun.objects.get_or_create(case=case, system=system, action=action)[0]
        for system in DataSystem.objects.filter(enabled=True)
    ]


def claim_run(run_id: int, *, now: dt.datetime | None = None) -> Claim:
    """Take the run for this worker, within its system's bound on parallel runs.

    A run still RUNNING under a live lease belongs to another worker; one whose lease has
    lapsed (its worker died) is taken over.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run = SystemRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in FINAL_RUN_STATUSES:
            return Claim(claimed=False, done=True)
        if run.status == RunStatus.RUNNING and run.lease_until and run.lease_until > now:
            return Claim(claimed=False, retry_in=min((run.lease_until - now).total_seconds(), 30))
        # Locking the system row makes the count and the claim one step for all its runs.
        system = DataSystem.objects.select_for_update().get(pk=run.system_id)
        running = (
            SystemRun.objects.filter(system=system, status=RunStatus.RUNNING, lease_until__gt=now)
            .exclude(pk=run.pk)
            .count()
        )
        if running >= system.max_concurrency:
            return Claim(claimed=False, retry_in=random.uniform(0.5, 2.0))  # noqa: S311
        run.status = RunStatus.RUNNING
        run.lease_until = now + dt.timedelta(seconds=settings.DSAR["RUN_LEASE_SECONDS"])
        run.attempts += 1
        run.started_at = run.started_at or now
        run.save(update_fields=["status", "lease_until", "attempts", "started_at"])
        return Claim(claimed=True)


class JsonLinesSink:
    """Writes exported records to a file as they arrive, so memory stays bounded."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter()

    def write(self, category: str, record: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps({"category": category, "record": record}, default=str))
        self.stream.write("\n")
        self.counts[category] += 1


def result_path(run: SystemRun) -> Path:
    return Path("runs") / run.case.public_id.hex / f"{run.system.key}-{run.action}.jsonl"


def _export(connector: Connector, run: SystemRun) -> dict[str, Any]:
    relative = result_path(run)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    # A re-run writes the file anew and replaces the old one in one step.
    with partial.open("w", encoding="utf-8") as stream:
        sink = JsonLinesSink(stream)
        outcome = connector.export(identity_of(run.case), sink)
    os.replace(partial, target)
    run.result_file = str(relative)
    return {"found": outcome.found, "counts": dict(sink.counts)}


def approved_changes(case: Case) -> dict[str, str]:
    """The fields staff accepted (or edited) for a correction, and the values to write."""
    changes = {}
    for change in case.changes.all():
        value = change.value_to_write
        if value is not None:
            changes[change.field] = value
    return changes


def _act(connector: Connector, run: SystemRun) -> dict[str, Any]:
    identity = identity_of(run.case)
    action = Action(run.action)
    reason = f"Data-subject request {run.case.reference}"
    if action == Action.ERASE:
        kept = retention_obligations(run.system, on=request_day(run.case))
        if kept:
            # Art. 17(3)(b): what a statute obliges us to keep is restricted, not erased.
            until = max(item.until for item in kept)
            outcome = connector.restrict(
                identity, reason=f"{reason}: kept under a statutory obligation until {until}"
            )
            return {
                "found": outcome.found,
                "summary": "kept under a statutory obligation and restricted"
                if outcome.found
                else outcome.summary,
                "changed": outcome.changed,
                "retained": [item.as_json() for item in kept] if outcome.found else [],
            }
        outcome = connector.erase(identity)
    elif action == Action.RESTRICT:
        outcome = connector.restrict(identity, reason=f"{reason} (Art. 18 GDPR)")
    elif action == Action.RECTIFY:
        outcome = connector.rectify(identity, changes=approved_changes(run.case))
    else:
        outcome = connector.object(identity)
    return {"found": outcome.found, "summary": outcome.summary, "changed": outcome.changed}


def _finish(run: SystemRun, status: str, *, summary: dict[str, Any], error: str = "") -> None:
    now = timezone.now()
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=run.case_id)
        run.status = status
        run.summary = summary
        run.last_error = error
        run.lease_until = None
        run.finished_at = now
        if run.started_at:
            run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
        run.save()
        append_event(
            case,
            actor=SYSTEM,
            action=f"run_{status}",
            data={"system": run.system.key, "action": run.action, "attempts": run.attempts}
            | ({"error": error} if error else {})
            | ({"counts": summary["counts"]} if "counts" in summary else {}),
        )
    transitions.settle_case(run.case_id)


def _ask_for_manual_work(run: SystemRun, *, team: str, instructions: str) -> None:
    summary: dict[str, Any] = {"manual": True}
    if run.action == Action.ERASE:
        kept = retention_obligations(run.system, on=request_day(run.case))
        if kept:
            summary["retained"] = [item.as_json() for item in kept]
            # Several activities of one system may share an obligation: say it once.
            instructions += " " + " ".join(
                dict.fromkeys(
                    f"Keep and restrict what falls under: {item.obligation} (until {item.until})."
                    for item in kept
                )
            )
    ManualTask.objects.get_or_create(run=run, defaults={"team": team, "instructions": instructions})
    _finish(run, RunStatus.WAITING_MANUAL, summary=summary)


def _nothing_to_object_to(connector: Connector, run: SystemRun) -> bool:
    """An objection to direct marketing concerns only systems that market: an automated one
    without an unsubscribe, or a manual one with no instructions for it, has nothing to do."""
    if run.action != Action.OBJECT:
        return False
    if isinstance(connector, ManualConnector):
        return Action.OBJECT not in connector.settings.instructions
    return True


def _manual_work(connector: Connector, run: SystemRun) -> tuple[str, str]:
    """Who does an action by hand, and how: the manual system's own instructions, or, for an
    action an automated connector lacks, the privacy team with a general instruction."""
    if isinstance(connector, ManualConnector):
        return connector.team, connector.instructions_for(Action(run.action))
    return (
        "Privacy team",
        f"{run.system.name} cannot '{run.action}' through its connector: do it by hand in "
        f"{run.system.name} for case {run.case.reference}, then record what you found or did.",
    )


@dataclass(frozen=True)
class RunResult:
    """What the task should do next: nothing, or try again after ``retry_in`` seconds."""

    retry_in: float | None = None


def perform_run(run_id: int) -> RunResult:
    """Claim the run, call its connector once, and record the outcome or the error."""
    claim = claim_run(run_id)
    if claim.done:
        return RunResult()
    if not claim.claimed:
        return RunResult(retry_in=claim.retry_in)
    run = SystemRun.objects.select_related("case", "system").get(pk=run_id)
    started = time.monotonic()
    try:
        connector = connector_for(run.system)
        if Action(run.action) not in connector.supports:
            if _nothing_to_object_to(connector, run):
                _finish(
                    run,
                    RunStatus.SUCCEEDED,
                    summary={"found": False, "summary": "not used for direct marketing"},
                )
                return RunResult()
            team, instructions = _manual_work(connector, run)
            _ask_for_manual_work(run, team=team, instructions=instructions)
            return RunResult()
        perform = _export if run.action == Action.EXPORT else _act
        summary = perform(connector, run)
    except ConnectorError as error:
        return _record_error(run, error)
    except SoftTimeLimitExceeded:
        timeout = ConnectorError(f"{run.system.name} took too long", retryable=True)
        return _record_error(run, timeout)
    except Exception as error:  # a connector bug must not leave the run RUNNING for ever
        logger.exception("run %s of %s failed unexpectedly", run.pk, run.system.key)
        _finish(
            run, RunStatus.FAILED, summary={}, error=f"Unexpected error: {type(error).__name__}"
        )
        return RunResult()
    summary["seconds"] = round(time.monotonic() - started, 3)
    _finish(run, RunStatus.SUCCEEDED, summary=summary)
    if summary.get("found") and run.action in NOTIFIED_ACTIONS and run.system.recipient_emails:
        tasks.notify_recipients_task.delay(run.pk)
    return RunResult()


def _record_error(run: SystemRun, error: ConnectorError) -> RunResult:
    message = str(error)
    if not error.retryable or run.attempts >= settings.DSAR["RUN_MAX_ATTEMPTS"]:
        prefix = "" if not error.retryable else f"Gave up after {run.attempts} attempts: "
        _finish(run, RunStatus.FAILED, summary={}, error=prefix + message)
        return RunResult()
    # A passing error: give the claim back and try again later, with exponential backoff and
    # jitter, never sooner than the system asked (Retry-After).
    backoff = min(
        settings.DSAR["RUN_BACKOFF_SECONDS"] * 2 ** (run.attempts - 1),
        settings.DSAR["RUN_BACKOFF_MAX_SECONDS"],
    )
    delay = max(random.uniform(backoff / 2, backoff), error.retry_after or 0)  # noqa: S311
    SystemRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.PENDING, lease_until=None, last_error=message
    )
    return RunResult(retry_in=delay)
