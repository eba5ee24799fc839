"""Run scheduled housekeeping jobs now, in this process: no worker or beat needs to run (after a
restore, before the application starts again; see docs/deployment.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsar import housekeeping

# The job's name on the command line, the dsar.housekeeping function, and what its count is.
JOBS: dict[str, tuple[str, str]] = {
    "expire": ("expire_unverified_cases", "unconfirmed requests expired"),
    "purge": ("purge_closed_cases", "closed cases purged of their personal details"),
    "artifacts": ("delete_expired_artifacts", "expired answer files deleted"),
    "sweep": ("sweep", "moved on"),
}


class Command(BaseCommand):
    help = (
        "Run housekeeping jobs now, in the given order: expire (unconfirmed requests past "
        "DSAR_UNVERIFIED_CASE_TTL_DAYS), purge (cases closed longer than "
        "DSAR_CASE_RETENTION_DAYS), artifacts (answers past their download period, with the "
        "case's files), sweep (work left in between; needs the broker). The same functions "
        "Celery beat runs on its schedule; each is safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("jobs", nargs="+", choices=list(JOBS), metavar="job")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in options["jobs"]:
            function_name, what = JOBS[name]
            job: Callable[[], Any] = getattr(housekeeping, function_name)
            result = job()
            if name == "sweep":
                if not result:
                    raise CommandError(
                        "sweep: the broker (REDIS_URL) does not answer; nothing was moved on."
                    )
                moved = ", ".join(f"{key} {count}" for key, count in result.items())
                self.stdout.write(f"sweep: {what}: {moved}")
            else:
                self.stdout.write(f"{name}: {result} {what}")
