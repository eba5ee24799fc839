"""Selectors for "needs attention": why an open case waits for the privacy team.

A case needs attention for one or more ``Reason``: a system failed for good, a manual task
waits, the case waits for review, the person answered a question, the answer holds other
people's data for staff to review (Art. 15(4)), or the deadline is near or past. Each reason is
one boolean SQL condition over a ``Case`` row (``_conditions``), so the queue can show, filter
and count them in one query however many cases, runs and tasks exist.

Extension point: to add a reason, give it a member of ``Reason`` and one entry in
``_conditions``; the queue's column and filter, the index page and the dashboard pick it up.
Every reason applies to open cases only, except those in ``ANY_STATE``: a failed email (an
answer, a rejection or a confirmation that never reached the person), and a new opt-in to
marketing by someone whose objection's case is long closed, need the team whatever the case's
state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    FAILED_DELIVERY_STATES,
    OPEN_STATUSES,
    Case,
    CaseStatus,
    EmailDelivery,
    ManualTask,
    ManualTaskStatus,
    RunStatus,
    SuppressionEntry,
    SystemRun,
)

# A case due within this many days is "due soon" (the reminders go out 7 and 2 days before).
DUE_SOON_DAYS = 7


class Reason(models.TextChoices):
    """Why a case needs the team, most urgent first."""

    FAILED_RUN = "failed_run", _("A system failed")
    FAILED_EMAIL = "failed_email", _("An email was not delivered")
    OVERDUE = "overdue", _("Overdue")
    ANSWER_RECEIVED = "answer_received", _("The person answered")
    MARKETING_CONSENT = "marketing_consent", _("Subscribed to marketing again: confirm")
    REVIEW = "review", _("Waiting for review")
    THIRD_PARTY_REVIEW = "third_party_review", _("Third-party data to review")
    MANUAL_TASK = "manual_task", _("Manual task waiting")
    DUE_SOON = "due_soon", _("Due soon")


def _conditions(today: dt.date) -> dict[Reason, Q]:
    """Each reason as a condition on an open case, in the order of ``Reason``."""
    answered = Q(details__has_key="information_provided")
    in_review = Q(status=CaseStatus.IN_REVIEW)
    return {
        Reason.FAILED_RUN: Q(
            Exists(SystemRun.objects.filter(case=OuterRef("pk"), status=RunStatus.FAILED))
        ),
        Reason.FAILED_EMAIL: Q(
            Exists(
                EmailDelivery.objects.filter(
                    case=OuterRef("pk"),
                    state__in=FAILED_DELIVERY_STATES,
                    acknowledged_at__isnull=True,
                )
            )
        ),
        Reason.OVERDUE: Q(due_date__lt=today),
        Reason.ANSWER_RECEIVED: in_review & answered,
        Reason.MARKETING_CONSENT: Q(
            Exists(
                SuppressionEntry.objects.filter(
                    reference=OuterRef("reference"),
                    consent_found_at__isnull=False,
                    lifted_at__isnull=True,
                )
            )
        ),
        Reason.REVIEW: in_review & ~answered,
        Reason.THIRD_PARTY_REVIEW: Q(status=CaseStatus.THIRD_PARTY_REVIEW),
        Reason.MANUAL_TASK: Q(
            Exists(
                ManualTask.objects.filter(run__case=OuterRef("pk"), status=ManualTaskStatus.OPEN)
            )
        ),
        Reason.DUE_SOON: Q(
            due_date__gte=today, due_date__lte=today + dt.timedelta(days=DUE_SOON_DAYS)
        ),
    }


def attention_reasons() -> list[Reason]:
    """The reasons the selectors know, most urgent first (for filters and counts)."""
    return list(_conditions(timezone.localdate()))


# Reasons that need the team whatever the case's state.
ANY_STATE = frozenset({Reason.FAILED_EMAIL, Reason.MARKETING_CONSENT})


def _open(condition: Q, reason: Reason | None = None) -> Q:
    if reason in ANY_STATE:
        return condition
    return Q(status__in=OPEN_STATUSES) & condition


def _annotation(reason: Reason) -> str:
    return f"attention_{reason.value}"


def cases_with_attention(
    queryset: QuerySet[Case], *, today: dt.date | None = None
) -> QuerySet[Case]:
    """The cases, each annotated with one boolean ``attention_<reason>`` per reason."""
    conditions = _conditions(today or timezone.localdate())
    return queryset.annotate(
        **{
            _annotation(reason): ExpressionWrapper(
                _open(condition, reason), output_field=BooleanField()
            )
            for reason, condition in conditions.items()
        }
    )


def cases_needing_attention(
    queryset: QuerySet[Case], *, reason: Reason | None = None, today: dt.date | None = None
) -> QuerySet[Case]:
    """The open cases that need attention for ``reason``, or for any reason."""
    conditions = _conditions(today or timezone.localdate())
    if reason is not None:
        return queryset.filter(_open(conditions[reason], reason))
    return queryset.filter(_any(conditions))


def case_attention_reasons(case: Case, *, today: dt.date | None = None) -> list[Reason]:
    """Why this case needs attention, most urgent first; empty when it does not.

    A case from ``cases_with_attention`` is read without a query; any other costs one.
    """
    if not hasattr(case, _annotation(Reason.OVERDUE)):
        case = cases_with_attention(Case.objects.filter(pk=case.pk), today=today).get()
    return [reason for reason in attention_reasons() if getattr(case, _annotation(reason), False)]


@dataclass(frozen=True)
class AttentionCounts:
    """Open cases needing attention: in all, and for each reason (a case may have several)."""

    total: int
    by_reason: dict[Reason, int]


def attention_counts(*, today: dt.date | None = None) -> AttentionCounts:
    """How many open cases need attention, in all and per reason (one query).

    Only cases that can need attention are counted: the open ones, and of the closed ones
    those with an unacknowledged failed email or a new opt-in after an objection (the reasons
    of ``ANY_STATE``), found through their own small sets, so the query does not grow with
    the closed cases of past years.
    """
    conditions = _conditions(today or timezone.localdate())
    candidates = (
        Case.objects.filter(status__in=sorted(OPEN_STATUSES))
        .order_by()
        .values("pk")
        .union(
            EmailDelivery.objects.filter(
                state__in=FAILED_DELIVERY_STATES, acknowledged_at__isnull=True
            )
            .order_by()
            .values("case_id"),
            Case.objects.filter(
                reference__in=SuppressionEntry.objects.filter(
                    consent_found_at__isnull=False, lifted_at__isnull=True
                ).values("reference")
            )
            .order_by()
            .values("pk"),
        )
    )
    counts = Case.objects.filter(pk__in=candidates).aggregate(
        total=Count("pk", filter=_any(conditions)),
        **{
            reason.value: Count("pk", filter=_open(condition, reason))
            for reason, condition in conditions.items()
        },
    )
    return AttentionCounts(
        total=counts["total"], by_reason={reason: counts[reason.value] for reason in conditions}
    )


def _any(conditions: dict[Reason, Q]) -> Q:
    """Any reason, each with its own state rule (``_open``)."""
    wanted = Q()
    for reason, condition in conditions.items():
        wanted |= _open(condition, reason)
    return wanted
