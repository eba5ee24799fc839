"""`manage.py run_housekeeping` runs beat's jobs now, in its own process, as a restore needs
before the worker and beat start again."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dsar import housekeeping
from dsar.models import Artifact, ArtifactKind, CaseStatus
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def run(*jobs: str) -> str:
    out = StringIO()
    call_command("run_housekeeping", *jobs, stdout=out)
    return out.getvalue()


def test_expire_and_purge_run_in_this_process_and_say_how_many(settings) -> None:
    settings.DSAR = {**settings.DSAR, "UNVERIFIED_CASE_TTL_DAYS": 14, "CASE_RETENTION_DAYS": 1095}
    now = timezone.now()
    unconfirmed = CaseFactory(received_at=now - dt.timedelta(days=15))
    recent = CaseFactory(received_at=now - dt.timedelta(days=1))
    long_closed = CaseFactory(
        status=CaseStatus.COMPLETED,
        received_at=now - dt.timedelta(days=1200),
        closed_at=now - dt.timedelta(days=1100),
    )

    output = run("expire", "purge")

    assert output.splitlines() == [
        "expire: 1 unconfirmed requests expired",
        "purge: 1 closed cases purged of their personal details",
    ]
    unconfirmed.refresh_from_db()
    recent.refresh_from_db()
    long_closed.refresh_from_db()
    assert unconfirmed.status == CaseStatus.EXPIRED
    assert recent.status == CaseStatus.AWAITING_VERIFICATION
    assert long_closed.purged_at is not None and long_closed.email == ""
    # Run again, nothing more happens.
    assert run("purge", "expire").splitlines() == [
        "purge: 0 closed cases purged of their personal details",
        "expire: 0 unconfirmed requests expired",
    ]


def test_artifacts_deletes_answers_whose_download_period_ended(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    now = timezone.now()
    case = CaseFactory(status=CaseStatus.COMPLETED, closed_at=now - dt.timedelta(days=20))
    Artifact.objects.create(
        case=case,
        kind=ArtifactKind.EXPORT_ZIP,
        path=f"artifacts/{case.pk}/export.zip",
        filename="export.zip",
        content_type="application/zip",
        sha256="0" * 64,
        size=1,
        expires_at=now - dt.timedelta(days=1),
    )

    assert run("artifacts") == "artifacts: 1 expired answer files deleted\n"
    assert not Artifact.objects.filter(case=case).exists()


def test_sweep_reports_what_it_moved_on_and_fails_when_the_broker_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(housekeeping, "_broker_queue_size", lambda: 0)
    assert run("sweep").startswith("sweep: moved on: runs_lapsed 0, ")

    monkeypatch.setattr(housekeeping, "_broker_queue_size", lambda: None)
    with pytest.raises(CommandError, match="broker"):
        run("sweep")


def test_an_unknown_job_is_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("run_housekeeping", "everything")
