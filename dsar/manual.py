"""What staff record when they complete a manual task: the result in the outcome vocabulary,
the records and files they found (checked, stored with the case's files, and written as the
run's results so the export carries them like any system's), and the two kinds of notes.

``dsar.transitions.complete_manual_task`` validates and stores a ``ManualResult`` through here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from connectors.base import Action, OutcomeKind

from .models import ManualAttachment, ManualRecord, ManualTask, SystemRun

# What a person may record for each action, in the outcome vocabulary.
RESULTS_FOR_ACTION: dict[str, tuple[str, ...]] = {
    Action.EXPORT: (OutcomeKind.EXPORTED, OutcomeKind.NOT_HELD),
    Action.ERASE: (
        OutcomeKind.ERASED,
        OutcomeKind.RETAINED,
        OutcomeKind.REFUSED,
        OutcomeKind.NOT_HELD,
    ),
    Action.RESTRICT: (OutcomeKind.RESTRICTED, OutcomeKind.NOT_HELD),
    Action.RECTIFY: (OutcomeKind.CORRECTED, OutcomeKind.NOT_HELD),
    Action.OBJECT: (OutcomeKind.UNSUBSCRIBED, OutcomeKind.NOT_USED, OutcomeKind.NOT_HELD),
}

# Files staff may attach: what their first bytes must be, by content type.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
_TEXT_TYPES = {".txt": "text/plain", ".csv": "text/csv", ".eml": "message/rfc822"}


class ManualResultInvalid(ValueError):
    """The recorded result cannot be accepted; the message says what to fix."""


@dataclass(frozen=True)
class FoundFile:
    category: str
    name: str
    content: bytes


@dataclass
class ManualResult:
    """What a member of staff records when completing a manual task."""

    result: str
    categories: list[str] = field(default_factory=list)
    kept_records: str = ""
    record_year: int | None = None
    retention_rule_id: int | None = None
    refusal: str = ""
    note_to_person: str = ""
    internal_note: str = ""
    records: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    files: list[FoundFile] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.result != OutcomeKind.NOT_HELD


def file_type(name: str, content: bytes) -> str:
    """The content type of an attachment judged by its bytes (not its name); raises
    ManualResultInvalid for a file that is too big, empty or of a kind we do not accept."""
    limit = settings.DSAR["MANUAL_FILE_MAX_BYTES"]
    if not content:
        raise ManualResultInvalid(_("“%(name)s” is empty.") % {"name": name})
    if len(content) > limit:
        raise ManualResultInvalid(
            _("“%(name)s” is larger than %(mb)d MB; attach a smaller file.")
            % {"name": name, "mb": limit // (1024 * 1024)}
        )
    for content_type, prefixes in _MAGIC.items():
        if content.startswith(prefixes):
            return content_type
    suffix = Path(name).suffix.lower()
    if suffix in _TEXT_TYPES:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise ManualResultInvalid(_("“%(name)s” is not UTF-8 text.") % {"name": name}) from None
        return _TEXT_TYPES[suffix]
    raise ManualResultInvalid(
        _("“%(name)s” is not a PDF, PNG or JPEG image, or a .txt, .csv or .eml text file.")
        % {"name": name}
    )


def check(task: ManualTask, result: ManualResult) -> None:
    """Raise ManualResultInvalid unless the result fits the task's action and is complete."""
    action = task.run.action
    allowed = RESULTS_FOR_ACTION.get(action, ())
    if result.result not in allowed:
        raise ManualResultInvalid(
            _("“%(result)s” is not a result of a task to %(action)s.")
            % {"result": result.result, "action": action}
        )
    if result.result == OutcomeKind.RETAINED:
        if result.retention_rule_id is None or result.record_year is None:
            raise ManualResultInvalid(
                _("Say which legal duty keeps the records and the year they were made.")
            )
        if not result.kept_records.strip():
            raise ManualResultInvalid(_("Say which records are kept, e.g. “2 invoices”."))
        if not 1900 <= result.record_year <= dt.date.today().year:
            raise ManualResultInvalid(_("The records' year must be a past or the current year."))
    if result.result == OutcomeKind.REFUSED and not result.refusal.strip():
        raise ManualResultInvalid(_("Say why the system's owner refused, for the person to read."))
    if result.result == OutcomeKind.EXPORTED and not (
        result.categories or result.records or result.files
    ):
        raise ManualResultInvalid(
            _("Say what you found: its categories, or attach the records or files.")
        )
    if not result.found and (result.records or result.files):
        raise ManualResultInvalid(_("Records or files were attached, but the result says none."))
    for found in result.files:
        file_type(found.name, found.content)


def _store_files(task: ManualTask, files: list[FoundFile], *, user_id: int | None) -> None:
    folder = Path("runs") / task.run.case.public_id.hex / "manual" / str(task.pk)
    (Path(settings.MEDIA_ROOT) / folder).mkdir(parents=True, exist_ok=True)
    for index, found in enumerate(files, start=task.attachments.count() + 1):
        name = get_valid_filename(Path(found.name).name)[:100] or "file"
        relative = folder / f"{index:03d}-{name}"
        (Path(settings.MEDIA_ROOT) / relative).write_bytes(found.content)
        ManualAttachment.objects.create(
            task=task,
            category=found.category.strip() or "files",
            path=str(relative),
            filename=name,
            content_type=file_type(found.name, found.content),
            size=len(found.content),
            sha256=hashlib.sha256(found.content).hexdigest(),
            uploaded_by_id=user_id,
        )


def store_findings(
    task: ManualTask, result: ManualResult, *, user_id: int | None
) -> dict[str, int]:
    """Keep what staff found with the case's files, and write it as the run's results (one
    JSON line per record or file), so the export holds it like any system's data. Returns the
    records per category."""
    for category, data in result.records:
        ManualRecord.objects.create(task=task, category=category.strip() or "records", data=data)
    _store_files(task, result.files, user_id=user_id)
    run: SystemRun = task.run
    lines: list[dict[str, Any]] = [
        {"category": record.category, "record": record.data} for record in task.records.all()
    ]
    key = run.system.key
    lines += [
        {
            "category": attachment.category,
            "record": {
                "file": f"files/{key}/{Path(attachment.path).name}",
                "name": attachment.filename,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "sha256": attachment.sha256,
            },
        }
        for attachment in task.attachments.all()
    ]
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["category"]] = counts.get(line["category"], 0) + 1
    if lines:
        relative = Path("runs") / run.case.public_id.hex / f"{key}-{run.action}.jsonl"
        target = Path(settings.MEDIA_ROOT) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        os.replace(partial, target)
        SystemRun.objects.filter(pk=run.pk).update(result_file=str(relative))
    return counts
