"""The privacy team's queue: cases by deadline, each with its request, systems and timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import transitions
from ..admin_actions import ACTIONS, ACTIONS_BY_KEY
from ..events import record_event, staff_actor
from ..models import (
    OPEN_STATUSES,
    Artifact,
    Case,
    CaseStatus,
    Event,
    RectificationChange,
    RunStatus,
    SystemRun,
)


class RectificationChangeInline(admin.TabularInline[RectificationChange, Case]):
    """Staff read the correction the person asked for, field by field, and decide on each."""

    model = RectificationChange
    fields = ("field", "proposed_value", "decision", "final_value", "reason")
    extra = 1
    verbose_name_plural = _("fields to correct (decide on each before approving)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            obj is not None and obj.type == "rectification" and obj.status == CaseStatus.IN_REVIEW
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and obj.type == "rectification"


class ArtifactInline(admin.TabularInline[Artifact, Case]):
    model = Artifact
    fields = ("file", "size", "sha256", "checksum", "expires_at", "downloads")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("deliverables")

    @admin.display(description=_("file"))
    def file(self, artifact: Artifact) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:dsar_case_artifact", args=[artifact.case_id, artifact.kind]),
            artifact.filename,
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SystemRunInline(admin.TabularInline[SystemRun, Case]):
    model = SystemRun
    fields = ("system", "action", "status", "attempts", "duration_ms", "outcome", "retry")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("systems")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[SystemRun]:
        return super().get_queryset(request).select_related("case", "system", "manual_task")

    @admin.display(description=_("outcome"))
    def outcome(self, run: SystemRun) -> str:
        if run.status == RunStatus.FAILED:
            return format_html('<strong class="run-failed">{}</strong>', run.last_error)
        if run.status == RunStatus.WAITING_MANUAL and hasattr(run, "manual_task"):
            return format_html(
                '<a href="{}">{}</a>',
                reverse("admin:dsar_manualtask_change", args=[run.manual_task.pk]),
                _("Manual task for %(team)s") % {"team": run.manual_task.team},
            )
        if run.last_error and run.status in (RunStatus.PENDING, RunStatus.RUNNING):
            return format_html("{}: {}", _("retrying after"), run.last_error)
        counts = run.counts
        if counts:
            return ", ".join(f"{name}: {count}" for name, count in sorted(counts.items()))
        return run.outcome_summary

    @admin.display(description="")
    def retry(self, run: SystemRun) -> str:
        if run.status != RunStatus.FAILED:
            return ""
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:dsar_systemrun_retry", args=[run.pk]),
            _("Retry"),
        )


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
    inlines = (RectificationChangeInline, SystemRunInline, ArtifactInline, EventInline)
    change_form_template = "admin/dsar/case/change_form.html"

    class Media:
        css = {"all": ["admin/dsar/admin.css"]}  # a file, for the Content-Security-Policy

    def get_urls(self) -> list[URLPattern]:
        action = self.admin_site.admin_view(self.action_view)
        artifact = self.admin_site.admin_view(self.artifact_view)
        return [
            path("<int:case_id>/action/<slug:key>/", action, name="dsar_case_action"),
            path("<int:case_id>/file/<slug:kind>/", artifact, name="dsar_case_artifact"),
            *super().get_urls(),
        ]

    def artifact_view(self, request: HttpRequest, case_id: int, kind: str) -> HttpResponseBase:
        """Staff read a case's files through here, with a permission check and an Event."""
        if not request.user.has_perm("dsar.view_artifact"):
            return HttpResponse(status=403)
        artifact = get_object_or_404(Artifact, case_id=case_id, kind=kind)
        record_event(
            case_id,
            actor=staff_actor(request.user.get_username()),
            action="downloaded_by_staff",
            data={"kind": kind},
        )
        return FileResponse(
            (Path(settings.MEDIA_ROOT) / artifact.path).open("rb"),
            as_attachment=True,
            filename=artifact.filename,
            content_type=artifact.content_type,
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        case = self.get_object(request, object_id)
        actions = [
            a
            for a in ACTIONS
            if case is not None and request.user.has_perm(a.permission) and a.applies(case)
        ]
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "case_actions": actions}
        )

    def action_view(self, request: HttpRequest, case_id: int, key: str) -> HttpResponse:
        case = get_object_or_404(Case, pk=case_id)
        action = ACTIONS_BY_KEY.get(key)
        if action is None or not action.applies(case):
            return HttpResponse(status=404)
        if not request.user.has_perm(action.permission):
            return HttpResponse(status=403)
        form = action.form(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                said = action.run(case, form.cleaned_data, staff_actor(request.user.get_username()))
            except (transitions.ReviewIncomplete, transitions.TransitionNotAllowed) as error:
                form.add_error(None, str(error))
            else:
                message = said if isinstance(said, str) else None
                self.message_user(
                    request, message or _("%(action)s: done.") % {"action": action.label}
                )
                return HttpResponseRedirect(reverse("admin:dsar_case_change", args=[case.pk]))
        context = {
            **self.admin_site.each_context(request),
            "case": case,
            "form": form,
            "title": f"{case.reference}: {action.label}",
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/dsar/case/action.html", context)

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
        "extension_months",
        "extension_reason",
        "closed_at",
        "assignee",
        "earlier_cases",
    )
    actions = ("assign_to_me", "remind_now")

    @admin.display(description=_("earlier cases of this person"))
    def earlier_cases(self, case: Case) -> str:
        if not case.email:
            return "-"
        earlier = (
            Case.objects.filter(email__iexact=case.email, received_at__lt=case.received_at)
            .exclude(pk=case.pk)
            .order_by("-received_at")
            .values_list("pk", "reference", "type", "status")[:20]
        )
        if not earlier:
            return str(_("none"))
        return format_html_join(
            ", ",
            '<a href="{}">{}</a> ({}, {})',
            (
                (reverse("admin:dsar_case_change", args=[pk]), ref, kind, status)
                for pk, ref, kind, status in earlier
            ),
        )

    def has_work_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dsar.work_case")

    @admin.action(description=_("Assign the selected cases to me"), permissions=["work"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        actor = staff_actor(request.user.get_username())
        count = 0
        for case_id in queryset.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True):
            transitions.assign_case(case_id, assignee_id=request.user.pk, actor=actor)
            count += 1
        self.message_user(request, _("%(count)d cases assigned to you.") % {"count": count})

    @admin.action(description=_("Remind the assignees now"), permissions=["work"])
    def remind_now(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        actor = staff_actor(request.user.get_username())
        open_cases = list(queryset.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True))
        for case_id in open_cases:
            transitions.send_reminder(case_id, actor=actor)
        self.message_user(request, _("%(count)d reminders sent.") % {"count": len(open_cases)})

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
                '<strong class="deadline deadline--overdue">⚠ {}</strong>',
                text,
            )
        text = ngettext("%(days)d day left", "%(days)d days left", days) % {"days": days}
        if days <= 7:
            return format_html('<strong class="deadline deadline--soon">{}</strong>', text)
        return format_html('<span class="deadline">{}</span>', text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cases come in through the public form or the API, verified by email

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return super().get_queryset(request).select_related("assignee")
