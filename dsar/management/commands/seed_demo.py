"""Load the demo: the first customer's systems (pointing at the sandboxes), the trial sign-up
database, and a staff account whose login is printed. Running it again changes nothing more,
except that the staff password is set anew."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from connectors.demo_people import create_trial_database
from dsar.demo import confirm_recipients, create_demo_systems
from dsar.register import load_register


class Command(BaseCommand):
    help = "Create the demo's systems, trial database and staff account; print the login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="privacy")
        parser.add_argument("--hubspot-url", default="http://127.0.0.1:8101")
        parser.add_argument("--mailchimp-url", default="http://127.0.0.1:8102/3.0")
        parser.add_argument("--discourse-url", default="http://127.0.0.1:8103")

    def handle(self, *args: Any, **options: Any) -> None:
        systems = create_demo_systems(
            hubspot_url=options["hubspot_url"],
            mailchimp_url=options["mailchimp_url"],
            discourse_url=options["discourse_url"],
        )
        result = load_register()
        # The demo stands in for the controller, who confirms what the vendors publish.
        confirm_recipients()
        self.stderr.write(
            f"register: {result.created} activities created, {result.updated} updated"
        )
        trial_url = settings.CONNECTOR_SECRETS.get("DSAR_SECRET_TRIAL_DATABASE_URL")
        if trial_url:
            create_trial_database(trial_url)
        user_model = get_user_model()
        password = secrets.token_urlsafe(12)
        user, _created = user_model.objects.get_or_create(
            username=options["username"],
            defaults={"email": "privacy-team@example.com", "is_staff": True, "is_superuser": True},
        )
        user.set_password(password)
        user.save()
        self.stderr.write(f"{len(systems)} data systems ready")
        self.stdout.write(f"Staff login: {user.get_username()} / {password}")
