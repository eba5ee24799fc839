"""The dsar app."""

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_roles(sender: AppConfig, **kwargs: Any) -> None:
    from django.apps import apps as live_apps

    from .roles import create_roles

    create_roles(kwargs.get("apps") or live_apps)


class DsarConfig(AppConfig):
    name = "dsar"
    verbose_name = _("Data-subject requests")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.checks import check_production_setup

        post_migrate.connect(_ensure_roles, sender=self)
        checks.register(check_production_setup, checks.Tags.security)
        # Register the Celery tasks in every process, so dsar.queue can publish them by name
        # (the queue module itself imports no task, which keeps the layers one-way).
        from . import tasks  # noqa: F401
