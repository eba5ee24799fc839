"""The register of processing activities, the controller and the suppression list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import (
    HttpRequest,
)

from ..models import (
    Controller,
    ProcessingActivity,
    SuppressionEntry,
)


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(admin.ModelAdmin[ProcessingActivity]):
    list_display = ("name", "legal_basis", "retention", "retention_years")
    list_filter = ("legal_basis",)
    search_fields = ("name", "purposes", "data_categories")
    filter_horizontal = ("systems",)


@admin.register(Controller)
class ControllerAdmin(admin.ModelAdmin[Controller]):
    list_display = ("name", "contact_email", "dpo_name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Controller.objects.exists()


@admin.register(SuppressionEntry)
class SuppressionEntryAdmin(admin.ModelAdmin[SuppressionEntry]):
    list_display = ("reference", "created_at")
    search_fields = ("reference",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
