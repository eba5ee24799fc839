"""Load the demo: a staff account whose login is printed (created once, reset on request)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the demo's staff account and print its login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="privacy")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        password = secrets.token_urlsafe(12)
        user, _created = user_model.objects.get_or_create(
            username=options["username"],
            defaults={"email": "privacy-team@example.com", "is_staff": True, "is_superuser": True},
        )
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Staff login: {user.get_username()} / {password}"))
