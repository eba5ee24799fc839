"""Other people's data in a person's answer (Art. 15(4) GDPR): which records wait for staff
review, reading them, and the records as the answer shows them once redacted.

A data system names the export categories that may hold other people's data
(``DataSystem.review_categories``: private messages, logged emails, calls, meetings, notes).
When every run of an access or portability case is done and any run holds records of such a
category, the case waits in ``third_party_review`` (``dsar.transitions._settle``). Staff read
each of those records in the admin and, where needed, withhold it or replace some of its fields
by a redacted text (``transitions.redact_record`` writes a ``Redaction``); "Release the answer"
(``transitions.release_answer``) then builds and sends it.

The run's result file stays as the system gave it. A redaction names its record by the line in
that file and the SHA-256 of the line, and ``answer_records`` applies it whenever the export ZIP
or the report is built, so a rebuild redacts the same way. A redaction whose line no longer
matches withholds the record rather than show what it was meant to hide.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .models import Case, CaseType, Redaction, RunStatus, SystemRun

logger = logging.getLogger(__name__)

# The requests whose answer gives the person a copy of their data.
ANSWER_TYPES = frozenset({CaseType.ACCESS, CaseType.PORTABILITY})

FieldPath = tuple[str, ...]


class RedactionInvalid(ValueError):
    """A redaction cannot be recorded; the message says what to fix."""


def line_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _review_categories(run: SystemRun) -> set[str]:
    return {str(category) for category in run.system.review_categories or []}


def _runs(case: Case) -> list[SystemRun]:
    return list(
        case.runs.filter(status=RunStatus.SUCCEEDED)
        .exclude(result_file="")
        .select_related("system")
        .order_by("system__name", "pk")
    )


def held_for_review(case: Case) -> dict[str, dict[str, int]]:
    """Per system, the records of each review category that the answer would hold (from the
    runs' recorded counts); empty for a request whose answer holds no copy of data."""
    if case.type not in ANSWER_TYPES:
        return {}
    held: dict[str, dict[str, int]] = {}
    for run in _runs(case):
        wanted = _review_categories(run)
        counts = {name: count for name, count in run.counts.items() if name in wanted and count}
        if counts:
            held[run.system.key] = counts
    return held


def review_runs(case: Case) -> list[SystemRun]:
    """The case's runs that hold records of a review category."""
    return [run for run in _runs(case) if set(run.counts) & _review_categories(run)]


@dataclass(frozen=True)
class Record:
    """One record of a run's results, with where it stands in the result file."""

    run: SystemRun
    line: int
    category: str
    data: Any
    sha256: str


def _lines(run: SystemRun) -> Iterator[tuple[int, str]]:
    """The result file's lines, numbered from 0 as they stand in the file."""
    with (Path(settings.MEDIA_ROOT) / run.result_file).open(encoding="utf-8") as stream:
        for number, text in enumerate(stream):
            text = text.rstrip("\n")
            if text.strip():
                yield number, text


def records_for_review(run: SystemRun) -> Iterator[Record]:
    """The run's records of its review categories, in the file's order."""
    wanted = _review_categories(run)
    for number, text in _lines(run):
        item = json.loads(text)
        if item.get("category") in wanted:
            yield Record(run, number, str(item["category"]), item["record"], line_hash(text))


def find_record(run: SystemRun, line: int) -> Record:
    """The record on ``line`` of the run's results; RedactionInvalid unless it is one of a
    review category."""
    for record in records_for_review(run):
        if record.line == line:
            return record
    raise RedactionInvalid(_("This record is not one that waits for review."))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def fields_of(data: Any) -> list[tuple[FieldPath, str]]:
    """The record's fields as (path from the top, value as text): nested objects are walked,
    any other value (a list, a number) is one field."""
    fields: list[tuple[FieldPath, str]] = []

    def walk(value: Any, path: FieldPath) -> None:
        if isinstance(value, Mapping) and value:
            for key, inner in value.items():
                walk(inner, (*path, str(key)))
        else:
            fields.append((path, _text(value)))

    walk(data, ())
    return fields


def changed_fields(record: Record, values: Mapping[FieldPath, str]) -> list[dict[str, Any]]:
    """The fields whose given value differs from the record's, as a redaction stores them;
    RedactionInvalid for a path the record does not have."""
    original = dict(fields_of(record.data))
    changed = []
    for path, value in values.items():
        if path not in original:
            raise RedactionInvalid(
                _("The record has no field %(field)s.") % {"field": ".".join(path) or "(value)"}
            )
        if value != original[path]:
            changed.append({"path": list(path), "value": value})
    return changed


def _apply(data: Any, redaction: Redaction) -> Any:
    result = copy.deepcopy(data)
    for item in redaction.fields:
        path = [str(key) for key in item["path"]]
        if not path:
            result = item["value"]
            continue
        target = result
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = item["value"]
    return result


def redacted(text: str, data: Any, redaction: Redaction | None) -> Any | None:
    """The record on a line of the results as the answer shows it: as it is without a
    redaction, None when withheld, else with the redacted fields replaced."""
    if redaction is None:
        return data
    if redaction.withheld:
        return None
    if line_hash(text) != redaction.line_sha256:
        logger.warning(
            "redaction %s no longer matches line %s of run %s: the record is withheld",
            redaction.pk,
            redaction.line,
            redaction.run_id,
        )
        return None
    try:
        return _apply(data, redaction)
    except (KeyError, TypeError, IndexError):
        logger.warning("redaction %s does not fit its record: the record is withheld", redaction.pk)
        return None


def redactions_of(run: SystemRun) -> dict[int, Redaction]:
    return {redaction.line: redaction for redaction in Redaction.objects.filter(run=run)}


def answer_records(run: SystemRun) -> Iterator[tuple[str, Any]]:
    """(category, record) for each record of the run as the person's answer holds it: each
    redaction applied, each withheld record left out."""
    by_line = redactions_of(run)
    for number, text in _lines(run):
        item = json.loads(text)
        record = redacted(text, item["record"], by_line.get(number))
        if record is not None:
            yield str(item["category"]), record


def answer_counts(run: SystemRun) -> dict[str, int]:
    """The run's records per category less those withheld."""
    withheld = Counter(
        Redaction.objects.filter(run=run, withheld=True).values_list("category", flat=True)
    )
    return {name: count - withheld[name] for name, count in run.counts.items()}


def review_summary(run: SystemRun) -> dict[str, int]:
    """How many of the run's records were withheld, and how many redacted."""
    withheld = Redaction.objects.filter(run=run, withheld=True).count()
    edited = Redaction.objects.filter(run=run, withheld=False).count()
    return {"withheld": withheld, "redacted": edited}
