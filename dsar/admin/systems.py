"""The data systems, their runs and the manual tasks staff complete."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import transitions
from ..events import staff_actor
from ..models import (
    DataSystem,
    ManualTask,
    ManualTaskStatus,
    RunStatus,
    SystemRun,
)
from .case_page import how_verified
from .timeline import ACTION_NAMES


@admin.register(DataSystem)
class DataSystemAdmin(admin.ModelAdmin[DataSystem]):
    list_display = ("name", "key", "connector", "enabled", "max_concurrency", "legal_hold_until")
    list_filter = ("connector", "enabled")
    search_fields = ("name", "key")


@admin.register(SystemRun)
class SystemRunAdmin(admin.ModelAdmin[SystemRun]):
    list_display = ("case", "system", "action", "status", "attempts", "last_error", "finished_at")
    list_filter = ("status", "system", "action")
    search_fields = ("case__reference",)
    list_select_related = ("case", "system")
    actions = ("retry_failed",)
    readonly_fields = [f.name for f in SystemRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_work_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("dsar.work_case")

    def get_urls(self) -> list[URLPattern]:
        retry = self.admin_site.admin_view(self.retry_view)
        return [
            path("<int:run_id>/retry/", retry, name="dsar_systemrun_retry"),
            *super().get_urls(),
        ]

    def retry_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = get_object_or_404(SystemRun.objects.select_related("case", "system"), pk=run_id)
        if not request.user.has_perm("dsar.work_case"):
            return HttpResponse(status=403)
        if request.method == "POST":
            transitions.retry_run(run.pk, actor=staff_actor(request.user.get_username()))
            self.message_user(
                request, _("%(system)s is running again.") % {"system": run.system.name}
            )
            return HttpResponseRedirect(reverse("admin:dsar_case_change", args=[run.case_id]))
        context = {
            **self.admin_site.each_context(request),
            "run": run,
            "title": _("Retry %(system)s for %(case)s")
            % {"system": run.system.name, "case": run.case.reference},
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/dsar/systemrun/retry.html", context)

    @admin.action(description=_("Retry the selected failed runs"), permissions=["work"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[SystemRun]) -> None:
        actor = staff_actor(request.user.get_username())
        failed = list(queryset.filter(status=RunStatus.FAILED).values_list("pk", flat=True))
        for run_id in failed:
            transitions.retry_run(run_id, actor=actor)
        self.message_user(request, _("%(count)d runs queued again.") % {"count": len(failed)})


class ManualTaskForm(forms.ModelForm[ManualTask]):
    outcome = forms.CharField(
        label=_("What did you find or do?"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Completing the task records this and lets the case move on."),
    )

    class Meta:
        model = ManualTask
        fields = ("outcome", "data_found")


@admin.register(ManualTask)
class ManualTaskAdmin(admin.ModelAdmin[ManualTask]):
    form = ManualTaskForm
    list_display = ("run", "team", "status", "created_at", "completed_at")
    list_filter = ("status", "team")
    search_fields = ("run__case__reference",)
    list_select_related = ("run__case", "run__system")
    change_form_template = "admin/dsar/manualtask/change_form.html"
    readonly_fields = ("case_link", "system", "action", "team", "instructions_text", "status")
    fields = (
        "case_link",
        "system",
        "action",
        "team",
        "instructions_text",
        "status",
        "outcome",
        "data_found",
    )

    @admin.display(description=_("case"))
    def case_link(self, task: ManualTask) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:dsar_case_change", args=[task.run.case_id]),
            task.run.case.reference,
        )

    @admin.display(description=_("system"))
    def system(self, task: ManualTask) -> str:
        return task.run.system.name

    @admin.display(description=_("action"))
    def action(self, task: ManualTask) -> str:
        return str(ACTION_NAMES.get(task.run.action, task.run.action))

    @admin.display(description=_("instructions"))
    def instructions_text(self, task: ManualTask) -> str:
        return linebreaksbr(task.instructions)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ManualTask]:
        return (
            super().get_queryset(request).select_related("run__case", "run__system", "completed_by")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ManualTask | None = None) -> Any:
        if obj is not None and obj.status == ManualTaskStatus.DONE:
            return (*self.readonly_fields, "outcome", "data_found")
        return self.readonly_fields

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        task = self.get_object(request, object_id)
        context: dict[str, Any] = {**(extra_context or {})}
        if task is not None:
            case = task.run.case
            context |= {
                "case": case,
                "verified_by": how_verified(case),
                "title": _("%(system)s: %(action)s for %(case)s")
                % {
                    "system": task.run.system.name,
                    "action": ACTION_NAMES.get(task.run.action, task.run.action),
                    "case": case.reference,
                },
                "subtitle": None,
                "show_save_and_add_another": False,
                "show_delete": False,
            }
        return super().change_view(request, object_id, form_url, context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and request.user.has_perm(
            "dsar.work_case"
        )

    def save_model(self, request: HttpRequest, obj: ManualTask, form: Any, change: bool) -> None:
        """Completing goes through the case's transition, never a bare save."""
        transitions.complete_manual_task(
            obj.pk,
            outcome=form.cleaned_data["outcome"],
            actor=staff_actor(request.user.get_username()),
            user_id=request.user.pk,
            data_found=form.cleaned_data["data_found"],
        )
        messages.success(request, _("The task is complete; the case moves on."))

    def response_change(self, request: HttpRequest, obj: ManualTask) -> HttpResponse:
        # Back to the case, where the next step shows.
        return HttpResponseRedirect(reverse("admin:dsar_case_change", args=[obj.run.case_id]))
