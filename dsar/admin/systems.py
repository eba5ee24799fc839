"""The data systems, their runs and the manual tasks staff complete."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _

from connectors.netguard import NetworkPolicy
from connectors.registry import available_keys
from connectors.settings import policy_of, secret_names, secret_problems

from .. import transitions
from ..connection_checks import check_system, describe
from ..events import staff_actor
from ..models import (
    DataSystem,
    RunStatus,
    SystemRun,
)


class DataSystemForm(forms.ModelForm[DataSystem]):
    """A system's settings are checked before they are saved: a known connector, an http(s)
    address, and secrets only from the allow-list, sent only where their policy lets them."""

    class Meta:
        model = DataSystem
        fields = (
            "key",
            "name",
            "connector",
            "config",
            "enabled",
            "max_concurrency",
            "description",
            "recipient_emails",
            "legal_hold_until",
            "legal_hold_reason",
            "portable_categories",
            "review_categories",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        config = data.get("config")
        connector = data.get("connector")
        if connector is not None and connector not in available_keys():
            self.add_error(
                "connector",
                _("Unknown connector; choose one of: %(keys)s")
                % {"keys": ", ".join(available_keys())},
            )
        if config is None:
            return data
        if not isinstance(config, dict):
            self.add_error("config", _("The connector settings must be a JSON object."))
            return data
        problems = []
        base_url = config.get("base_url")
        if base_url is not None:
            parts = urlsplit(str(base_url))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(str(_("'base_url' must be an http(s) URL with a host.")))
        if not isinstance(config.get("allow_private_network", False), bool):
            problems.append(str(_("'allow_private_network' must be true or false.")))
        try:
            NetworkPolicy.from_config(config)
        except ValueError as error:
            problems.append(f"'allowed_networks': {error}")
        problems += secret_problems(config, policy_of(settings.CONNECTOR_SECRETS))
        for problem in problems:
            self.add_error("config", problem)
        return data


@admin.register(DataSystem)
class DataSystemAdmin(admin.ModelAdmin[DataSystem]):
    form = DataSystemForm
    list_display = (
        "name",
        "key",
        "connector",
        "enabled",
        "max_concurrency",
        "legal_hold_until",
        "outbound",
    )
    list_filter = ("connector", "enabled")
    search_fields = ("name", "key")
    readonly_fields = ("outbound",)
    actions = ("check_connection",)

    @admin.display(description=_("secrets and where they are sent"))
    def outbound(self, system: DataSystem) -> str:
        config = system.config if isinstance(system.config, dict) else {}
        names = secret_names(config)
        host = urlsplit(str(config.get("base_url", ""))).hostname
        if not names:
            return str(_("no secret"))
        lines = [
            str(_("%(secret)s is sent to %(host)s") % {"secret": name, "host": host or "?"})
            for name in names.values()
        ]
        if config.get("allow_private_network") is True:
            lines.append(str(_("may reach private networks (on-premises)")))
        return "; ".join(lines)

    @admin.action(description=_("Check connection"))
    def check_connection(self, request: HttpRequest, queryset: QuerySet[DataSystem]) -> None:
        """Credentials, scopes and the custom fields each connector needs (created where the
        system's API allows, e.g. HubSpot properties); what to fix otherwise."""
        for system in queryset.order_by("name"):
            report = check_system(system)
            self.message_user(
                request,
                f"{system.name}: {describe(report)}",
                messages.SUCCESS if report.ok else messages.ERROR,
            )


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
