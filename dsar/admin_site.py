"""The admin site of DSAR Desk: its name, and an index page that shows the work waiting.

It lives outside the ``dsar.admin`` package: Django builds the site before it imports the
modules that register models on it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from .attention import attention_counts
from .dashboard import cases_by_status, queue_counts


class DsarAdminSite(admin.AdminSite):
    site_header = _("DSAR Desk")
    site_title = _("DSAR Desk")
    index_title = _("The work waiting")
    # The queue needs the page's full width; the index page and the breadcrumbs lead everywhere.
    enable_nav_sidebar = False

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context: dict[str, Any] = {**(extra_context or {})}
        if request.user.has_perm("dsar.view_case"):
            context |= {
                "attention": attention_counts(),
                "by_status": cases_by_status(),
                "queue": queue_counts(user_id=request.user.pk),
            }
        response: TemplateResponse = super().index(request, context)
        return response
