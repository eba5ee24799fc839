"""Absolute links for emails, which are rendered without a request."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.simple_tag
def privacy_url(language: str = "") -> str:
    """The privacy notice of the request service, in ``language`` where one is given."""
    query = f"?{urlencode({'lang': language})}" if language else ""
    return f"{settings.SITE_URL}{reverse('dsar:privacy')}{query}"
