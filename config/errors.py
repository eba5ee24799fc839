"""The error pages (400, 403, 404, 500 and the CSRF failure) in the visitor's language.

They render from settings alone: no database, no session, no static files, no context
processors. The 500 page must appear when the database is what failed, and the others must not
fail for a missing ``collectstatic``. Under ``/api/`` the answer is the API's JSON error instead.

So their stylesheet is inline, and the Content-Security-Policy, which allows no inline style,
is widened on these responses alone by the SHA-256 of that one style block (CSP Level 2 hash
source): no other inline style or script runs on them.
"""

from __future__ import annotations

import base64
import hashlib

from csp.decorators import csp_update
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string

_API_CODES = {400: "bad_request", 403: "permission_denied", 404: "not_found", 500: "server_error"}
_API_MESSAGES = {
    400: "The request could not be understood.",
    403: "You may not do this.",
    404: "There is nothing at this address.",
    500: "The server failed to complete the request; try again later.",
}


def style_source() -> str:
    """The CSP source that allows the error pages' style block (errors/style.css, included in
    errors/base.html as the ``<style>`` element's whole text) and nothing else."""
    digest = hashlib.sha256(render_to_string("errors/style.css").encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _page(request: HttpRequest, status: int, template: str | None = None) -> HttpResponseBase:
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": _API_CODES[status], "message": _API_MESSAGES[status]}},
            status=status,
        )
    context = {
        "status": status,
        "controller_name": settings.DSAR["CONTROLLER_NAME"],
        "controller_contact": settings.DSAR["CONTROLLER_CONTACT"],
    }
    body = render_to_string(template or f"errors/{status}.html", context)

    @csp_update({"style-src": [style_source()]})
    def page(request: HttpRequest) -> HttpResponseBase:
        return HttpResponse(body, status=status)

    return page(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponseBase:
    return _page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponseBase:
    return _page(request, 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponseBase:
    return _page(request, 404)


def server_error(request: HttpRequest) -> HttpResponseBase:
    return _page(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponseBase:
    """A form sent without its CSRF token (often an old tab or blocked cookies)."""
    return _page(request, 403, "errors/403_csrf.html")
