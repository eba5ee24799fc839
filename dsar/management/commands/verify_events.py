"""Check every case's event chain and report the first broken link of each broken one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsar.events import verify_chain
from dsar.models import Case


class Command(BaseCommand):
    help = "Verify the hash chain of case events; exit with an error at the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", help="check only this case reference")

    def handle(self, *args: Any, **options: Any) -> None:
        cases = Case.objects.order_by("pk")
        if options["case"]:
            cases = cases.filter(reference=options["case"])
        checked = 0
        for case_id, reference in cases.values_list("pk", "reference").iterator():
            broken = verify_chain(case_id)
            if broken is not None:
                raise CommandError(
                    f"{reference}: the chain breaks at event {broken.seq}: {broken.reason}"
                )
            checked += 1
        self.stdout.write(self.style.SUCCESS(f"{checked} case chains intact"))
