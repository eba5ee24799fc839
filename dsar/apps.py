"""The dsar app."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DsarConfig(AppConfig):
    name = "dsar"
    verbose_name = _("Data-subject requests")
    default_auto_field = "django.db.models.BigAutoField"
