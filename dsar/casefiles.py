"""A case's own files on disk, and their deletion once their purpose ends (Art. 5(1)(e) GDPR).

Where a case keeps files, under ``MEDIA_ROOT``:

- ``runs/<case>/``: the raw exports of its systems (``<system>-<action>.jsonl``, and a
  ``.partial`` file while an export is written), and under ``runs/<case>/manual/<task>/`` the
  files staff attached to its manual tasks;
- ``intake/<folder>/<name>``: the scan or copy of a request staff recorded by hand
  (``Case.details["attachment"]``);
- ``artifacts/<case>/``: the built answer (export ZIP, PDFs).

They go when the case closes without an answer (rejected, cancelled, expired: a job written by
the closing transition, ``DSAR_CLOSED_FILES_GRACE_HOURS`` later), when an answer's download
period ends (``housekeeping.delete_expired_artifacts``), and at the latest when the case's
personal details are purged. The folders are deleted whole, so a file no row names (an export
cut short) goes too, and every folder left empty goes up to ``MEDIA_ROOT``. Each deletion is an
event on the case saying what kind of files went and how many, never their names.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .events import append_event
from .models import (
    Artifact,
    Case,
    ManualAttachment,
    ManualRecord,
    Redaction,
    RunStatus,
    SystemRun,
)

logger = logging.getLogger(__name__)

# What an event counts, by kind of file.
RAW_EXPORTS = "raw_exports"
MANUAL_ATTACHMENTS = "manual_attachments"
INTAKE_ATTACHMENTS = "intake_attachments"
ARTIFACTS = "artifacts"
# Not files, but copies of the raw exports' content kept in rows: the records staff found by
# hand and the redacted versions of records (Art. 15(4)). They go with the raw exports.
MANUAL_RECORDS = "manual_records"
REDACTIONS = "redactions"

# Why the files went (the event's ``reason``).
CASE_CLOSED = "case_closed"
DOWNLOAD_EXPIRED = "download_expired"
PURGE = "purge"


class StillRunning(Exception):
    """A system run of the closed case is still at work (its last attempt may still write a
    file): come back once its claim has lapsed."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"a system run holds a claim until {until.isoformat()}")
        self.until = until


def _media() -> Path:
    return Path(settings.MEDIA_ROOT).resolve()


def runs_folder(case: Case) -> Path:
    return Path("runs") / case.public_id.hex


def artifacts_folder(case: Case) -> Path:
    return Path("artifacts") / case.public_id.hex


def _inside_media(relative: str | Path) -> Path | None:
    """The absolute path of a stored relative path, or None if it would leave MEDIA_ROOT."""
    media = _media()
    path = (media / relative).resolve()
    return path if path != media and path.is_relative_to(media) else None


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() or path.is_symlink()]


def _prune_empty_parents(path: Path) -> None:
    """Remove ``path``'s folder and each parent above it while they are empty, up to (never
    including) MEDIA_ROOT."""
    media = _media()
    folder = path.parent
    while folder != media and folder.is_relative_to(media):
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # not empty: another case's files, or a new one being written
            return
        folder = folder.parent


def _count_run_files(folder: Path) -> dict[str, int]:
    manual = folder / "manual"
    files = _files_under(folder)
    in_manual = sum(1 for path in files if path.is_relative_to(manual))
    return {RAW_EXPORTS: len(files) - in_manual, MANUAL_ATTACHMENTS: in_manual}


def delete_case_files(case: Case, *, reason: str, actor: str) -> dict[str, int]:
    """Delete every file of the case (the caller holds the case's lock, in a transaction),
    clear the rows that name them, and record what went as an event; return the counts by
    kind (nothing is recorded when nothing was there)."""
    counts = {
        RAW_EXPORTS: 0,
        MANUAL_ATTACHMENTS: 0,
        INTAKE_ATTACHMENTS: 0,
        ARTIFACTS: 0,
        MANUAL_RECORDS: 0,
        REDACTIONS: 0,
    }
    removed: list[Path] = []

    runs = _inside_media(runs_folder(case))
    if runs is not None and runs.is_dir():
        counts.update(_count_run_files(runs))
        shutil.rmtree(runs)
        removed.append(runs)
    artifacts = _inside_media(artifacts_folder(case))
    if artifacts is not None and artifacts.is_dir():
        counts[ARTIFACTS] = len(_files_under(artifacts))
        shutil.rmtree(artifacts)
        removed.append(artifacts)
    # A file a row names outside the case's folders goes too.
    named = [
        *(
            (RAW_EXPORTS, p)
            for p in case.runs.exclude(result_file="").values_list("result_file", flat=True)
        ),
        *(
            (ARTIFACTS, p)
            for p in Artifact.objects.filter(case=case).values_list("path", flat=True)
        ),
    ]
    for kind, stored in named:
        path = _inside_media(stored)
        if path is not None and path.is_file():
            path.unlink()
            counts[kind] += 1
            removed.append(path)

    attachment = str(case.details.get("attachment") or "")
    if attachment:
        path = _inside_media(attachment)
        if path is not None and path.is_file():
            path.unlink()
            counts[INTAKE_ATTACHMENTS] = 1
            removed.append(path)
        details = {key: value for key, value in case.details.items() if key != "attachment"}
        details["attachment_deleted"] = timezone.localdate().isoformat()
        case.details = details
        case.save(update_fields=["details"])

    for path in removed:
        _prune_empty_parents(path)

    SystemRun.objects.filter(case=case).exclude(result_file="").update(result_file="")
    ManualAttachment.objects.filter(task__run__case=case).delete()
    counts[MANUAL_RECORDS] = ManualRecord.objects.filter(task__run__case=case).delete()[0]
    counts[REDACTIONS] = Redaction.objects.filter(run__case=case).delete()[0]
    Artifact.objects.filter(case=case).delete()

    if any(counts.values()):
        append_event(
            case,
            actor=actor,
            action="files_deleted",
            data={"reason": reason, **{kind: n for kind, n in counts.items() if n}},
        )
        logger.info("deleted the files of case %s (%s): %s", case.pk, reason, counts)
    return counts


def delete_closed_case_files(case_id: int, *, actor: str, now: dt.datetime | None = None) -> None:
    """The job the closing of a case without an answer asks for: its files go, once no run of
    it is still at work (raises StillRunning with the time to come back)."""
    now = now or timezone.now()
    busy = SystemRun.objects.filter(
        case_id=case_id, status=RunStatus.RUNNING, lease_until__gt=now
    ).aggregate(until=Max("lease_until"))["until"]
    if busy is not None:
        raise StillRunning(busy)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        delete_case_files(case, reason=CASE_CLOSED, actor=actor)
