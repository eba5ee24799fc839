"""Anchors of the audit trail outside the database.

The keyed event chain (``dsar.events``) stops anyone without the audit key from changing an event,
but a database writer could still delete a case's last events: the shorter chain checks. So each
case's chain head (the hash of its last event) and its event count are appended, daily and on
demand, to an append-only log file outside the database (``DSAR["AUDIT_ANCHOR_FILE"]``), and
written to the ``dsar.audit.anchor`` logger for the platform's log store. ``verify_events`` then
holds every chain to its latest anchor.

Each line is keyed with the audit key and carries the SHA-256 of the line before it, so a line
changed, removed from the middle or added by hand is found. Truncating the end of the file is
prevented by where it lives: in production the file must be on write-once storage (see README).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from .keys import Purpose, current, mac, verify
from .models import GENESIS_HASH, Case, Event

logger = logging.getLogger("dsar.audit.anchor")


@dataclass(frozen=True)
class Anchor:
    case_id: int
    reference: str
    count: int
    head: str
    at: str


@dataclass
class AnchorLog:
    """The latest anchor of each case, and what is wrong with the log itself."""

    latest: dict[int, Anchor] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def anchor_file() -> Path:
    return Path(settings.DSAR["AUDIT_ANCHOR_FILE"])


def _canonical(entry: dict[str, Any]) -> str:
    return json.dumps(
        {"kind": "anchor", **{k: v for k, v in entry.items() if k != "mac"}},
        sort_keys=True,
        separators=(",", ":"),
    )


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


def read_anchors(path: Path | None = None) -> AnchorLog:
    """Read and check the anchor log; a missing file is an empty log."""
    log = AnchorLog()
    path = path or anchor_file()
    if not path.exists():
        return log
    prev = GENESIS_HASH
    with path.open(encoding="utf-8") as stream:
        for number, raw in enumerate(stream, start=1):
            line = raw.rstrip("\n")
            try:
                entry = json.loads(line)
                anchor = Anchor(
                    case_id=int(entry["case"]),
                    reference=str(entry["reference"]),
                    count=int(entry["count"]),
                    head=str(entry["head"]),
                    at=str(entry["at"]),
                )
                key_id, digest, line_prev = str(entry["key"]), str(entry["mac"]), entry["prev"]
            except (ValueError, KeyError, TypeError):
                log.problems.append(f"anchor log line {number} cannot be read")
                prev = _line_hash(line)
                continue
            if not verify(Purpose.AUDIT, _canonical(entry), digest, key_id=key_id):
                log.problems.append(f"anchor log line {number} does not carry a valid audit MAC")
            elif line_prev != prev:
                log.problems.append(
                    f"anchor log line {number} does not follow the line before it "
                    "(a line was removed, changed or inserted)"
                )
            else:
                log.latest[anchor.case_id] = anchor
            prev = _line_hash(line)
    return log


def _heads() -> list[tuple[int, str, int, str]]:
    last = Event.objects.filter(case=OuterRef("pk")).order_by("-seq")
    rows = (
        Case.objects.annotate(count=Max("events__seq"), head=Subquery(last.values("hash")[:1]))
        .filter(count__isnull=False)
        .order_by("pk")
        .values_list("pk", "reference", "count", "head")
    )
    return [(pk, reference, int(count), str(head)) for pk, reference, count, head in rows]


def anchor_chains() -> int:
    """Append the head and count of every case whose chain changed since its last anchor;
    return how many were written."""
    path = anchor_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Append-only, never truncated; the lock keeps two runs from interleaving their lines.
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(descriptor, "r+", encoding="utf-8") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX)
        try:
            latest = read_anchors(path).latest
            stream.seek(0)
            lines = stream.read().splitlines()
            prev = _line_hash(lines[-1]) if lines else GENESIS_HASH
            now = timezone.now().isoformat()
            written = 0
            for case_id, reference, count, head in _heads():
                known = latest.get(case_id)
                if known is not None and (known.count, known.head) == (count, head):
                    continue
                entry: dict[str, Any] = {
                    "at": now,
                    "case": case_id,
                    "reference": reference,
                    "count": count,
                    "head": head,
                    "prev": prev,
                    "key": current(Purpose.AUDIT).id,
                }
                entry["mac"] = mac(Purpose.AUDIT, _canonical(entry), key_id=entry["key"])[1]
                line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
                stream.write(line + "\n")
                logger.info("%s", line)
                prev = _line_hash(line)
                written += 1
            stream.flush()
            os.fsync(stream.fileno())
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)
    return written


@shared_task
def anchor_chains_task() -> int:
    return anchor_chains()
