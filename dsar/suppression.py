"""The direct-marketing suppression list (Art. 21(3) GDPR): once a person objects, nothing in
the product subscribes them to marketing again. Only keyed hashes of addresses are stored, each
with the id of the suppression key that made it (``dsar.keys``): rotating a key, or SECRET_KEY,
empties nothing, and an address found under an old key is hashed again under the current one."""

from __future__ import annotations

from .keys import Purpose, current, mac, macs
from .models import SuppressionEntry


class Suppressed(Exception):
    """The address objected to direct marketing."""


def _normal(email: str) -> str:
    return email.strip().lower()


def suppress(email: str, *, reference: str) -> None:
    key_id, email_hash = mac(Purpose.SUPPRESSION, _normal(email))
    SuppressionEntry.objects.get_or_create(
        email_hash=email_hash, defaults={"reference": reference, "key_id": key_id}
    )


def is_suppressed(email: str) -> bool:
    candidates = macs(Purpose.SUPPRESSION, _normal(email))
    found = SuppressionEntry.objects.filter(email_hash__in=candidates.values()).first()
    if found is None:
        return False
    if found.key_id != current(Purpose.SUPPRESSION).id:
        suppress(email, reference=found.reference)
    return True


def ensure_marketing_allowed(email: str) -> None:
    """Call before subscribing anyone to marketing through the product."""
    if is_suppressed(email):
        raise Suppressed(f"{email} objected to direct marketing and must not be subscribed")
