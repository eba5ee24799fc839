"""The privacy team's queue and case page.

The queue lists open cases first, by due date, with who has each and why it needs attention.
The case page (``case_page``) is read-only apart from the review of a correction; states
change only through the workflow actions (``dsar.admin_actions``), one page each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db.models import QuerySet, TextField
from django.forms import BaseInlineFormSet, Textarea
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
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import transitions
from ..admin_actions import ACTIONS, ACTIONS_BY_KEY, CaseAction
from ..attention import case_attention_reasons, cases_with_attention
from ..events import record_event, staff_actor
from ..models import (
    CLOSED_FIRST_LAST,
    OPEN_STATUSES,
    Artifact,
    Case,
    CaseStatus,
    CaseType,
    RectificationChange,
)
from .case_page import case_page, how_received, how_verified
from .filters import AssigneeFilter, DaysLeftFilter, NeedsAttentionFilter, OpenFilter
from .intake import intake_view
from .third_party import redact_view, review_view


class LabelledInlineFormSet(BaseInlineFormSet[RectificationChange, Case, Any]):
    """A table's inputs carry their column's name, which screen readers cannot infer from it."""

    def add_fields(self, form: Any, index: Any) -> None:
        super().add_fields(form, index)
        for field in form.fields.values():
            if field.label:
                field.widget.attrs.setdefault("aria-label", str(field.label))


class RectificationChangeInline(admin.TabularInline[RectificationChange, Case]):
    """Staff read the correction the person asked for, field by field, and decide on each.

    Django also asks for these permissions without a case (to build the inline's queryset);
    then the model permissions answer, so saved decisions are shown again.
    """

    model = RectificationChange
    fields = ("field", "proposed_value", "decision", "final_value", "reason")
    extra = 1
    formset = LabelledInlineFormSet
    formfield_overrides = {TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 30})}}
    verbose_name_plural = _("fields to correct (decide on each before approving)")

    @staticmethod
    def _under_review(obj: Case) -> bool:
        return obj.type == CaseType.RECTIFICATION and obj.status == CaseStatus.IN_REVIEW

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_add_permission(request, obj)
        return allowed and (obj is None or self._under_review(obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self._under_review(obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or self._under_review(obj))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or obj.type == CaseType.RECTIFICATION)


def _is_email_address(term: str) -> bool:
    try:
        validate_email(term)
    except ValidationError:
        return False
    return True


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin[Case]):
    list_display = (
        "case",
        "type",
        "state",
        "needs_attention",
        "assigned_to",
        "due",
        "deadline",
    )
    list_filter = (
        NeedsAttentionFilter,
        AssigneeFilter,
        OpenFilter,
        DaysLeftFilter,
        "status",
        "type",
    )
    list_display_links = ("case",)
    search_fields = ("reference", "email", "name")
    list_select_related = ("assignee",)
    list_per_page = 50
    inlines = (RectificationChangeInline,)
    change_form_template = "admin/dsar/case/change_form.html"
    change_list_template = "admin/dsar/case/change_list.html"
    actions = ("assign_to_me", "remind_now")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return cases_with_attention(super().get_queryset(request).select_related("assignee"))

    def get_ordering(self, request: HttpRequest) -> Any:
        # Open cases first, the most urgent on top; closed ones after them (the index
        # case_queue_order holds this order).
        return [CLOSED_FIRST_LAST.asc(), "due_date", "id"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Case], search_term: str
    ) -> tuple[QuerySet[Case], bool]:
        """A whole email address is looked up as one (UPPER(email) = …, from the index
        case_email_upper); anything else is found in a part of the reference, the address or
        the name (on PostgreSQL from the trigram indexes of migration 0021)."""
        term = search_term.strip()
        if _is_email_address(term):
            return queryset.filter(email__iexact=term), False
        return super().get_search_results(request, queryset, search_term)

    # --- The queue's columns -----------------------------------------------------------------

    @admin.display(description=_("case"), ordering="reference")
    def case(self, case: Case) -> str:
        return format_html(
            '<span class="case-reference">{}</span> <span class="case-person">{}</span>',
            case.reference,
            case.name or "—",
        )

    @admin.display(description=_("status"), ordering="status")
    def state(self, case: Case) -> str:
        return format_html(
            '<span class="case-state case-state--{}">{}</span>',
            case.status,
            case.get_status_display(),
        )

    @admin.display(description=_("needs attention"), empty_value="")
    def needs_attention(self, case: Case) -> str:
        reasons = case_attention_reasons(case)
        if not reasons:
            return ""
        return format_html(
            '<ul class="flags">{}</ul>',
            format_html_join(
                "",
                '<li class="flag flag--{}">{}</li>',
                ((reason.value, reason.label) for reason in reasons),
            ),
        )

    @admin.display(description=_("assigned to"), ordering="assignee__username")
    def assigned_to(self, case: Case) -> str:
        return case.assignee.get_username() if case.assignee else "—"

    @admin.display(description=_("due date"), ordering="due_date")
    def due(self, case: Case) -> str:
        return format_html(
            '<time datetime="{}">{}</time>',
            case.due_date.isoformat(),
            date_format(case.due_date, "SHORT_DATE_FORMAT"),
        )

    @admin.display(description=_("days left"), ordering="due_date")
    def deadline(self, case: Case) -> str:
        if not case.is_open:
            return format_html('<span class="deadline deadline--closed">{}</span>', _("closed"))
        days = case.days_left()
        if days < 0:
            text = ngettext("%(days)d day overdue", "%(days)d days overdue", -days) % {
                "days": -days
            }
            return format_html('<strong class="deadline deadline--overdue">{}</strong>', text)
        text = ngettext("%(days)d day left", "%(days)d days left", days) % {"days": days}
        if days <= 7:
            return format_html('<strong class="deadline deadline--soon">{}</strong>', text)
        return format_html('<span class="deadline">{}</span>', text)

    # --- The case page -----------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Case | None = None) -> Any:
        # The page lays the case out itself (templates/admin/dsar/case/change_form.html); the
        # case's own fields are evidence, never edited here.
        return []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # staff record a request through the intake form, which verifies it

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Case, form: Any, change: bool) -> None:
        """Saving the page stores the review of a correction (its inline) and nothing of the
        case itself, which only the transitions change."""

    def response_change(self, request: HttpRequest, obj: Case) -> HttpResponse:
        # The only thing saved here is the review of a correction: say so, and stay on it.
        self.message_user(request, _("The decisions are saved."))
        return HttpResponseRedirect(request.path)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return super().changelist_view(request, {"title": _("The queue"), **(extra_context or {})})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        case = self.get_object(request, object_id)
        context: dict[str, Any] = {**(extra_context or {})}
        if case is not None:
            actions = self._actions_for(request, case)
            context |= {
                "page": case_page(case),
                "received_by": how_received(case),
                "verified_by": how_verified(case),
                "primary_actions": [a for a in actions if a.primary],
                "other_actions": [a for a in actions if not a.primary],
                "title": f"{case.reference}: {case.get_type_display()}",
                "subtitle": None,
                "show_save_and_add_another": False,
                "show_delete": False,
            }
        return super().change_view(request, object_id, form_url, context)

    @staticmethod
    def _actions_for(request: HttpRequest, case: Case) -> list[CaseAction]:
        return [a for a in ACTIONS if request.user.has_perm(a.permission) and a.applies(case)]

    # --- Workflow actions, files and intake --------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        action = self.admin_site.admin_view(self.action_view)
        artifact = self.admin_site.admin_view(self.artifact_view)
        attachment = self.admin_site.admin_view(self.attachment_view)
        intake = self.admin_site.admin_view(intake_view)
        review = self.admin_site.admin_view(review_view)
        redact = self.admin_site.admin_view(redact_view)
        return [
            path("record/", intake, name="dsar_case_record"),
            path("<int:case_id>/third-party/", review, name="dsar_case_third_party"),
            path(
                "<int:case_id>/third-party/<int:run_id>/<int:line>/",
                redact,
                name="dsar_case_redact",
            ),
            path("<int:case_id>/action/<slug:key>/", action, name="dsar_case_action"),
            path("<int:case_id>/file/<slug:kind>/", artifact, name="dsar_case_artifact"),
            path("<int:case_id>/attachment/", attachment, name="dsar_case_attachment"),
            *super().get_urls(),
        ]

    def action_view(self, request: HttpRequest, case_id: int, key: str) -> HttpResponse:
        case = get_object_or_404(Case.objects.select_related("assignee"), pk=case_id)
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
            "action": action,
            "form": form,
            "title": f"{case.reference}: {action.label}",
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/dsar/case/action.html", context)

    def _download(self, request: HttpRequest, case_id: int, kind: str) -> None:
        record_event(
            case_id,
            actor=staff_actor(request.user.get_username()),
            action="downloaded_by_staff",
            data={"kind": kind},
        )

    def artifact_view(self, request: HttpRequest, case_id: int, kind: str) -> HttpResponseBase:
        """Staff read a case's files through here, with a permission check and an Event."""
        if not request.user.has_perm("dsar.view_artifact"):
            return HttpResponse(status=403)
        artifact = get_object_or_404(Artifact, case_id=case_id, kind=kind)
        self._download(request, case_id, kind)
        return FileResponse(
            (Path(settings.MEDIA_ROOT) / artifact.path).open("rb"),
            as_attachment=True,
            filename=artifact.filename,
            content_type=artifact.content_type,
        )

    def attachment_view(self, request: HttpRequest, case_id: int) -> HttpResponseBase:
        """The file staff attached when they recorded the request (a letter's scan)."""
        if not request.user.has_perm("dsar.view_case"):
            return HttpResponse(status=403)
        case = get_object_or_404(Case, pk=case_id)
        stored = str(case.details.get("attachment", ""))
        if not stored or not default_storage.exists(stored):
            return HttpResponse(status=404)
        self._download(request, case_id, "attachment")
        return FileResponse(
            default_storage.open(stored, "rb"),
            as_attachment=True,
            filename=stored.rsplit("/", 1)[-1],
        )

    # --- Bulk actions ------------------------------------------------------------------------

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
