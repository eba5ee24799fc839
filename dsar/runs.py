"""Running one system's part of a case: claim it, call its connector, record each attempt.

The Celery task in ``dsar.tasks`` calls ``perform_run`` and, when it returns a final
``RunReport``, hands that to ``dsar.transitions.finish_run``, which records it and moves the
case on in one transaction. This module changes only the run's own working state (its claim,
attempts, cursor and waits); it never changes a case and calls no transition. Connectors know
nothing of these models: they get a plain identity and settings.

Every attempt is written (``RunAttempt``, committed) before the system is called, and every
write the connector is about to send is journaled on it, so an attempt cut short by a crash is
known: an erasure whose worker died after the system performed it is reported as done in that
attempt and confirmed absent by the next, never as "nothing found".
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors.base import (
    Action,
    Connector,
    ConnectorError,
    Identity,
    Outcome,
    OutcomeKind,
    RateLimited,
    journaling,
)
from connectors.budget import BudgetStore, BudgetUnavailable, budget_store
from connectors.http import HttpConnector
from connectors.manual.connector import ManualConnector
from connectors.registry import get_connector_class

from . import queue, testhooks
from .models import (
    OPEN_STATUSES,
    AttemptState,
    Case,
    CaseType,
    DataSystem,
    ProcessingActivity,
    RunAttempt,
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

FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.WAITING_MANUAL})


def identity_of(case: Case) -> Identity:
    return Identity(
        email=case.email,
        name=case.name,
        customer_number=case.customer_number,
        forum_username=case.forum_username,
    )


def budgets() -> BudgetStore:
    """The rate-limit budgets and slots every worker shares (Redis; in-process without it)."""
    return budget_store(settings.REDIS_URL or None)


def connector_for(system: DataSystem) -> Connector:
    connector_class = get_connector_class(system.connector)
    if issubclass(connector_class, HttpConnector):
        return connector_class.from_config(
            system.config, secrets=settings.CONNECTOR_SECRETS, budget=budgets()
        )
    return connector_class.from_config(system.config, secrets=settings.CONNECTOR_SECRETS)


def _slot_key(system_id: int) -> str:
    return f"system:{system_id}:runs"


def _holder(run_id: int) -> str:
    return f"run:{run_id}"


def _take_slot(system: DataSystem, run: SystemRun, *, now: dt.datetime) -> bool:
    """One of the system's ``max_concurrency`` slots for this run, for the length of its lease:
    shared by all workers through Redis (a killed worker's slot lapses with its lease); with no
    Redis, counted in the database under the system's row lock."""
    if settings.REDIS_URL:
        return budgets().acquire(
            _slot_key(system.pk),
            limit=system.max_concurrency,
            lease_s=settings.DSAR["RUN_LEASE_SECONDS"],
            holder=_holder(run.pk),
        )
    running = (
        SystemRun.objects.filter(system=system, status=RunStatus.RUNNING, lease_until__gt=now)
        .exclude(pk=run.pk)
        .count()
    )
    return running < system.max_concurrency


def release_slot(run: SystemRun) -> None:
    """Give the run's slot back early; when Redis does not answer, the slot lapses with its
    lease instead (recording the run's result must not wait for Redis)."""
    if settings.REDIS_URL:
        try:
            budgets().release(_slot_key(run.system_id), holder=_holder(run.pk))
        except BudgetUnavailable as error:
            logger.warning("slot of run %s not released: %s", run.pk, error)


def action_for(case: Case) -> Action:
    """What the systems do for this case; an upheld objection to other processing stops that
    processing, so the systems restrict the person's data."""
    if case.type == CaseType.OBJECTION and case.details.get("decision") == "upheld":
        return Action.RESTRICT
    return ACTION_FOR_TYPE[case.type]


def create_runs(case: Case) -> list[SystemRun]:
    """One pending run per enabled system (the caller holds the case lock).

    An upheld objection to processing based on a public task or legitimate interests (Art.
    21(1)) stops only the activities objected to: a system that none of them uses is not
    restricted, and its run is recorded at once as ``not_used_for_this_purpose`` with the
    activities it serves and their legal bases, for the confirmation to say why. A system
    linked to no activity of the register is restricted: nothing shows it is not concerned.
    """
    action = action_for(case)
    objected = objected_activities(case)
    created = []
    for system in DataSystem.objects.filter(enabled=True).prefetch_related("activities"):
        defaults: dict[str, Any] = {}
        if objected is not None:
            served = list(system.activities.all())
            if served and not any(activity.key in objected for activity in served):
                defaults = _not_concerned(action, served)
        run, _created = SystemRun.objects.get_or_create(
            case=case, system=system, action=action, defaults=defaults
        )
        created.append(run)
    return created


def objected_activities(case: Case) -> set[str] | None:
    """The keys of the activities an upheld Art. 21(1) objection stops; None for any other
    case (every system then takes part)."""
    if case.type != CaseType.OBJECTION or case.details.get("decision") != "upheld":
        return None
    return set(case.details.get("objection_activities") or [])


def _not_concerned(action: Action, served: list[ProcessingActivity]) -> dict[str, Any]:
    now = timezone.now()
    activities = [{"key": a.key, "legal_basis": a.legal_basis} for a in served]
    outcome = Outcome(
        action,
        OutcomeKind.NOT_USED,
        summary="not restricted: used only for activities the objection does not concern",
        details={"not_objected": activities},
    )
    return {
        "status": RunStatus.SUCCEEDED,
        "outcome": OutcomeKind.NOT_USED,
        "outcome_data": outcome.as_json(),
        "started_at": now,
        "finished_at": now,
    }


# --- Claiming -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """The answer to "may this worker run it now?"."""

    attempt_id: int | None = None
    # Not now: the run is final, not yet due, another worker holds it, or its system has no
    # free slot (then it waits, in its place, for the run that frees one).
    reason: str = ""

    @property
    def claimed(self) -> bool:
        return self.attempt_id is not None


def claim_run(run_id: int, *, now: dt.datetime | None = None) -> Claim:
    """Take the run for this worker, within its system's bound on parallel runs.

    A run RUNNING under a live lease belongs to another worker; one whose lease has lapsed (its
    worker died) is taken over, and its last attempt is marked interrupted. A new attempt is
    recorded, committed, before the caller touches the system.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run = SystemRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in FINAL_RUN_STATUSES:
            return Claim(reason="done")
        if run.status == RunStatus.RUNNING and run.lease_until and run.lease_until > now:
            # Come back when the lease lapses, in case its worker is dead.
            queue.run_soon(run.pk, countdown=_capped((run.lease_until - now).total_seconds() + 1))
            return Claim(reason="held")
        if Case.objects.filter(pk=run.case_id).exclude(status__in=OPEN_STATUSES).exists():
            # Closed while this run waited, paused between parts of a long export or lost its
            # worker: it does nothing more, and writes no file that the deletion of the case's
            # files (dsar.casefiles) would miss.
            run.status = RunStatus.FAILED
            run.lease_until = None
            run.finished_at = now
            run.last_error = "The case was closed before this system finished."
            run.save(update_fields=["status", "lease_until", "finished_at", "last_error"])
            RunAttempt.objects.filter(run=run, state=AttemptState.IN_FLIGHT).update(
                state=AttemptState.INTERRUPTED, finished_at=now
            )
            release_slot(run)  # one handed over to it while it waited
            return Claim(reason="done")
        if run.status == RunStatus.PENDING and run.not_before and run.not_before > now:
            return Claim(reason="not_due")
        # Locking the system row makes the count and the claim one step for all its runs.
        system = DataSystem.objects.select_for_update().get(pk=run.system_id)
        try:
            free = _take_slot(system, run, now=now)
        except BudgetUnavailable as error:
            # Redis does not answer: the run stays due a little later, for the sweeper.
            run.queued_at = None
            run.not_before = now + dt.timedelta(seconds=error.retry_after)
            run.save(update_fields=["queued_at", "not_before"])
            return Claim(reason="not_due")
        if not free:
            # Wait in line: the run that frees a slot hands it to the longest-waiting run
            # (``hand_over_slot``), so this one keeps its place instead of going to the back of
            # the broker's queue.
            run.queued_at = None
            run.not_before = None
            run.save(update_fields=["queued_at", "not_before"])
            logger.info(
                "run waits for one of its system's %s slots",
                system.max_concurrency,
                extra={"run_id": run.pk},
            )
            return Claim(reason="no_slot")
        if run.status == RunStatus.RUNNING:
            RunAttempt.objects.filter(run=run, state=AttemptState.IN_FLIGHT).update(
                state=AttemptState.INTERRUPTED, finished_at=now
            )
        run.status = RunStatus.RUNNING
        run.lease_until = now + dt.timedelta(seconds=settings.DSAR["RUN_LEASE_SECONDS"])
        run.attempts += 1
        run.not_before = None
        run.started_at = run.started_at or now
        run.save(update_fields=["status", "lease_until", "attempts", "not_before", "started_at"])
        attempt = RunAttempt.objects.create(run=run, number=run.attempts, started_at=now)
        return Claim(attempt_id=attempt.pk)


# How long a slot handed over stays reserved for the run woken to take it: long enough for its
# task to come through a busy queue; if it does not, the slot lapses to whoever asks next.
HAND_OVER_LEASE_SECONDS = 60.0


def hand_over_slot(system: DataSystem) -> None:
    """A run of this system left RUNNING: the run that has waited longest for a slot gets the
    freed one, and is woken once the caller's transaction commits, its task ahead of those
    already queued.

    With Redis the slot is reserved for it at once (taken in its name), so that a run whose
    task comes first, one queued later, cannot take it: the waiting run keeps its place.
    """
    waiting = (
        SystemRun.objects.filter(
            system_id=system.pk,
            status=RunStatus.PENDING,
            queued_at__isnull=True,
            not_before__isnull=True,
        )
        .order_by("case__due_date", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is None:
        return
    if settings.REDIS_URL:
        try:
            budgets().acquire(
                _slot_key(system.pk),
                limit=system.max_concurrency,
                lease_s=HAND_OVER_LEASE_SECONDS,
                holder=_holder(waiting),
            )
        except BudgetUnavailable as error:
            # Redis does not answer: the waiting run is woken without a reservation (it takes
            # a slot when its task runs, as any run), and the caller's result is still recorded.
            logger.warning("slot for run %s not reserved: %s", waiting, error)
    queue.run_soon(waiting, ahead=True)


def _capped(seconds: float) -> float:
    limit: float = settings.DSAR["MAX_COUNTDOWN_SECONDS"]
    return max(0.0, min(seconds, limit))


# --- What an attempt ends with -------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    """A run's final result, for ``transitions.finish_run`` to record with the case."""

    run_id: int
    attempt_id: int
    status: str  # RunStatus: SUCCEEDED, FAILED or WAITING_MANUAL
    outcome: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    manual_team: str = ""
    manual_instructions: str = ""
    manual_team_email: str = ""

    @property
    def kind(self) -> str:
        return str(self.outcome.get("kind", ""))


class _Journal:
    """Commits each write the connector is about to send onto the attempt, before it is sent."""

    def __init__(self, attempt_id: int) -> None:
        self.attempt_id = attempt_id
        self.writes: list[str] = []

    def before_write(self, what: str) -> None:
        self.writes.append(what)
        RunAttempt.objects.filter(pk=self.attempt_id).update(writes=self.writes)


class AttemptPaused(Exception):
    """An export used up its time for this attempt at a checkpoint: it continues in a new
    task from there (progress, not failure)."""


class JsonLinesSink:
    """Writes exported records to a file as they arrive, so memory stays bounded."""

    def __init__(self, stream: IO[str], counts: Mapping[str, int] | None = None) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter(counts or {})

    def write(self, category: str, record: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps({"category": category, "record": record}, default=str))
        self.stream.write("\n")
        self.counts[category] += 1


class RunProgress:
    """The ``ExportProgress`` of one attempt. A checkpoint is made durable (the records written
    so far fsynced, then the connector's cursor and the file's length committed together, and
    the run's lease renewed) at most every ``RUN_CHECKPOINT_SECONDS``, and when an attempt
    stops short of the end (a wait, a pause, a failure: ``settle``); a finished export saves its
    whole file instead. A connector checkpoints after every page, and writing each one cost a
    short export more than its own HTTP calls. A worker that dies between two durable
    checkpoints loses nothing but time: the next attempt cuts the file back to the last durable
    length and pages again from the cursor that goes with it."""

    def __init__(self, run: SystemRun, stream: IO[str], sink: JsonLinesSink) -> None:
        self.run = run
        self.stream = stream
        self.sink = sink
        self.advanced = False  # a checkpoint of this attempt is durable
        self._cursor: Mapping[str, Any] = run.cursor.get("connector", {})
        self._pending: dict[str, Any] | None = None
        started = time.monotonic()
        self._deadline = started + settings.DSAR["RUN_ATTEMPT_BUDGET_SECONDS"]
        self._durable_at = started

    @property
    def cursor(self) -> Mapping[str, Any]:
        return self._cursor

    def checkpoint(self, cursor: Mapping[str, Any]) -> None:
        self.stream.flush()
        self._cursor = dict(cursor)
        self._pending = {
            "connector": self._cursor,
            "bytes": self.stream.tell(),
            "counts": dict(self.sink.counts),
        }
        now = time.monotonic()
        paused = now > self._deadline
        if paused or now - self._durable_at >= settings.DSAR["RUN_CHECKPOINT_SECONDS"]:
            self.settle()
        if paused:
            raise AttemptPaused

    def settle(self) -> None:
        """Make the last checkpoint durable, if it is not yet."""
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        os.fsync(self.stream.fileno())  # the bytes the cursor counts, before the cursor
        lease = timezone.now() + dt.timedelta(seconds=settings.DSAR["RUN_LEASE_SECONDS"])
        # Progress: the failed attempts before it no longer count towards giving up.
        SystemRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING).update(
            cursor=state, lease_until=lease, failures=0
        )
        self.run.cursor = state
        self.advanced = True
        self._durable_at = time.monotonic()
        if settings.REDIS_URL:  # the system slot lives as long as the run's lease
            budgets().acquire(
                _slot_key(self.run.system_id),
                limit=self.run.system.max_concurrency,
                lease_s=settings.DSAR["RUN_LEASE_SECONDS"],
                holder=_holder(self.run.pk),
            )
        testhooks.crash_point("export_checkpoint")


def result_path(run: SystemRun) -> Path:
    return Path("runs") / run.case.public_id.hex / f"{run.system.key}-{run.action}.jsonl"


def _open_partial(run: SystemRun, target: Path) -> IO[str]:
    """The partial result file, cut back to the last checkpoint (so nothing after it is
    written twice), or new when there is none to continue."""
    partial = target.with_suffix(".partial")
    written = int(run.cursor.get("bytes", 0))
    if written and partial.exists() and partial.stat().st_size >= written:
        stream = partial.open("r+", encoding="utf-8")
        stream.truncate(written)
        stream.seek(written)
        return stream
    run.cursor = {}
    return partial.open("w", encoding="utf-8")


def _export(connector: Connector, run: SystemRun, progress_box: list[RunProgress]) -> Outcome:
    relative = result_path(run)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with _open_partial(run, target) as stream:
        sink = JsonLinesSink(stream, run.cursor.get("counts"))
        progress = RunProgress(run, stream, sink)
        progress_box.append(progress)
        try:
            connector.export(identity_of(run.case), sink, progress)
        except BaseException:
            # A wait, a pause, a failure: what was checkpointed is kept for the next attempt
            # (a rate limit hit every few pages must not page through the same ones for ever).
            try:
                progress.settle()
            except Exception as error:  # the attempt's own error is the one to report
                logger.warning("run %s: the last checkpoint was not saved (%r)", run.pk, error)
            raise
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(target.with_suffix(".partial"), target)
    run.result_file = str(relative)
    SystemRun.objects.filter(pk=run.pk).update(result_file=run.result_file)
    counts = dict(sink.counts)
    kind = OutcomeKind.EXPORTED if counts else OutcomeKind.NOT_HELD
    return Outcome(
        Action.EXPORT, kind, summary=f"{sum(counts.values())} records", details={"counts": counts}
    )


def approved_changes(case: Case) -> dict[str, str]:
    """The fields staff accepted (or edited) for a correction, and the values to write."""
    changes = {}
    for change in case.changes.all():
        value = change.value_to_write
        if value is not None:
            changes[change.field] = value
    return changes


def _act(connector: Connector, run: SystemRun) -> tuple[Outcome, dict[str, Any]]:
    """Carry out the action; return the connector's outcome and what the app adds to it."""
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
            if not outcome.found:
                return outcome, {}
            outcome.kind = OutcomeKind.RETAINED
            return outcome, {"retained": [item.as_json() for item in kept]}
        return connector.erase(identity), {}
    if action == Action.RESTRICT:
        return connector.restrict(identity, reason=f"{reason} (Art. 18 GDPR)"), {}
    if action == Action.RECTIFY:
        changes = approved_changes(run.case)
        return connector.rectify(identity, changes=changes), {"requested_fields": sorted(changes)}
    return connector.object(identity), {}


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


def _confirmed_by_earlier_attempt(
    run: SystemRun, outcome: Outcome, attempt_number: int
) -> dict[str, Any] | None:
    """An erasure that an interrupted attempt sent (its writes were journaled) and that this
    attempt finds nothing of was done by that attempt: say so, with both attempts."""
    if run.action != Action.ERASE or outcome.kind != OutcomeKind.NOT_HELD:
        return None
    earlier = (
        RunAttempt.objects.filter(run=run, state=AttemptState.INTERRUPTED)
        .exclude(writes=[])
        .order_by("-number")
        .first()
    )
    if earlier is None:
        return None
    return {
        "performed_in_attempt": earlier.number,
        "writes": earlier.writes,
        "confirmed_absent_in_attempt": attempt_number,
    }


def perform_run(run_id: int) -> RunReport | None:
    """Claim the run and make one attempt at its system.

    Returns the final report when the run is done (succeeded, failed for good, or handed to
    staff as a manual task); None when there is nothing to record now: the run is not this
    worker's, or it was rescheduled (a rate limit's wait, a backoff after a passing error, or
    the next part of a long export).
    """
    claim = claim_run(run_id)
    if not claim.claimed:
        return None
    assert claim.attempt_id is not None  # nosec B101  # narrows the type: claimed
    run = SystemRun.objects.select_related("case", "system").get(pk=run_id)
    started = time.monotonic()
    progress_box: list[RunProgress] = []
    journal = _Journal(claim.attempt_id)
    try:
        connector = connector_for(run.system)
        action = Action(run.action)
        if action not in connector.supports:
            if _nothing_to_object_to(connector, run):
                held = connector.holds(identity_of(run.case))
                outcome = Outcome(
                    action,
                    OutcomeKind.NOT_HELD if held is False else OutcomeKind.NOT_USED,
                    summary="not used for direct marketing"
                    + {
                        None: "",
                        True: "; the person's data are held here",
                        False: "; nothing about the person here",
                    }[held],
                    details={"held": held},
                )
                return _report(run, claim.attempt_id, RunStatus.SUCCEEDED, outcome, {})
            team, instructions = _manual_work(connector, run)
            return RunReport(
                run_id=run.pk,
                attempt_id=claim.attempt_id,
                status=RunStatus.WAITING_MANUAL,
                manual_team=team,
                manual_instructions=instructions,
                manual_team_email=connector.team_email
                if isinstance(connector, ManualConnector)
                else "",
            )
        with journaling(journal):
            extra: dict[str, Any] = {}
            if action == Action.EXPORT:
                outcome = _export(connector, run, progress_box)
            else:
                outcome, extra = _act(connector, run)
        testhooks.crash_point("after_connector_action")
    except AttemptPaused:
        _reschedule(run, claim.attempt_id, AttemptState.PROGRESSED, wait=0.0)
        return None
    except RateLimited as error:
        _reschedule(run, claim.attempt_id, AttemptState.WAITED, wait=error.retry_after or 1.0)
        return None
    except ConnectorError as error:
        advanced = bool(progress_box and progress_box[0].advanced)
        return _record_error(run, claim.attempt_id, error, advanced=advanced)
    except SoftTimeLimitExceeded:
        advanced = bool(progress_box and progress_box[0].advanced)
        timeout = ConnectorError(f"{run.system.name} took too long", retryable=True)
        return _record_error(run, claim.attempt_id, timeout, advanced=advanced)
    except Exception as error:  # a connector bug must not leave the run RUNNING for ever
        logger.exception("run %s of %s failed unexpectedly", run.pk, run.system.key)
        return RunReport(
            run_id=run.pk,
            attempt_id=claim.attempt_id,
            status=RunStatus.FAILED,
            outcome={"action": run.action, "kind": OutcomeKind.FAILED},
            error=f"Unexpected error: {type(error).__name__}",
        )
    confirmed = _confirmed_by_earlier_attempt(run, outcome, run.attempts)
    if confirmed is not None:
        # Erased or anonymised, as the connector knows its journaled writes to leave things.
        outcome = connector.interrupted_erasure(list(confirmed["writes"]))
        # What is known, no more: that attempt sent the writes (another case's run for the
        # same person may have been the one that took effect) and this one found nothing left.
        outcome.summary = (
            f"{outcome.summary}: attempt {confirmed['performed_in_attempt']} sent it before its "
            f"worker stopped; attempt {confirmed['confirmed_absent_in_attempt']} found nothing "
            f"of the person left"
        )
        outcome.details = {**outcome.details, "confirmation": confirmed}
    extra["seconds"] = round(time.monotonic() - started, 3)
    return _report(run, claim.attempt_id, RunStatus.SUCCEEDED, outcome, extra)


def _report(
    run: SystemRun, attempt_id: int, status: str, outcome: Outcome, extra: dict[str, Any]
) -> RunReport:
    return RunReport(
        run_id=run.pk,
        attempt_id=attempt_id,
        status=status,
        outcome={**outcome.as_json(), **extra},
    )


def _reschedule(run: SystemRun, attempt_id: int, state: str, *, wait: float) -> None:
    """Give the claim back and come again after ``wait`` seconds: a wait the sweeper honours
    (``not_before``), and a task sooner when the wait is short."""
    now = timezone.now()
    not_before = now + dt.timedelta(seconds=wait) if wait > 0 else None
    with transaction.atomic():
        RunAttempt.objects.filter(pk=attempt_id).update(state=state, finished_at=now)
        updated = SystemRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.PENDING, lease_until=None, not_before=not_before, queued_at=None
        )
        if updated:
            release_slot(run)
            if wait <= settings.DSAR["MAX_COUNTDOWN_SECONDS"]:
                queue.run_soon(run.pk, countdown=wait or None)
            hand_over_slot(run.system)


def _record_error(
    run: SystemRun, attempt_id: int, error: ConnectorError, *, advanced: bool
) -> RunReport | None:
    message = str(error)
    now = timezone.now()
    if not error.retryable:
        return RunReport(
            run_id=run.pk,
            attempt_id=attempt_id,
            status=RunStatus.FAILED,
            outcome={"action": run.action, "kind": OutcomeKind.FAILED},
            error=message,
        )
    # Failed attempts in a row: one that made progress starts the count again (its checkpoint
    # set it to 0), so a long export through a flaky system is not given up piece by piece.
    failures = 0 if advanced else run.failures + 1
    if failures >= settings.DSAR["RUN_MAX_ATTEMPTS"]:
        return RunReport(
            run_id=run.pk,
            attempt_id=attempt_id,
            status=RunStatus.FAILED,
            outcome={"action": run.action, "kind": OutcomeKind.FAILED},
            error=f"Gave up after {failures} failed attempts: {message}",
        )
    # A passing error: back off exponentially with jitter (from where it stands when the
    # attempt made progress), never sooner than the system asked (Retry-After).
    backoff = min(
        settings.DSAR["RUN_BACKOFF_SECONDS"] * 2 ** max(failures - 1, 0),
        settings.DSAR["RUN_BACKOFF_MAX_SECONDS"],
    )
    # Jitter against retry herds, not a secret.
    delay = 0.0 if advanced else random.uniform(backoff / 2, backoff)  # noqa: S311  # nosec B311
    delay = max(delay, error.retry_after or 0.0)
    with transaction.atomic():
        RunAttempt.objects.filter(pk=attempt_id).update(
            state=AttemptState.PROGRESSED if advanced else AttemptState.FAILED,
            finished_at=now,
            error=message,
        )
        SystemRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            failures=failures, last_error=message
        )
    _reschedule(
        run, attempt_id, AttemptState.PROGRESSED if advanced else AttemptState.FAILED, wait=delay
    )
    return None
