"""The person's download link: a hashed, expiring, use-limited token, opened with a one-time
code sent to the case's email address."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .events import SUBJECT, SYSTEM, append_event, record_event
from .models import Artifact, Case, DownloadLink

MAX_CODE_ATTEMPTS = 5


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_link(case: Case, *, now: dt.datetime | None = None) -> str:
    """A new link for the case; returns the raw token (only its hash is stored)."""
    return new_link(case, now=now)[1]


def new_link(case: Case, *, now: dt.datetime | None = None) -> tuple[DownloadLink, str]:
    """A new link for the case; returns it and the raw token (only its hash is stored)."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    link = DownloadLink.objects.create(
        case=case,
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=settings.DSAR["DOWNLOAD_TTL_DAYS"]),
        max_downloads=settings.DSAR["DOWNLOAD_MAX"],
    )
    return link, token


def find_link(token: str) -> DownloadLink | None:
    if not token or len(token) > 128:
        return None
    token_hash = _hash(token)
    link = DownloadLink.objects.select_related("case").filter(token_hash=token_hash).first()
    if link is None or not hmac.compare_digest(link.token_hash, token_hash):
        return None
    return link


@dataclass(frozen=True)
class LinkState:
    usable: bool
    reason: str = ""  # "expired" or "used_up"


def link_state(link: DownloadLink, *, now: dt.datetime | None = None) -> LinkState:
    if link.expires_at <= (now or timezone.now()):
        return LinkState(False, "expired")
    if link.downloads >= link.max_downloads:
        return LinkState(False, "used_up")
    return LinkState(True)


def issue_code(link: DownloadLink) -> str:
    """A fresh six-digit code for the link, valid for a few minutes; returns it raw. The case's
    trail records that a code was sent (never the code)."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    with transaction.atomic():
        DownloadLink.objects.filter(pk=link.pk).update(
            code_hash=_hash(f"{link.pk}:{code}"),
            code_expires_at=timezone.now()
            + dt.timedelta(minutes=settings.DSAR["DOWNLOAD_CODE_TTL_MINUTES"]),
            code_attempts=0,
        )
        case = Case.objects.select_for_update().get(pk=link.case_id)
        append_event(case, actor=SYSTEM, action="download_code_sent", data={"link": link.pk})
    return code


# Why a code did not open the files.
NO_CODE = "no_code_sent"
CODE_EXPIRED = "code_expired"
TOO_MANY_TRIES = "too_many_wrong_codes"
WRONG_CODE = "wrong_code"
OTHER_CASES_CODE = "code_of_another_case"


def _belongs_to_another_link(link: DownloadLink, code: str) -> bool:
    """Whether ``code`` is the live code of another link (another case's person, or someone
    who read another person's email, trying it here)."""
    others = (
        DownloadLink.objects.exclude(pk=link.pk)
        .exclude(code_hash="")
        .filter(code_expires_at__gt=timezone.now())
        .values_list("pk", "code_hash")[:1000]
    )
    return any(hmac.compare_digest(known, _hash(f"{pk}:{code}")) for pk, known in others)


def verify_code(link: DownloadLink, code: str) -> str | None:
    """None once for the right code, else why it was refused; a few wrong tries spend the
    code."""
    code = code.strip()
    with transaction.atomic():
        locked = DownloadLink.objects.select_for_update().get(pk=link.pk)
        if not locked.code_hash or locked.code_expires_at is None:
            return NO_CODE
        if locked.code_expires_at <= timezone.now():
            return CODE_EXPIRED
        if locked.code_attempts >= MAX_CODE_ATTEMPTS:
            return TOO_MANY_TRIES
        if hmac.compare_digest(locked.code_hash, _hash(f"{link.pk}:{code}")):
            locked.code_hash = ""
            locked.save(update_fields=["code_hash"])
            return None
        locked.code_attempts += 1
        locked.save(update_fields=["code_attempts"])
    return OTHER_CASES_CODE if _belongs_to_another_link(link, code) else WRONG_CODE


def check_code(link: DownloadLink, code: str) -> bool:
    """True once for the right code; a few wrong tries spend the code."""
    return verify_code(link, code) is None


def record_download(link: DownloadLink, artifact: Artifact) -> bool:
    """Count one download against the link's limit; False when the limit is reached."""
    with transaction.atomic():
        counted = DownloadLink.objects.filter(
            pk=link.pk, downloads__lt=F("max_downloads"), expires_at__gt=timezone.now()
        ).update(downloads=F("downloads") + 1)
        if counted != 1:
            return False
        Artifact.objects.filter(pk=artifact.pk).update(downloads=F("downloads") + 1)
        record_event(link.case_id, actor=SUBJECT, action="downloaded", data={"kind": artifact.kind})
    return True
