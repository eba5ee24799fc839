"""``manage.py check_systems [KEY ...]``: check each (or the named) data system's connection.

Exits with status 1 when any check finds a problem, so a deployment script can stop on it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsar.connection_checks import check_system
from dsar.models import DataSystem


class Command(BaseCommand):
    help = "Check the credentials, scopes and custom fields of the data systems' connections."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("keys", nargs="*", help="system keys (default: every enabled one)")

    def handle(self, *args: Any, **options: Any) -> None:
        keys: list[str] = options["keys"]
        systems = DataSystem.objects.order_by("key")
        systems = systems.filter(key__in=keys) if keys else systems.filter(enabled=True)
        missing = set(keys) - {system.key for system in systems}
        if missing:
            raise CommandError(f"No data system with key {', '.join(sorted(missing))}")
        problems = 0
        for system in systems:
            report = check_system(system)
            style = self.style.SUCCESS if report.ok else self.style.ERROR
            self.stdout.write(style(f"{system.key}: {'ok' if report.ok else 'PROBLEM'}"))
            for item in report.items:
                mark = "ok" if item.ok else "!!"
                created = " (created)" if item.created else ""
                self.stdout.write(f"  [{mark}] {item.name}{created}: {item.message}")
            problems += not report.ok
        if problems:
            raise CommandError(f"{problems} system(s) need attention")
