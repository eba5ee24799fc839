"""The queue's filters: what needs attention, whose cases, open or closed, and days left."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..attention import Reason, attention_reasons, cases_needing_attention
from ..dashboard import BUCKETS, bucket_condition
from ..models import OPEN_STATUSES, Case

ANY_REASON = "any"


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("attention needed")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            (ANY_REASON, _("For any reason")),
            *((reason.value, reason.label) for reason in attention_reasons()),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        value = self.value()
        if value == ANY_REASON:
            return cases_needing_attention(queryset)
        if value in Reason.values:
            return cases_needing_attention(queryset, reason=Reason(value))
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("mine", _("Me")), ("nobody", _("Nobody"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        if self.value() == "mine":
            return queryset.filter(assignee_id=request.user.pk)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class OpenFilter(admin.SimpleListFilter):
    title = _("open or closed")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Open")), ("no", _("Closed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        if self.value() == "yes":
            return queryset.filter(status__in=OPEN_STATUSES)
        if self.value() == "no":
            return queryset.exclude(status__in=OPEN_STATUSES)
        return queryset


class DaysLeftFilter(admin.SimpleListFilter):
    """Open cases by days left, in the dashboard's buckets (its numbers link here)."""

    title = _("deadline")
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(bucket.key, bucket.label) for bucket in BUCKETS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        bucket = next((b for b in BUCKETS if b.key == self.value()), None)
        if bucket is None:
            return queryset
        return queryset.filter(
            bucket_condition(bucket, timezone.localdate()), status__in=OPEN_STATUSES
        )
