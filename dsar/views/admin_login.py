"""The admin's login, limited per IP address and per user name against password guessing."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited


def rate_limited_login(request: HttpRequest) -> HttpResponse:
    rate = settings.DSAR["ADMIN_LOGIN_RATE"]
    for group, key in (
        ("dsar.admin-login.ip", "ip"),
        ("dsar.admin-login.user", "post:username"),
    ):
        if is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True):
            return render(request, "dsar/rate_limited.html", status=429)
    return admin.site.login(request)
