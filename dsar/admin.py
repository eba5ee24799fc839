"""The privacy team's queue: cases by deadline, each with its request and its event timeline."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import Case, Event


class EventInline(admin.TabularInline[Event, Case]):
    model = Event
    fields = ("seq", "created_at", "actor", "action", "data")
    readonly_fields = fields
    ordering = ("seq",)
    extra = 0
    can_delete = False
    verbose_name_plural = _("timeline")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin[Case]):
    list_display = ("reference", "type", "status", "email", "received_at", "due_date", "deadline")
    list_filter = ("status", "type")
    search_fields = ("reference", "email")
    ordering = ("due_date", "id")
    list_select_related = ("assignee",)
    inlines = (EventInline,)
    fieldsets = (
        (_("Request"), {"fields": ("reference", "type", "regime", "status", "details")}),
        (
            _("Subject"),
            {"fields": ("name", "email", "customer_number", "forum_username", "language")},
        ),
        (
            _("Dates"),
            {"fields": ("received_at", "verified_at", "due_date", "deadline", "closed_at")},
        ),
        (_("Handling"), {"fields": ("assignee",)}),
    )
    # The record of a request is evidence: only the assignee is edited by hand here; states
    # change through the workflow actions.
    readonly_fields = (
        "reference",
        "type",
        "regime",
        "status",
        "details",
        "name",
        "email",
        "customer_number",
        "forum_username",
        "language",
        "received_at",
        "verified_at",
        "due_date",
        "deadline",
        "closed_at",
    )

    @admin.display(description=_("days left"), ordering="due_date")
    def deadline(self, case: Case) -> str:
        if not case.is_open:
            return format_html('<span class="deadline deadline--closed">{}</span>', _("closed"))
        days = case.days_left()
        if days < 0:
            text = ngettext("OVERDUE by %(days)d day", "OVERDUE by %(days)d days", -days) % {
                "days": -days
            }
            return format_html(
                '<strong class="deadline deadline--overdue" style="color:#b00020">⚠ {}</strong>',
                text,
            )
        text = ngettext("%(days)d day left", "%(days)d days left", days) % {"days": days}
        if days <= 7:
            return format_html(
                '<strong class="deadline deadline--soon" style="color:#8a4b00">{}</strong>', text
            )
        return format_html('<span class="deadline">{}</span>', text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases come in through the public form or the API, verified by email

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return super().get_queryset(request).select_related("assignee")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ("case", "seq", "created_at", "actor", "action")
    list_filter = ("action",)
    search_fields = ("case__reference",)
    list_select_related = ("case",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
