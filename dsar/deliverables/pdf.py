"""The PDF deliverables, rendered with WeasyPrint from ``templates/deliverables``: the access
report a person can read, the erasure certificate, and the confirmation of a restriction,
objection or correction. Each is written in the case's language.

The report shows a bounded sample of each system's records, read as a stream from the run's
JSON-lines file with the staff's redactions applied (``dsar.redactions``); the complete data are
in the export ZIP. A WeasyPrint table of ten thousand
rows takes a minute and more than a gigabyte, so nothing here grows with the person's data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from connectors.base import OutcomeKind
from dsar import keys, outcomes, redactions
from dsar.models import (
    Case,
    CaseType,
    ChangeDecision,
    Controller,
    ObjectionScope,
    ProcessingActivity,
    Redaction,
    RunStatus,
    SystemRun,
)
from dsar.outcomes import Statement, statement
from dsar.rights import access_information, portable_systems

TEMPLATE_DIR = Path(settings.BASE_DIR) / "templates" / "deliverables"

# The report's bounds: what a person can read, and what WeasyPrint lays out in a second or two.
RECORDS_PER_CATEGORY = 20
ROWS_PER_SYSTEM = 200
ROWS_PER_REPORT = 600
FIELDS_PER_RECORD = 20
VALUE_CHARS = 300
CHANGES_PER_SYSTEM = 50

CERTIFICATE_SALT = "dsar.certificate"


class LocalFilesOnly(URLFetcher):  # type: ignore[misc]
    """Lets WeasyPrint read files of the deliverables' template folder and nothing else, so
    rendering never reaches the network whatever the data holds."""

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        if not url.startswith(TEMPLATE_DIR.as_uri() + "/"):
            raise ValueError(f"the PDF deliverables fetch no external resources: {url}")
        return super().fetch(url, headers)


@dataclass(frozen=True)
class ControllerView:
    """Who writes the letter; only the name is certain when no Controller row exists."""

    name: str
    address: str = ""
    contact_email: str = ""
    dpo_name: str = ""
    dpo_contact: str = ""
    supervisory_authority: str = ""
    supervisory_authority_url: str = ""

    @property
    def postal_address(self) -> str:
        """The address under the letterhead's name, without a first line that repeats it."""
        lines = self.address.strip().splitlines()
        if lines and lines[0].strip() == self.name.strip():
            lines = lines[1:]
        return "\n".join(lines)


def _controller() -> ControllerView:
    controller = Controller.current()
    return ControllerView(
        name=controller.name,
        address=controller.address,
        contact_email=controller.contact_email,
        dpo_name=controller.dpo_name,
        dpo_contact=controller.dpo_contact,
        supervisory_authority=controller.supervisory_authority,
        supervisory_authority_url=controller.supervisory_authority_url,
    )


def _render(template: str, context: dict[str, Any], *, case: Case, target: Path) -> Path:
    with translation.override(case.language):
        html = render_to_string(
            f"deliverables/{template}",
            {"case": case, "controller": _controller(), **context},
        )
    fetcher = LocalFilesOnly(allowed_protocols={"file"})
    base_url = TEMPLATE_DIR.as_uri() + "/"
    stylesheet = CSS(filename=str(TEMPLATE_DIR / "pdf.css"), url_fetcher=fetcher)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf(
        partial, stylesheets=[stylesheet]
    )
    os.replace(partial, target)
    return target


def _nothing_held(statements: list[Statement]) -> bool:
    """Every system answered that it holds nothing about the person: said once, in the same
    words as the completion email (``outcomes.answer_context``)."""
    return bool(statements) and all(item.kind == OutcomeKind.NOT_HELD for item in statements)


def _runs(case: Case) -> list[SystemRun]:
    return list(case.runs.select_related("system", "manual_task").order_by("system__name", "pk"))


def _local_day(moment: dt.datetime | None) -> dt.date | None:
    return timezone.localdate(moment) if moment is not None else None


# --- The access report ----------------------------------------------------------------------


@dataclass
class RecordView:
    """One record as key/value rows, flattened and cut to what fits on a page."""

    rows: list[tuple[str, str]]
    more_fields: int = 0


@dataclass
class CategoryView:
    name: str
    total: int
    records: list[RecordView] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(self.total - len(self.records), 0)

    @property
    def rows(self) -> int:
        return sum(len(record.rows) for record in self.records)


@dataclass
class SystemView:
    name: str
    holds_data: bool
    failed: bool
    total: int
    categories: list[CategoryView]
    statement: Statement


def _truncate(text: str, limit: int = VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _record_view(record: Any) -> RecordView:
    if not isinstance(record, Mapping):
        return RecordView(rows=[("value", _truncate(_text(record)))])
    pairs = _flatten(record)
    rows = [
        (_truncate(name, 80), _truncate(_text(value)))
        for name, value in itertools.islice(pairs, FIELDS_PER_RECORD)
    ]
    return RecordView(rows=rows, more_fields=sum(1 for _pair in pairs))


_PREFIX = '{"category": '
_DECODER = json.JSONDecoder()


def _category_of(line: str) -> str | None:
    """The category of a JSON line, read from its start without parsing the record (the lines
    are written by dsar.runs.JsonLinesSink with the category first)."""
    if not line.startswith(_PREFIX):
        return None
    try:
        value, _end = _DECODER.raw_decode(line, len(_PREFIX))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _sample(
    path: Path,
    counts: Mapping[str, int],
    *,
    rows: int,
    redacted: Mapping[int, Redaction] | None = None,
) -> list[CategoryView]:
    """The first records of each category, in at most ``rows`` key/value rows, as the answer
    shows them (``redacted``: the staff's redactions by line, applied; withheld records left
    out). With the counts known from the run's summary, reading stops as soon as every category
    has its share; without them, the remaining lines are only counted."""
    redacted = redacted or {}
    known = bool(counts)
    categories = {name: CategoryView(name, int(total)) for name, total in counts.items()}
    wanted = {name: min(view.total, RECORDS_PER_CATEGORY) for name, view in categories.items()}
    tally: Counter[str] = Counter()
    rows_left = rows
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream):
            if not line.strip():
                continue
            item: dict[str, Any] | None = None
            redaction = redacted.get(number)
            if redaction is not None:
                item = json.loads(line)
                record = redactions.redacted(line.rstrip("\n"), item.get("record"), redaction)
                if record is None:
                    continue  # withheld: other people's data (Art. 15(4))
                item = {**item, "record": record}
            category = _category_of(line)
            if category is None:
                item = item if item is not None else json.loads(line)
                category = str(item.get("category", ""))
            tally[category] += 1
            view = categories.setdefault(category, CategoryView(category, 0))
            if rows_left > 0 and len(view.records) < RECORDS_PER_CATEGORY:
                item = item if item is not None else json.loads(line)
                record_view = _record_view(item.get("record"))
                if len(record_view.rows) <= rows_left:
                    view.records.append(record_view)
                    rows_left -= len(record_view.rows)
                else:
                    rows_left = 0
            if known and (
                rows_left == 0
                or all(len(categories[name].records) >= n for name, n in wanted.items())
            ):
                break
    if not known:
        for name, view in categories.items():
            view.total = tally[name]
    return [view for view in categories.values() if view.total]


def _system_view(run: SystemRun, *, rows: int, portable: set[str] | None = None) -> SystemView:
    by_line = redactions.redactions_of(run) if run.result_file else {}
    counts = redactions.answer_counts(run) if by_line else run.counts
    holds_data = run.status == RunStatus.SUCCEEDED and run.found
    categories: list[CategoryView] = []
    path = Path(settings.MEDIA_ROOT) / run.result_file if run.result_file else None
    if holds_data and path is not None and path.exists() and (rows > 0 or not counts):
        categories = _sample(path, counts, rows=rows, redacted=by_line)
    if not categories:
        categories = [CategoryView(name, total) for name, total in counts.items() if total]
    return SystemView(
        name=run.system.name,
        holds_data=holds_data,
        failed=run.status == RunStatus.FAILED,
        total=sum(view.total for view in categories),
        categories=categories,
        statement=statement(run, portable=portable),
    )


def render_report(case: Case, target: Path) -> Path:
    """The access (or portability) report: a letter, each system's data in a readable sample,
    the Art. 15 information of every activity that uses the data, the person's rights. Every
    text in it, the systems' statements included, is written in the case's language."""
    with translation.override(case.language):
        return _render_report(case, target)


def _render_report(case: Case, target: Path) -> Path:
    information = access_information(case)
    portable = (
        {run.pk: set(run.system.portable_categories) for run in portable_systems(case)}
        if case.type == CaseType.PORTABILITY
        else None
    )
    systems = []
    rows_left = ROWS_PER_REPORT
    # What the export file holds: every record found, or for portability only those of the
    # categories the person gave us (as dsar.deliverables.export_zip writes it).
    export_records = 0
    for run in _runs(case):
        categories = None if portable is None else portable.get(run.pk, set())
        system = _system_view(run, rows=min(ROWS_PER_SYSTEM, rows_left), portable=categories)
        rows_left -= sum(category.rows for category in system.categories)
        export_records += sum(
            category.total
            for category in system.categories
            if categories is None or category.name in categories
        )
        systems.append(system)
    return _render(
        "report.html",
        {
            "title": _("Your personal data"),
            "systems": systems,
            "activities": information["processing_activities"],
            "rights": information["rights"],
            "received": case.received_at,
            "completed": case.closed_at or timezone.now(),
            "portability": case.type == CaseType.PORTABILITY,
            "records_per_category": RECORDS_PER_CATEGORY,
            "export_records": export_records,
            "nothing_held": _nothing_held([system.statement for system in systems]),
        },
        case=case,
        target=target,
    )


# --- The erasure certificate ----------------------------------------------------------------


def _completed_day(case: Case, runs: list[SystemRun]) -> dt.date | None:
    """The day the case closed; before that, the day its last system finished."""
    if case.closed_at is not None:
        return _local_day(case.closed_at)
    finished = [run.finished_at for run in runs if run.finished_at is not None]
    return _local_day(max(finished)) if finished else None


def certificate_content(case: Case) -> dict[str, Any]:
    """The facts an erasure certificate prints, in a canonical form for its checksum: each
    system's recorded outcome (never the erased data)."""
    runs = _runs(case)
    days = {
        "received": _local_day(case.received_at),
        "verified": _local_day(case.verified_at),
        "completed": _completed_day(case, runs),
    }
    return {
        "reference": case.reference,
        **{name: day.isoformat() if day else None for name, day in days.items()},
        "systems": outcomes.canonical(case),
    }


def certificate_checksum(case: Case, *, key_id: str | None = None) -> str:
    """HMAC-SHA256 of the certificate's facts with the current certificate key (or the one
    ``key_id`` names, as stored beside an issued checksum): staff recompute it to check that a
    certificate shown to them is one we issued, unchanged."""
    return keys.mac(keys.Purpose.CERTIFICATE, _certificate_canonical(case), key_id=key_id)[1]


def certificate_checksum_matches(case: Case, checksum: str, *, key_id: str) -> bool:
    """Whether ``checksum`` is the case's checksum today under the key ``key_id`` names (old
    and legacy keys included); False for a key no longer configured."""
    return keys.verify(
        keys.Purpose.CERTIFICATE, _certificate_canonical(case), checksum, key_id=key_id
    )


def _certificate_canonical(case: Case) -> str:
    return json.dumps(certificate_content(case), sort_keys=True)


def _day(iso: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(iso) if iso else None
    except ValueError:
        return None


def render_certificate(case: Case, target: Path) -> Path:
    """The erasure certificate: what each system did — erased, anonymised and what remains,
    kept under which legal duty until when, refused and why — read from the recorded outcomes;
    never the person's name, address or the erased data. Wherever something was not erased,
    it says how to complain."""
    with translation.override(case.language):
        return _render_certificate(case, target)


def _render_certificate(case: Case, target: Path) -> Path:
    content = certificate_content(case)
    items = outcomes.statements(case)
    return _render(
        "certificate.html",
        {
            "title": _("Erasure certificate"),
            "received": _day(content["received"]),
            "verified": _day(content["verified"]),
            "completed": _day(content["completed"]),
            "systems": items,
            "all_erased": all(item.fully_erased for item in items),
            "nothing_held": _nothing_held(items),
            "checksum": certificate_checksum(case),
            "recipients": outcomes.notified_recipients(case),
        },
        case=case,
        target=target,
    )


# --- The confirmation of a restriction, objection or correction -----------------------------


CONFIRMATION_TITLES: dict[str, StrOrPromise] = {
    CaseType.RESTRICTION: _("Confirmation of the restriction of processing"),
    CaseType.OBJECTION: _("Confirmation of your objection"),
    CaseType.RECTIFICATION: _("Confirmation of the correction of your data"),
}


def render_confirmation(case: Case, target: Path) -> Path:
    """What was done where for a restriction, objection or correction; for a correction, the
    decision on each field (not the values), for an objection the decision and its grounds;
    all of it in the case's language."""
    with translation.override(case.language):
        return _render_confirmation(case, target)


def _render_confirmation(case: Case, target: Path) -> Path:
    changes = [
        {
            "field": change.get_field_display(),
            "decision": change.get_decision_display(),
            "refused": change.decision == ChangeDecision.REFUSED,
            "reason": change.reason,
        }
        for change in case.changes.order_by("id")
    ]
    scope = case.details.get("objection_scope")
    systems = outcomes.statements(case)
    objected = _objected_activities(case)
    return _render(
        "confirmation.html",
        {
            "title": CONFIRMATION_TITLES.get(case.type, _("Confirmation")),
            "systems": systems,
            "changes": changes if case.type == CaseType.RECTIFICATION else [],
            "objection_scope": ObjectionScope(scope).label
            if scope in ObjectionScope.values
            else "",
            "decision": case.details.get("decision", ""),
            "decision_grounds": case.details.get("decision_grounds", ""),
            "objected_activities": objected,
            "nothing_held": _nothing_held(systems),
            "recipients": outcomes.notified_recipients(case),
            "received": case.received_at,
            "completed": case.closed_at or timezone.now(),
        },
        case=case,
        target=target,
    )


def _objected_activities(case: Case) -> list[str]:
    """The processing an upheld objection stopped, in the active language, with its legal
    basis (the systems' statements say which were restricted and why others were not)."""
    keys = case.details.get("objection_activities") or []
    if case.details.get("decision") != "upheld" or not keys:
        return []
    language = translation.get_language() or case.language
    return [
        f"{activity.localized('name', language)} ({activity.get_legal_basis_display()})"
        for activity in ProcessingActivity.objects.filter(key__in=keys).order_by("name")
    ]
