"""The export ZIP of an access or portability case, written as a stream.

Per system one JSON file (the records as the system holds them, less what staff withheld or
redacted to protect other people: ``dsar.redactions``) and one CSV file per category
(spreadsheet-safe: ``dsar.csvsafe``);
the Art. 15 information as JSON; a README in the person's language; and a manifest listing every
file with its SHA-256 and record count. Records flow from the runs' JSON-lines files straight
into the archive, so memory stays bounded however much data a person has: each run's file is
read once (parsed and redacted once per record), its records and CSV rows held in temporary
files until their counts and columns are known.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .. import csvsafe, outcomes
from ..models import Case, ManualAttachment, RunStatus, SystemRun
from ..redactions import answer_records
from ..rights import access_information, portable_systems


@dataclass
class ZipSummary:
    records: int
    files: int


class _HashingWriter(io.RawIOBase):
    """Counts and hashes the bytes on their way into the archive."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha256.update(chunk)
        self.target.write(chunk)
        return len(chunk)


class _Archive:
    def __init__(self, zip_file: zipfile.ZipFile) -> None:
        self.zip_file = zip_file
        self.manifest: list[dict[str, Any]] = []

    def text_file(self, name: str, *, records: int | None = None) -> _TextEntry:
        return _TextEntry(self, name, records)


class _TextEntry:
    def __init__(self, archive: _Archive, name: str, records: int | None) -> None:
        self.archive = archive
        self.name = name
        self.records = records

    def __enter__(self) -> io.TextIOWrapper:
        self._raw = self.archive.zip_file.open(self.name, "w", force_zip64=True)
        self._hashing = _HashingWriter(self._raw)
        self._text = io.TextIOWrapper(
            io.BufferedWriter(self._hashing, buffer_size=1 << 16), encoding="utf-8", newline=""
        )
        return self._text

    def __exit__(self, *exc: object) -> None:
        self._text.flush()
        self._text.detach()
        self._raw.close()
        entry: dict[str, Any] = {"file": self.name, "sha256": self._hashing.sha256.hexdigest()}
        if self.records is not None:
            entry["records"] = self.records
        self.archive.manifest.append(entry)


@dataclass(frozen=True)
class ReadmeSystem:
    """One system as the README names it: its folder and records in the file (None: none in
    the file) and what happened there, in the words of every other answer (dsar.outcomes)."""

    name: str
    folder: str
    records: int | None
    statement: str


def _readme_systems(case: Case, in_file: dict[int, int]) -> list[ReadmeSystem]:
    by_run = {
        run.pk: run for run in case.runs.select_related("system").order_by("system__name", "pk")
    }
    items = []
    for run_pk, item in zip(by_run, outcomes.statements(case), strict=True):
        run = by_run[run_pk]
        items.append(
            ReadmeSystem(
                name=item.system,
                folder=run.system.key,
                records=in_file.get(run.pk),
                statement=item.text,
            )
        )
    return items


def _attach_found_files(archive: _Archive, run: SystemRun, referenced: set[str]) -> int:
    """Files staff found by hand (a photographed business card, an archived email) go into the
    archive as they are, each listed in the manifest with its checksum: those the exported
    records name (a file whose record is left out, for portability or to protect other
    people's data, stays out). Returns how many went in."""
    attached = 0
    for attachment in ManualAttachment.objects.filter(task__run=run).order_by("pk"):
        name = f"files/{run.system.key}/{Path(attachment.path).name}"
        if name not in referenced:
            continue
        digest = hashlib.sha256()
        with (
            (Path(settings.MEDIA_ROOT) / attachment.path).open("rb") as source,
            archive.zip_file.open(name, "w", force_zip64=True) as target,
        ):
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
                target.write(chunk)
        archive.manifest.append(
            {"file": name, "sha256": digest.hexdigest(), "size": attachment.size, "records": 1}
        )
        attached += 1
    return attached


def _records(run: SystemRun) -> Iterator[tuple[str, dict[str, Any]]]:
    """The run's records as the answer holds them (others' data redacted: dsar.redactions)."""
    return answer_records(run)


def _flatten(record: dict[str, Any]) -> dict[str, str]:
    """One CSV row: nested values become JSON text, so every cell is a plain string."""
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in record.items()
    }


def _export_runs(case: Case, *, portable_only: bool) -> list[tuple[SystemRun, set[str] | None]]:
    if portable_only:
        return [(run, set(run.system.portable_categories)) for run in portable_systems(case)]
    runs = (
        case.runs.filter(status=RunStatus.SUCCEEDED)
        .exclude(result_file="")
        .select_related("system")
        .order_by("system__name")
    )
    return [(run, None) for run in runs]


class _CategoryRows:
    """One category's CSV rows, held in a temporary file until every column is known.

    A row is written with the columns known when it came, new columns always after the known
    ones; the file in the archive gets the header of all the columns, and each row the empty
    cells of the columns that came after it, exactly as ``csv.DictWriter`` would have written
    it knowing every column from the start.
    """

    def __init__(self) -> None:
        self.columns: dict[str, None] = {}
        self.count = 0
        # Open until ``close``, once the archive holds the rows.
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer = csvsafe.Writer(self._file)

    def add(self, record: dict[str, Any]) -> None:
        self.columns.update(dict.fromkeys(record))
        flat = _flatten(record)
        self._writer.writerow([flat.get(name, "") for name in self.columns])
        self.count += 1

    def write_to(self, out: io.TextIOWrapper) -> None:
        names = list(self.columns)
        csvsafe.start(out).writerow(names)
        plain = csv.writer(out, quoting=csv.QUOTE_ALL)
        self._file.seek(0)
        for row in csv.reader(self._file):
            # The cells were made safe on the way in (csvsafe); only empty ones are added.
            plain.writerow(row + [""] * (len(names) - len(row)))

    def close(self) -> None:
        self._file.close()


def _write_system(
    archive: _Archive, run: SystemRun, categories: set[str] | None, files: set[str]
) -> int:
    """The system's JSON file and one CSV per category, from one pass over the run's records;
    the number of records written."""
    key = run.system.key
    rows: dict[str, _CategoryRows] = {}
    try:
        # The JSON file's counts come first but are known only at the end: the records go to
        # a temporary file on the way, then into the archive after the counts.
        with tempfile.TemporaryFile("w+", encoding="utf-8") as records:
            first = True
            for category, record in _records(run):
                if categories is not None and category not in categories:
                    continue
                if category not in rows:
                    rows[category] = _CategoryRows()
                rows[category].add(record)
                if isinstance(record.get("file"), str):
                    files.add(record["file"])
                records.write("" if first else ",")
                records.write("\n" + json.dumps({"category": category, "record": record}))
                first = False
            counts = {category: each.count for category, each in rows.items()}
            system_records = sum(counts.values())
            with archive.text_file(f"{key}/{key}.json", records=system_records) as out:
                out.write(json.dumps({"system": run.system.name, "counts": counts})[:-1])
                out.write(', "records": [')
                records.seek(0)
                shutil.copyfileobj(records, out, 1 << 16)
                out.write("\n]}\n")
        for category, each in rows.items():
            with archive.text_file(f"{key}/{category}.csv", records=each.count) as out:
                each.write_to(out)
    finally:
        for each in rows.values():
            each.close()
    return system_records


def build_export_zip(case: Case, target: Path, *, portable_only: bool = False) -> ZipSummary:
    """Write the case's export to ``target``; for portability only what the person provided."""
    total = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        archive = _Archive(zf)
        referenced: dict[int, set[str]] = {}
        in_file: dict[int, int] = {}
        for run, categories in _export_runs(case, portable_only=portable_only):
            records = _write_system(archive, run, categories, referenced.setdefault(run.pk, set()))
            total += records
            in_file[run.pk] = records
        attached = 0
        for run, _categories in _export_runs(case, portable_only=portable_only):
            attached += _attach_found_files(archive, run, referenced.get(run.pk, set()))
        with archive.text_file("art15-information.json") as out:
            json.dump(access_information(case), out, indent=2, ensure_ascii=False)
        with translation.override(case.language), archive.text_file("README.txt") as out:
            out.write(
                render_to_string(
                    "deliverables/export_readme.txt",
                    {
                        "case": case,
                        "portable_only": portable_only,
                        "generated": timezone.now(),
                        "systems": _readme_systems(case, in_file),
                        "attached": attached,
                    },
                )
            )
        manifest = {
            "reference": case.reference,
            "generated_at": timezone.now().isoformat(),
            "files": archive.manifest,
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    return ZipSummary(records=total, files=len(archive.manifest) + 1)
