"""Building a completed case's files and storing them as Artifacts."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..events import SYSTEM, record_event
from ..keys import Purpose, current
from ..models import Artifact, ArtifactKind, Case, CaseType
from .export_zip import build_export_zip

# What each type of request yields.
KINDS: dict[str, list[str]] = {
    CaseType.ACCESS: [ArtifactKind.EXPORT_ZIP, ArtifactKind.REPORT_PDF],
    CaseType.PORTABILITY: [ArtifactKind.EXPORT_ZIP, ArtifactKind.REPORT_PDF],
    CaseType.ERASURE: [ArtifactKind.CERTIFICATE_PDF],
    CaseType.RESTRICTION: [ArtifactKind.CONFIRMATION_PDF],
    CaseType.OBJECTION: [ArtifactKind.CONFIRMATION_PDF],
    CaseType.RECTIFICATION: [ArtifactKind.CONFIRMATION_PDF],
}

FILENAMES = {
    ArtifactKind.EXPORT_ZIP: ("{ref}-data.zip", "application/zip"),
    ArtifactKind.REPORT_PDF: ("{ref}-report.pdf", "application/pdf"),
    ArtifactKind.CERTIFICATE_PDF: ("{ref}-erasure-certificate.pdf", "application/pdf"),
    ArtifactKind.CONFIRMATION_PDF: ("{ref}-confirmation.pdf", "application/pdf"),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_dir(case: Case) -> Path:
    return Path("artifacts") / case.public_id.hex


def _render(case: Case, kind: str, target: Path) -> str:
    """Write one file; return the certificate checksum where there is one."""
    from . import pdf

    if kind == ArtifactKind.EXPORT_ZIP:
        build_export_zip(case, target, portable_only=case.type == CaseType.PORTABILITY)
    elif kind == ArtifactKind.REPORT_PDF:
        pdf.render_report(case, target)
    elif kind == ArtifactKind.CERTIFICATE_PDF:
        pdf.render_certificate(case, target)
        return pdf.certificate_checksum(case)
    else:
        pdf.render_confirmation(case, target)
    return ""


def build_artifacts(case: Case, *, now: dt.datetime | None = None) -> list[Artifact]:
    """(Re)build every file the case's type yields; a rebuild replaces the old files."""
    now = now or timezone.now()
    folder = artifact_dir(case)
    (Path(settings.MEDIA_ROOT) / folder).mkdir(parents=True, exist_ok=True)
    expires = now + dt.timedelta(days=settings.DSAR["DOWNLOAD_TTL_DAYS"])
    artifacts = []
    for kind in KINDS[case.type]:
        name_pattern, content_type = FILENAMES[ArtifactKind(kind)]
        filename = name_pattern.format(ref=case.reference)
        relative = folder / filename
        target = Path(settings.MEDIA_ROOT) / relative
        partial = target.with_suffix(target.suffix + ".partial")
        checksum = _render(case, kind, partial)
        partial.replace(target)
        artifact, _created = Artifact.objects.update_or_create(
            case=case,
            kind=kind,
            defaults={
                "path": str(relative),
                "filename": filename,
                "content_type": content_type,
                "sha256": _sha256(target),
                "size": target.stat().st_size,
                "checksum": checksum,
                "checksum_key_id": current(Purpose.CERTIFICATE).id if checksum else "",
                "created_at": now,
                "expires_at": expires,
            },
        )
        artifacts.append(artifact)
    record_event(
        case,
        actor=SYSTEM,
        action="deliverables_built",
        data={a.kind: {"sha256": a.sha256, "size": a.size} for a in artifacts},
    )
    return artifacts


def _intact(artifact: Artifact) -> bool:
    path = Path(settings.MEDIA_ROOT) / artifact.path
    return (
        path.is_file() and path.stat().st_size == artifact.size and _sha256(path) == artifact.sha256
    )


def ensure_artifacts(case: Case) -> list[Artifact]:
    """The case's files as built before when each is there and intact (a retried step does not
    build them again); otherwise built now."""
    existing = {a.kind: a for a in case.artifacts.all()}
    if all(kind in existing and _intact(existing[kind]) for kind in KINDS[case.type]):
        return [existing[kind] for kind in KINDS[case.type]]
    return build_artifacts(case)
