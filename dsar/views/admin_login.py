"""The admin's login, limited against password guessing: failed sign-ins are counted per user
name, normalised exactly as Django authenticates it (surrounding spaces stripped, NFKC), and
per client address. Successful sign-ins are never counted, so an office of colleagues behind one
address is not locked out. Once a limit is reached, a staff page says when to try again."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.forms import UsernameField
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

USER_GROUP = "dsar.admin-login.user"
ADDRESS_GROUP = "dsar.admin-login.ip"

logger = logging.getLogger(__name__)


def normalised_username(raw: str) -> str:
    """The user name as the login form hands it to the authentication backend."""
    try:
        return str(UsernameField().clean(raw))
    except ValidationError:
        return ""


def _limits(request: HttpRequest) -> list[tuple[str, object, str]]:
    username = normalised_username(request.POST.get("username", ""))
    return [
        (USER_GROUP, lambda _group, _request: username, settings.DSAR["ADMIN_LOGIN_RATE"]),
        (ADDRESS_GROUP, "ip", settings.DSAR["ADMIN_LOGIN_IP_RATE"]),
    ]


def _usage(request: HttpRequest, group: str, key: object, rate: str, *, increment: bool) -> Any:
    """django-ratelimit's count, or None when the cache does not answer: staff can still sign
    in while Redis restarts (as RATELIMIT_FAIL_OPEN means for the other limits), and the log
    says the limit was not counted."""
    try:
        return get_usage(request, group=group, key=key, rate=rate, increment=increment)
    except RedisError as error:
        logger.warning("sign-in limit %s not checked: the cache does not answer (%s)", group, error)
        return None


def _seconds_locked(request: HttpRequest) -> int | None:
    """Seconds until the user name or the address may try again, if either is locked."""
    waits = []
    for group, key, rate in _limits(request):
        usage = _usage(request, group, key, rate, increment=False)
        if usage is not None and usage["count"] >= usage["limit"]:
            waits.append(max(int(usage["time_left"]), 1))
    return max(waits) if waits else None


def _count_failure(request: HttpRequest) -> None:
    for group, key, rate in _limits(request):
        _usage(request, group, key, rate, increment=True)


def rate_limited_login(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        seconds = _seconds_locked(request)
        if seconds is not None:
            until = timezone.localtime() + dt.timedelta(seconds=seconds)
            context = {
                **admin.site.each_context(request),
                "title": "",
                "retry_at": until,
                "minutes": max(1, -(-seconds // 60)),
            }
            return TemplateResponse(request, "admin/login_locked.html", context, status=429)
    response = admin.site.login(request)
    if request.method == "POST" and not request.user.is_authenticated:
        _count_failure(request)
    return response
