"""The secrets a subject holds: single-use verification tokens and the status-page key."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid

from django.conf import settings
from django.core import signing
from django.utils import timezone

from .models import Case, Verification

_STATUS_SALT = "dsar.status-page"


def issue_verification(case: Case, *, now: dt.datetime | None = None) -> str:
    """Create a verification for the case and return its raw token (never stored)."""
    return new_verification(case, now=now)[1]


def new_verification(case: Case, *, now: dt.datetime | None = None) -> tuple[Verification, str]:
    """Create a verification for the case; return it and its raw token (never stored)."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    verification = Verification.objects.create(
        case=case,
        token_hash=Verification.hash_token(token),
        created_at=now,
        expires_at=now + dt.timedelta(hours=settings.DSAR["VERIFICATION_TTL_HOURS"]),
    )
    return verification, token


def find_verification(token: str) -> Verification | None:
    """Look a raw token up by its hash; the final comparison runs in constant time."""
    if not token or len(token) > 128:
        return None
    token_hash = Verification.hash_token(token)
    verification = Verification.objects.select_related("case").filter(token_hash=token_hash).first()
    if verification is None or not hmac.compare_digest(verification.token_hash, token_hash):
        return None
    return verification


def status_key(case: Case) -> str:
    """The unguessable key of a case's status page: its random id, signed with SECRET_KEY."""
    return signing.Signer(salt=_STATUS_SALT).sign(case.public_id.hex)


def case_for_status_key(key: str) -> Case | None:
    try:
        public_id = signing.Signer(salt=_STATUS_SALT).unsign(key)
        return Case.objects.get(public_id=uuid.UUID(hex=public_id))
    except (signing.BadSignature, ValueError, Case.DoesNotExist):
        return None
