"""Top-level URLs: the public pages, language switching, the admin, and the API."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dsar.api import errors as api_errors
from dsar.views import dashboard
from dsar.views.admin_login import rate_limited_login
from dsar.webhooks import mailgun_tracking

urlpatterns = [
    path("admin/login/", rate_limited_login, name="admin_login_limited"),
    path("admin/dsar/dashboard/", dashboard.dashboard, name="dsar_dashboard"),
    path("admin/dsar/dashboard.csv", dashboard.dashboard_csv, name="dsar_dashboard_csv"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("dsar.api.urls")),
    path("api/opendsr/v1/", include("dsar.api.opendsr")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's set-up as a script file: no inline script, for the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    re_path(r"^api/(?P<path>[\s\S]*)$", api_errors.not_found),
    # The email provider's signed reports on our messages (bounces, complaints).
    path("anymail/mailgun/tracking/", mailgun_tracking, name="mailgun_tracking_webhook"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("dsar.urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
