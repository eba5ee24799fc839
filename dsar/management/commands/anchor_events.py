"""Anchor every case's chain head and event count in the append-only anchor log, now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from dsar.anchors import anchor_chains, anchor_file


class Command(BaseCommand):
    help = "Append the chain head and event count of each changed case to the anchor log."

    def handle(self, *args: Any, **options: Any) -> None:
        written = anchor_chains()
        self.stdout.write(f"{written} case chains anchored in {anchor_file()}")
