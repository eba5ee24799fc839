"""Other people's data in a person's answer (Art. 15(4) GDPR): staff read each record of a
category that may hold it, and withhold the record or redact some of its fields, before they
release the answer.

The records are read from the run's result file, which stays as the system gave it; each
decision is a ``Redaction`` written by ``transitions.redact_record``, and the answer applies it
when it is built (``dsar.redactions``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .. import redactions, transitions
from ..events import staff_actor
from ..models import Case, CaseStatus, Redaction, SystemRun

RECORDS_PER_PAGE = 25


@dataclass(frozen=True)
class FieldRow:
    name: str
    value: str
    redacted: bool


@dataclass(frozen=True)
class RecordRow:
    system: str
    category: str
    line: int
    fields: list[FieldRow]
    withheld: bool
    reason: str
    url: str


def _field_name(path: redactions.FieldPath) -> str:
    return ".".join(path) or str(_("(value)"))


def _shown(record: redactions.Record, redaction: Redaction | None) -> list[FieldRow]:
    """The record's fields as the answer will show them, the redacted ones marked."""
    changed = {
        tuple(item["path"]): str(item["value"]) for item in (redaction.fields if redaction else [])
    }
    return [
        FieldRow(_field_name(path), changed.get(path, value), path in changed)
        for path, value in redactions.fields_of(record.data)
    ]


def review_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """Every record held for review, a page at a time, as the answer will show it."""
    if not request.user.has_perm("dsar.view_case"):
        return HttpResponse(status=403)
    case = get_object_or_404(Case, pk=case_id)
    runs = redactions.review_runs(case)
    try:
        page = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        page = 1
    start = (page - 1) * RECORDS_PER_PAGE
    records = itertools.chain.from_iterable(redactions.records_for_review(run) for run in runs)
    shown = list(itertools.islice(records, start, start + RECORDS_PER_PAGE + 1))
    decided = {
        (redaction.run_id, redaction.line): redaction
        for redaction in Redaction.objects.filter(run__in=runs)
    }
    rows = []
    for record in shown[:RECORDS_PER_PAGE]:
        redaction = decided.get((record.run.pk, record.line))
        rows.append(
            RecordRow(
                system=record.run.system.name,
                category=record.category,
                line=record.line,
                fields=_shown(record, redaction),
                withheld=bool(redaction and redaction.withheld),
                reason=redaction.reason if redaction else "",
                url=reverse("admin:dsar_case_redact", args=[case.pk, record.run.pk, record.line]),
            )
        )
    context = {
        **admin.site.each_context(request),
        "opts": Case._meta,
        "case": case,
        "title": _("%(reference)s: other people's data") % {"reference": case.reference},
        "rows": rows,
        "total": sum(
            count
            for run in runs
            for category, count in run.counts.items()
            if category in (run.system.review_categories or [])
        ),
        "redacted": len(decided),
        "page": page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if len(shown) > RECORDS_PER_PAGE else None,
        "may_redact": case.status == CaseStatus.THIRD_PARTY_REVIEW
        and request.user.has_perm("dsar.work_case"),
    }
    return TemplateResponse(request, "admin/dsar/case/third_party.html", context)


class RedactionForm(forms.Form):
    """One record: withhold it whole, or edit the text of the fields that reveal others."""

    withheld = forms.BooleanField(
        label=_("Withhold the whole record"),
        required=False,
        help_text=_("For a record that is mostly about someone else."),
    )
    reason = forms.CharField(
        label=_("Why (for the case file; the person learns only how many records were changed)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self, *args: Any, record: redactions.Record, redaction: Redaction | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.paths = [path for path, _value in redactions.fields_of(record.data)]
        current = {
            tuple(item["path"]): str(item["value"])
            for item in (redaction.fields if redaction else [])
        }
        for index, (path, value) in enumerate(redactions.fields_of(record.data)):
            self.fields[f"field_{index}"] = forms.CharField(
                label=_field_name(path),
                required=False,
                strip=False,
                initial=current.get(path, value),
                widget=forms.Textarea(attrs={"rows": 2 if len(value) < 160 else 5}),
            )
        if redaction is not None:
            self.fields["withheld"].initial = redaction.withheld
            self.fields["reason"].initial = redaction.reason

    def values(self) -> dict[redactions.FieldPath, str]:
        """The fields as sent (a field not sent is left as it is); browsers send a text area's
        line breaks as CRLF, where the records hold LF."""
        return {
            path: str(self.cleaned_data[f"field_{index}"]).replace("\r\n", "\n")
            for index, path in enumerate(self.paths)
            if f"field_{index}" in self.data
        }


def redact_view(request: HttpRequest, case_id: int, run_id: int, line: int) -> HttpResponse:
    """One record held for review: staff withhold it or redact its fields, with a reason."""
    if not request.user.has_perm("dsar.work_case"):
        return HttpResponse(status=403)
    case = get_object_or_404(Case, pk=case_id)
    run = get_object_or_404(SystemRun.objects.select_related("system"), pk=run_id, case=case)
    if case.status != CaseStatus.THIRD_PARTY_REVIEW or not run.result_file:
        raise Http404("the answer of this case is not waiting for a review")
    try:
        record = redactions.find_record(run, line)
    except redactions.RedactionInvalid:
        raise Http404("no such record held for review") from None
    redaction = Redaction.objects.filter(run=run, line=line).first()
    form = RedactionForm(request.POST or None, record=record, redaction=redaction)
    if request.method == "POST" and form.is_valid():
        try:
            transitions.redact_record(
                case.pk,
                run_id=run.pk,
                line=line,
                withheld=bool(form.cleaned_data["withheld"]),
                fields=form.values(),
                reason=str(form.cleaned_data["reason"]),
                actor=staff_actor(request.user.get_username()),
                user_id=request.user.pk,
            )
        except (
            redactions.RedactionInvalid,
            transitions.ReviewIncomplete,
            transitions.TransitionNotAllowed,
        ) as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("The record is saved as the person will see it."))
            return HttpResponseRedirect(reverse("admin:dsar_case_third_party", args=[case.pk]))
    context = {
        **admin.site.each_context(request),
        "opts": Case._meta,
        "case": case,
        "title": _("%(reference)s: a record of %(category)s in %(system)s")
        % {"reference": case.reference, "category": record.category, "system": run.system.name},
        "form": form,
        "back": reverse("admin:dsar_case_third_party", args=[case.pk]),
    }
    return TemplateResponse(
        request,
        "admin/dsar/case/redact.html",
        context,
        status=400 if form.errors else 200,
    )
