"""Check every case's event chain and its anchors; report every broken case."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsar.events import verify_chains


class Command(BaseCommand):
    help = (
        "Verify the keyed hash chain of every case's events against the anchor log; report "
        "each broken case and exit with an error if any is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", help="check only this case reference")

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken, problems = verify_chains(reference=options["case"])
        failures = [str(case) for case in broken] + problems
        for failure in failures:
            self.stderr.write(failure)
        if failures:
            raise CommandError(
                f"{len(broken)} of {checked} case chains broken, "
                f"{len(problems)} anchor log problems:\n" + "\n".join(failures)
            )
        self.stdout.write(self.style.SUCCESS(f"{checked} case chains intact"))
