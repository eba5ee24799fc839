"""The audit trail, read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import (
    HttpRequest,
)

from ..models import (
    Event,
)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ("case", "seq", "created_at", "actor", "action")
    list_filter = ("action",)
    search_fields = ("case__reference",)
    list_select_related = ("case",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
