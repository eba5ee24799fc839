"""The dsar app."""

from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.core import checks
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_roles(sender: AppConfig, **kwargs: Any) -> None:
    from django.apps import apps as live_apps

    from .roles import create_roles

    create_roles(kwargs.get("apps") or live_apps)


class DsarConfig(AppConfig):
    default = True
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
        from .webhooks import connect as connect_webhooks

        connect_webhooks()


class DsarAdminConfig(admin_apps.AdminConfig):
    """Django's admin with DSAR Desk's site (its name and its index page of the work waiting);
    in INSTALLED_APPS in place of ``django.contrib.admin``."""

    default = False
    default_site = "dsar.admin_site.DsarAdminSite"
