"""Load the controller's register of processing activities and its controller record."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dsar.register import load_register


class Command(BaseCommand):
    help = "Create or update the processing activities and the controller from dsar.register."

    def handle(self, *args: Any, **options: Any) -> None:
        created, updated = load_register()
        self.stdout.write(self.style.SUCCESS(f"{created} activities created, {updated} updated"))
