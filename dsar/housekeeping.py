"""The periodic batch work Celery beat runs: the sweeper that moves on anything left in an
in-between state, deadline reminders, the expiry of unconfirmed cases, the deletion of expired
files, the purge of long-closed cases and the check that objections to direct marketing hold in
the marketing systems. Each goes through the transitions for any change of a case, and each is
idempotent: two runs at once change nothing more than one.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from connectors.base import Connector, ConnectorError, Identity

from . import casefiles, queue, runs, transitions
from .events import SWEEPER, SYSTEM, append_event, record_event
from .models import (
    OPEN_STATUSES,
    Artifact,
    Case,
    CaseStatus,
    DataSystem,
    DownloadLink,
    EmailDelivery,
    Event,
    Job,
    JobState,
    ManualTask,
    RectificationChange,
    RunStatus,
    SuppressionEntry,
    SystemRun,
    Verification,
)
from .outbox import queue_email, sendable
from .suppression import is_new_consent

logger = logging.getLogger(__name__)

S = CaseStatus

# A message published this long ago may still be queued behind others; when the broker's
# queue is empty, anything published longer ago than LOST_AFTER and still not taken was lost (a
# broker restart). With the queue empty, a message not yet taken can only be one a worker holds
# for a moment before it starts; publishing it again costs a task that finds the row taken. So
# LOST_AFTER is short: work lost in a restart goes out again at the first sweep after it, not
# one interval later.
LOST_AFTER_SECONDS = 10.0


def _broker_queue_size() -> int | None:
    """Messages waiting in the default queue and the answers' queue beside it, or None when
    the broker cannot say."""
    from kombu.exceptions import ChannelError

    default = current_app.conf.task_default_queue
    waiting = 0
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            channel: Any = connection.default_channel
            for name in (default, default + settings.DELIVERABLES_QUEUE_SUFFIX):
                try:
                    _name, count, _consumers = channel.queue_declare(queue=name, passive=True)
                except ChannelError:
                    continue  # Redis drops an empty queue's key: nothing is waiting
                waiting += int(count)
    except Exception:  # the broker is down: publish nothing now, the next sweep will
        return None
    return waiting


def _republish(
    model: type[models.Model], rows: list[dict[str, Any]], *, reason: str, now: dt.datetime
) -> int:
    """Publish each row again once (a conditional update makes a second sweeper skip it),
    with an event on its case saying the sweeper did it."""
    done = 0
    for row in rows:
        taken = model._default_manager.filter(pk=row["pk"], queued_at=row["queued_at"]).update(
            queued_at=now
        )
        if taken != 1 or not queue.publish_now(model, row["pk"]):
            continue
        done += 1
        if row.get("case_id"):
            record_event(
                row["case_id"],
                actor=SWEEPER,
                action="sweeper_requeued",
                data={"what": model._meta.model_name, "id": row["pk"], "reason": reason},
            )
    return done


def sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Find every run, job, email and case left in an in-between state longer than expected
    and move it on; return how many of each."""
    now = now or timezone.now()
    size = _broker_queue_size()
    if size is None:
        logger.warning("sweep skipped: the broker does not answer")
        return {}
    lost_after = LOST_AFTER_SECONDS if size == 0 else settings.DSAR["REQUEUE_AFTER_SECONDS"]
    stale = Q(queued_at__isnull=True) | Q(queued_at__lt=now - dt.timedelta(seconds=lost_after))
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    fields = ("pk", "queued_at", "case_id")
    report: dict[str, int] = {}

    lapsed = SystemRun.objects.filter(status=RunStatus.RUNNING, lease_until__lte=now)
    report["runs_lapsed"] = _republish(
        SystemRun, list(lapsed.values(*fields)), reason="lease_lapsed", now=now
    )
    # A run waiting for a free slot of its system is woken by the run that frees one.
    busy = SystemRun.objects.filter(
        system=OuterRef("system"), status=RunStatus.RUNNING, lease_until__gt=now
    )
    pending = (
        SystemRun.objects.filter(due, stale, status=RunStatus.PENDING)
        .annotate(system_busy=Exists(busy))
        .exclude(queued_at__isnull=True, not_before__isnull=True, system_busy=True)
    )
    report["runs_requeued"] = _republish(
        SystemRun, list(pending.values(*fields)), reason="not_taken", now=now
    )
    jobs = Job.objects.filter(
        (Q(state=JobState.DUE) & due & stale) | Q(state=JobState.RUNNING, lease_until__lte=now)
    )
    report["jobs_requeued"] = _republish(
        Job, list(jobs.values(*fields)), reason="not_taken", now=now
    )
    emails = sendable(now).filter(stale)
    report["emails_requeued"] = _republish(
        EmailDelivery, list(emails.values(*fields)), reason="not_sent", now=now
    )
    unsettled = Case.objects.filter(status__in=[S.IN_PROGRESS, S.AWAITING_MANUAL]).exclude(
        Exists(
            SystemRun.objects.filter(
                case=OuterRef("pk"),
                status__in=[RunStatus.PENDING, RunStatus.RUNNING, RunStatus.FAILED],
            )
        )
    )
    settled = 0
    for case_id, status in unsettled.values_list("pk", "status"):
        has_manual = SystemRun.objects.filter(
            case_id=case_id, status=RunStatus.WAITING_MANUAL
        ).exists()
        if status == S.AWAITING_MANUAL and has_manual:
            continue  # waiting for staff, as it should
        if transitions.settle_case(case_id, actor=SWEEPER).status != status:
            settled += 1
    report["cases_settled"] = settled
    if any(report.values()):
        logger.info("sweep moved on: %s", report)
    return report


def expire_unverified_cases(*, now: dt.datetime | None = None) -> int:
    """Expire every case left unverified longer than UNVERIFIED_CASE_TTL_DAYS; return how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR["UNVERIFIED_CASE_TTL_DAYS"])
    stale = Case.objects.filter(status=S.AWAITING_VERIFICATION, received_at__lt=cutoff)
    expired = 0
    for case_id in stale.values_list("pk", flat=True):
        try:
            transitions.expire_case(case_id, now=now)
        except transitions.TransitionNotAllowed:
            continue  # verified between the query and the lock: nothing to expire
        expired += 1
    return expired


def send_deadline_reminders(*, today: dt.date | None = None) -> int:
    """Remind the assignee (or the team) 7 and 2 days before a case is due, and every day it
    is overdue; once a day at most. Returns how many reminders went out."""
    today = today or timezone.localdate()
    due = Case.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(due_date__in=[today + dt.timedelta(days=7), today + dt.timedelta(days=2)])
        | Q(due_date__lt=today)
    )
    already = set(
        Event.objects.filter(action="reminder_sent", data__date=today.isoformat()).values_list(
            "case_id", flat=True
        )
    )
    sent = 0
    for case_id in due.exclude(pk__in=already).values_list("pk", flat=True):
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case_id)
            days_left = case.days_left(today)
            append_event(
                case,
                actor=SYSTEM,
                action="reminder_sent",
                data={"date": today.isoformat(), "days_left": days_left},
            )
            queue_email(case, "reminder", args={"days_left": days_left})
        sent += 1
    return sent


def delete_expired_artifacts(*, now: dt.datetime | None = None) -> int:
    """Remove the files of every case whose answer's download period ended: the answer itself,
    and with it the raw exports it was built from, the manual tasks' attachments and the
    intake attachment (``dsar.casefiles``). Returns how many answer files went."""
    now = now or timezone.now()
    case_ids = set(Artifact.objects.filter(expires_at__lte=now).values_list("case_id", flat=True))
    deleted = 0
    for case_id in case_ids:
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case_id)
            expired = case.artifacts.filter(expires_at__lte=now).count()
            if not expired:
                continue  # rebuilt since the query: its new files have a new period
            casefiles.delete_case_files(case, reason=casefiles.DOWNLOAD_EXPIRED, actor=SYSTEM)
        deleted += expired
    return deleted


def purge_closed_cases(*, now: dt.datetime | None = None) -> int:
    """Remove the personal details of cases closed longer ago than the retention period, and
    every file of theirs still on disk, keeping the anonymous record (type, dates, outcome) and
    the event chain intact."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR["CASE_RETENTION_DAYS"])
    stale = Case.objects.filter(
        status__in=transitions.CLOSED, closed_at__lt=cutoff, purged_at__isnull=True
    )
    purged = 0
    for case_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case_id)
            # First the files, while the case still names its intake attachment.
            casefiles.delete_case_files(case, reason=casefiles.PURGE, actor=SYSTEM)
            case.name = ""
            case.email = ""
            case.customer_number = ""
            case.forum_username = ""
            case.details = {}
            case.extension_reason = ""
            case.purged_at = now
            case.save()
            Verification.objects.filter(case=case).delete()
            DownloadLink.objects.filter(case=case).delete()
            EmailDelivery.objects.filter(case=case).update(sealed=b"", to_other="")
            RectificationChange.objects.filter(case=case).update(
                proposed_value="", final_value="", reason=""
            )
            ManualTask.objects.filter(run__case=case).update(
                note_to_person="", internal_note="", instructions="", kept_records=""
            )
            append_event(case, actor=SYSTEM, action="personal_details_purged")
        purged += 1
    return purged


def _marketing_connectors() -> list[tuple[DataSystem, Connector]]:
    """Every enabled system whose connector can list a person's marketing subscriptions."""
    found = []
    for system in DataSystem.objects.filter(enabled=True).order_by("key"):
        try:
            connector = runs.connector_for(system)
        except ConnectorError as error:
            logger.warning("marketing check skips %s: %s", system.key, error)
            continue
        if type(connector).subscriptions is not Connector.subscriptions:
            found.append((system, connector))
    return found


def enforce_marketing_objections(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Art. 21(3): look up everyone who objected to direct marketing in each marketing system.
    A subscription someone else made again (an import, a sync, staff; or one whose maker the
    system does not show) is ended, with an event on the objection's case; one the person made
    themselves after the objection is a new consent, flagged to staff and left alone. Entries
    without an address (made before addresses were kept) cannot be looked up."""
    now = now or timezone.now()
    report = {"checked": 0, "undone": 0, "flagged": 0, "errors": 0}
    systems = _marketing_connectors()
    entries = SuppressionEntry.objects.filter(lifted_at__isnull=True).exclude(email="")
    for entry in entries.order_by("pk").iterator():
        report["checked"] += 1
        case_id = (
            Case.objects.filter(reference=entry.reference).values_list("pk", flat=True).first()
        )
        for system, connector in systems:
            identity = Identity(email=entry.email)
            try:
                found = connector.subscriptions(identity) or []
                others = [sub for sub in found if not is_new_consent(entry, sub)]
                own = [sub.as_json() for sub in found if is_new_consent(entry, sub)]
                if others:
                    outcome = connector.unsubscribe(identity, keys=[sub.key for sub in others])
            except ConnectorError as error:
                logger.warning("marketing check of %s failed: %s", system.key, error)
                report["errors"] += 1
                continue
            if others:
                report["undone"] += 1
                if case_id is not None:
                    record_event(
                        case_id,
                        actor=SWEEPER,
                        action="marketing_resubscription_undone",
                        data={
                            "system": system.key,
                            "subscriptions": [sub.as_json() for sub in others],
                            "changed": outcome.changed,
                        },
                    )
            if own and transitions.flag_marketing_consent(
                entry.pk, system=system.key, subscriptions=own, now=now
            ):
                report["flagged"] += 1
    if report["undone"] or report["flagged"]:
        logger.info("marketing objections enforced: %s", report)
    return report
