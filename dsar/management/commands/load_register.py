"""Load the controller's register of processing activities from its data file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsar.register import DEFAULT_PATH, RegisterError, load_register


class Command(BaseCommand):
    help = (
        "Check a register file (YAML, see docs/register.md) and load its controller, retention "
        "rules, recipients and processing activities; a file with any problem changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", type=Path, default=DEFAULT_PATH, help=f"default: {DEFAULT_PATH}"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = load_register(options["path"])
        except RegisterError as error:
            raise CommandError(f"{error}\nNothing was changed.") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.created} activities created, {result.updated} updated; "
                f"{result.recipients} recipients, {result.retention_rules} retention rules"
            )
        )
        if result.unknown_systems:
            self.stdout.write(
                "Not linked, no such system yet (load again once they exist): "
                + ", ".join(result.unknown_systems)
            )
