"""Keyed hashes with named keys, one key ring per purpose.

Three things the product must be able to check years later are keyed with a secret that is not
in the database: the audit trail's chain (``AUDIT``), the suppression list's hashed addresses
(``SUPPRESSION``) and the erasure certificates' checksums (``CERTIFICATE``). Each purpose has its
own ring of keys in the settings (``DSAR_KEYS``, read from ``DSAR_AUDIT_KEYS`` and its siblings as
``id:secret`` pairs, newest first). New values are made with the first key and stored with its
id; a value is checked with the key its id names, so adding a key (rotation) voids nothing, and
``SECRET_KEY`` can be rotated on its own.

Values made before key rings existed carry the id ``LEGACY_KEY_ID``: they were keyed with
``SECRET_KEY`` (Django's ``salted_hmac``), and are checked against ``SECRET_KEY`` and
``SECRET_KEY_FALLBACKS``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac

LEGACY_KEY_ID = "secret-key"


class Purpose(StrEnum):
    AUDIT = "audit"
    SUPPRESSION = "suppression"
    CERTIFICATE = "certificate"


# The salts and algorithms the values made before key rings used with SECRET_KEY.
_LEGACY_SALTS = {
    Purpose.SUPPRESSION: ("dsar.suppression", "sha1"),
    Purpose.CERTIFICATE: ("dsar.certificate", "sha256"),
}


class UnknownKey(LookupError):
    """A value names a key that the settings no longer (or never) held."""


@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print the secret
        return f"Key({self.id!r})"


def ring(purpose: Purpose) -> list[Key]:
    """Every key of the purpose, the current one first."""
    return [Key(key_id, secret.encode()) for key_id, secret in settings.DSAR_KEYS[purpose]]


def current(purpose: Purpose) -> Key:
    """The key new values are made with."""
    keys = ring(purpose)
    if not keys:
        raise ImproperlyConfigured(
            f"No {purpose} key is configured: set DSAR_{purpose.upper()}_KEYS (see README)."
        )
    return keys[0]


def known_ids(purpose: Purpose) -> list[str]:
    ids = [key.id for key in ring(purpose)]
    return [*ids, LEGACY_KEY_ID] if purpose in _LEGACY_SALTS else ids


def _by_id(purpose: Purpose, key_id: str) -> Key:
    for key in ring(purpose):
        if key.id == key_id:
            return key
    raise UnknownKey(f"no {purpose} key with id {key_id!r} is configured")


def _message(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


def _domain(purpose: Purpose) -> bytes:
    # The same secret used for two purposes still gives unrelated values.
    return f"dsar-desk/{purpose}/".encode()


def mac(purpose: Purpose, message: str | bytes, *, key_id: str | None = None) -> tuple[str, str]:
    """HMAC-SHA256 of ``message`` with the current key (or the key ``key_id`` names):
    ``(key_id, hex digest)``. Raises ``UnknownKey`` for an id no longer configured."""
    if key_id == LEGACY_KEY_ID and purpose in _LEGACY_SALTS:
        return key_id, _legacy(purpose, message, settings.SECRET_KEY)
    key = current(purpose) if key_id is None else _by_id(purpose, key_id)
    digest = hmac.new(key.secret, _domain(purpose) + _message(message), hashlib.sha256)
    return key.id, digest.hexdigest()


def macs(purpose: Purpose, message: str | bytes) -> dict[str, str]:
    """The value under every key the purpose knows, by key id (to look a value up whichever
    key made it), legacy ``SECRET_KEY`` values included."""
    values = {key.id: mac(purpose, message, key_id=key.id)[1] for key in ring(purpose)}
    if purpose in _LEGACY_SALTS:
        for index, secret in enumerate([settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]):
            values[f"{LEGACY_KEY_ID}#{index}"] = _legacy(purpose, message, secret)
    return values


def verify(purpose: Purpose, message: str | bytes, digest: str, *, key_id: str) -> bool:
    """Whether ``digest`` is the value of ``message`` under the key ``key_id`` names; False for
    an unknown key id (a value nobody can vouch for)."""
    if key_id == LEGACY_KEY_ID and purpose in _LEGACY_SALTS:
        secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
        return any(
            hmac.compare_digest(_legacy(purpose, message, secret), digest) for secret in secrets
        )
    try:
        _key_id, expected = mac(purpose, message, key_id=key_id)
    except UnknownKey:
        return False
    return hmac.compare_digest(expected, digest)


def _legacy(purpose: Purpose, message: str | bytes, secret: str) -> str:
    salt, algorithm = _LEGACY_SALTS[purpose]
    return salted_hmac(salt, _message(message), secret=secret, algorithm=algorithm).hexdigest()


@checks.register(checks.Tags.security)
def check_key_rings(**kwargs: Any) -> list[checks.CheckMessage]:
    """Each purpose has a key, and keys are long enough to resist guessing."""
    messages: list[checks.CheckMessage] = []
    for purpose in Purpose:
        variable = f"DSAR_{purpose.upper()}_KEYS"
        keys = ring(purpose)
        if not keys:
            messages.append(
                checks.Error(
                    f"No {purpose} key is configured.",
                    hint=f"Set {variable} to id:secret with a long random secret (README).",
                    id="dsar.E101",
                )
            )
        elif any(len(key.secret) < 32 for key in keys) and settings.PRODUCTION:
            messages.append(
                checks.Warning(
                    f"A key in {variable} is shorter than 32 characters.",
                    hint="Generate secrets with: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'",
                    id="dsar.W101",
                )
            )
    return messages
