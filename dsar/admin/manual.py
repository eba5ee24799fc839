"""Manual tasks: staff see whom to look for and how, then record what they found or did in the
outcome vocabulary, with the records and files they found, through one transition."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import transitions
from ..events import staff_actor
from ..manual import RESULTS_FOR_ACTION, FoundFile, ManualResult, ManualResultInvalid
from ..models import ManualTask, ManualTaskStatus, OutcomeKind, RetentionRule
from ..retention import rules_for_system
from .case_page import how_verified

RESULT_LABELS: dict[str, Any] = {
    OutcomeKind.EXPORTED: _("Found data about the person (attach or describe it below)"),
    OutcomeKind.NOT_HELD: _("Searched: nothing about the person here"),
    OutcomeKind.ERASED: _("Erased everything about the person"),
    OutcomeKind.RETAINED: _("Kept some records under a legal duty, restricted; erased the rest"),
    OutcomeKind.REFUSED: _("Could not be done (say why, for the person)"),
    OutcomeKind.RESTRICTED: _("Restricted: kept, but no longer used"),
    OutcomeKind.CORRECTED: _("Corrected the fields staff approved"),
    OutcomeKind.UNSUBSCRIBED: _("Stopped all marketing to the person"),
    OutcomeKind.NOT_USED: _("Holds the person's data, but does no marketing"),
}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field, each checked by ``dsar.manual.file_type`` on completion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ManualResultForm(forms.Form):
    """What a member of staff records to complete a manual task."""

    result = forms.ChoiceField(label=_("What did you find or do?"), widget=forms.RadioSelect)
    categories = forms.CharField(
        label=_("Categories of data found"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One a line, e.g. “business card”, “invoices”. The person reads these."),
    )
    records = forms.CharField(
        label=_("Records found"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Optional: one record per block, blocks separated by an empty line; the first line "
            "is its category, then one “name: value” line per field. They go into the person's "
            "export."
        ),
    )
    found_files = MultipleFileField(
        label=_("Files found"),
        required=False,
        help_text=_(
            "Optional: PDF, PNG or JPEG, or .txt, .csv or .eml text; at most 10 MB each. They "
            "go into the person's export."
        ),
    )
    files_category = forms.CharField(
        label=_("Category of the files"), required=False, initial="files", max_length=100
    )
    retention_rule = forms.ModelChoiceField(
        label=_("Legal duty that keeps the records"),
        queryset=RetentionRule.objects.none(),
        required=False,
    )
    kept_records = forms.CharField(
        label=_("Records kept"),
        required=False,
        max_length=200,
        help_text=_("Which records are kept, e.g. “2 invoices”. The person reads this."),
    )
    record_year = forms.IntegerField(
        label=_("Year the kept records were made"), required=False, min_value=1900
    )
    refusal = forms.CharField(
        label=_("Why it could not be done"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The person reads this; write it in their language."),
    )
    note_to_person = forms.CharField(
        label=_("Note to the person (shown in their documents)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Printed word for word in the person's letters: write it in the person's language, "
            "and nothing the person should not read."
        ),
    )
    internal_note = forms.CharField(
        label=_("Internal note (never shown to the person)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, task: ManualTask, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task = task
        choices = RESULTS_FOR_ACTION.get(task.run.action, ())
        result = self.fields["result"]
        assert isinstance(result, forms.ChoiceField)  # nosec B101  # narrows the type
        result.choices = [(kind, RESULT_LABELS.get(kind, kind)) for kind in choices]
        rules = rules_for_system(task.run.system)
        rule_field = self.fields["retention_rule"]
        assert isinstance(rule_field, forms.ModelChoiceField)  # nosec B101  # narrows the type
        rule_field.queryset = (
            RetentionRule.objects.filter(pk__in=[rule.pk for rule in rules])
            if rules
            else RetentionRule.objects.all()
        )

    def clean_records(self) -> list[tuple[str, dict[str, str]]]:
        records = []
        # Browsers send a text box's lines with CRLF; a block ends at an empty line.
        text = str(self.cleaned_data["records"]).replace("\r\n", "\n").replace("\r", "\n")
        blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
        for number, block in enumerate(blocks, start=1):
            lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
            category, fields = lines[0], {}
            for line in lines[1:]:
                name, colon, value = line.partition(":")
                if not colon or not name.strip():
                    raise forms.ValidationError(
                        _("Record %(number)d: write each field as “name: value”.")
                        % {"number": number}
                    )
                fields[name.strip()] = value.strip()
            if not fields:
                raise forms.ValidationError(
                    _("Record %(number)d has a category but no fields.") % {"number": number}
                )
            records.append((category, fields))
        return records

    def result_to_record(self) -> ManualResult:
        data = self.cleaned_data
        rule = data.get("retention_rule")
        files = [
            FoundFile(
                category=data.get("files_category") or "files",
                name=upload.name,
                content=upload.read(),
            )
            for upload in data.get("found_files") or []
        ]
        return ManualResult(
            result=data["result"],
            categories=[c.strip() for c in str(data["categories"]).splitlines() if c.strip()],
            kept_records=data.get("kept_records") or "",
            record_year=data.get("record_year"),
            retention_rule_id=rule.pk if rule else None,
            refusal=data.get("refusal") or "",
            note_to_person=data.get("note_to_person") or "",
            internal_note=data.get("internal_note") or "",
            records=data["records"],
            files=files,
        )


@admin.register(ManualTask)
class ManualTaskAdmin(admin.ModelAdmin[ManualTask]):
    list_display = ("run", "team", "status", "result", "created_at", "completed_at")
    list_filter = ("status", "team", "result")
    search_fields = ("run__case__reference",)
    list_select_related = ("run__case", "run__system")
    readonly_fields = (
        "case_link",
        "system",
        "action",
        "team",
        "instructions",
        "status",
        "result",
        "categories",
        "kept_records",
        "record_year",
        "retention_rule",
        "note_to_person",
        "internal_note",
        "completed_by",
        "completed_at",
    )
    fields = readonly_fields

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
        return task.run.action

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ManualTask]:
        return super().get_queryset(request).select_related("run__case", "run__system")

    def get_urls(self) -> list[URLPattern]:
        complete = self.admin_site.admin_view(self.complete_view)
        return [
            path("<int:task_id>/complete/", complete, name="dsar_manualtask_complete"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """An open task opens straight on its completion form for staff who may work it."""
        task = self.get_object(request, object_id)
        if (
            task is not None
            and task.status == ManualTaskStatus.OPEN
            and request.user.has_perm("dsar.work_case")
        ):
            return HttpResponseRedirect(reverse("admin:dsar_manualtask_complete", args=[task.pk]))
        return super().change_view(request, object_id, form_url, extra_context)

    def complete_view(self, request: HttpRequest, task_id: int) -> HttpResponse:
        if not request.user.has_perm("dsar.work_case"):
            raise PermissionDenied
        task = get_object_or_404(
            ManualTask.objects.select_related("run__case", "run__system"), pk=task_id
        )
        if task.status == ManualTaskStatus.DONE:
            return HttpResponseRedirect(reverse("admin:dsar_manualtask_change", args=[task.pk]))
        form = ManualResultForm(request.POST or None, request.FILES or None, task=task)
        if request.method == "POST" and form.is_valid():
            try:
                transitions.complete_manual_task(
                    task.pk,
                    result=form.result_to_record(),
                    actor=staff_actor(request.user.get_username()),
                    user_id=request.user.pk,
                )
            except (ManualResultInvalid, transitions.TransitionNotAllowed) as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("The task is done; the case moves on."))
                return HttpResponseRedirect(
                    reverse("admin:dsar_case_change", args=[task.run.case_id])
                )
        case = task.run.case
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Complete the task: %(system)s for %(reference)s")
            % {"system": task.run.system.name, "reference": case.reference},
            "task": task,
            "case": case,
            "verified_by": how_verified(case),
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(
            request,
            "admin/dsar/manualtask/complete.html",
            context,
            status=400 if form.errors else 200,
        )
