"""The direct-marketing suppression list (Art. 21(3) GDPR): once a person objects, nothing in
the product subscribes them to marketing again. Only keyed hashes of addresses are stored."""

from __future__ import annotations

from django.utils.crypto import salted_hmac

from .models import SuppressionEntry


class Suppressed(Exception):
    """The address objected to direct marketing."""


def _hash(email: str) -> str:
    return salted_hmac("dsar.suppression", email.strip().lower()).hexdigest()


def suppress(email: str, *, reference: str) -> None:
    SuppressionEntry.objects.get_or_create(
        email_hash=_hash(email), defaults={"reference": reference}
    )


def is_suppressed(email: str) -> bool:
    return SuppressionEntry.objects.filter(email_hash=_hash(email)).exists()


def ensure_marketing_allowed(email: str) -> None:
    """Call before subscribing anyone to marketing through the product."""
    if is_suppressed(email):
        raise Suppressed(f"{email} objected to direct marketing and must not be subscribed")
