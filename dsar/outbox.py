"""Email as a tracked delivery: queued in the transition's transaction, composed once, sent by
a worker, retried while the failure passes, and visible to staff when it does not.

A delivery is composed at its first attempt (``dsar.emails`` renders it, minting any one-time
token it carries) and the message is kept encrypted in the row until it is sent, so every retry
sends the same message and no second token is ever issued by a retry. After sending, only the
metadata stays (kind, state, provider's message id, times). A permanent refusal (an SMTP 5xx, a
recipient the provider refuses, a configuration error) is not retried; a passing one (a 4xx, the
provider unreachable) is retried with exponential backoff up to ``EMAIL_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import smtplib
from dataclasses import asdict, dataclass
from typing import Any

from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailMessage
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import queue
from .emails import ComposedEmail, compose
from .events import SYSTEM, append_event
from .models import Case, DeliveryState, EmailDelivery

logger = logging.getLogger(__name__)


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"dsar.outbox.v1").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(message: ComposedEmail) -> bytes:
    return _fernet().encrypt(json.dumps(asdict(message)).encode())


def unseal(sealed: bytes) -> ComposedEmail:
    return ComposedEmail(**json.loads(_fernet().decrypt(bytes(sealed))))


# --- Queueing -----------------------------------------------------------------------------------


def queue_email(
    case: Case | None,
    kind: str,
    *,
    to_other: str = "",
    args: dict[str, Any] | None = None,
    subject: str = "",
) -> EmailDelivery:
    """Record an email to send (to the case's person, or to ``to_other``) and wake a worker once
    the caller's transaction commits. ``kind`` names its composer in ``dsar.emails``."""
    delivery = new_email(case, kind, to_other=to_other, args=args, subject=subject)
    delivery.save(force_insert=True)
    queue.email_soon(delivery.pk, marked=True)
    return delivery


def new_email(
    case: Case | None,
    kind: str,
    *,
    to_other: str = "",
    args: dict[str, Any] | None = None,
    subject: str = "",
) -> EmailDelivery:
    """An email to send, not yet saved: written already marked as queued, as the caller wakes a
    worker for it (``queue.email_soon(..., marked=True)``) once it is committed."""
    return EmailDelivery(
        case=case,
        kind=kind,
        to_other=to_other,
        args=args or {},
        subject=subject,
        queued_at=timezone.now(),
    )


def cancel_pending(case: Case, kind: str) -> int:
    """Stop sending the case's unsent emails of this kind (a newer one supersedes them)."""
    return EmailDelivery.objects.filter(
        case=case,
        kind=kind,
        state__in=[DeliveryState.QUEUED, DeliveryState.FAILED_TRANSIENT],
    ).update(state=DeliveryState.CANCELLED, sealed=b"", lease_until=None)


# --- Sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendError:
    permanent: bool
    message: str


def classify(error: Exception) -> SendError:
    """Whether a sending failure may pass (retry) or will not (a person must act)."""
    name = type(error).__name__
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in error.recipients.values()]
        permanent = all(code >= 500 for code in codes)
        return SendError(permanent, f"The mail server refused the recipient (SMTP {codes})")
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return SendError(True, "The mail server rejected our credentials: check EMAIL_URL")
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return SendError(code >= 500, f"The mail server answered SMTP {code}")
    if isinstance(error, AnymailRecipientsRefused):
        return SendError(True, "The email provider refused the recipient")
    if isinstance(error, AnymailConfigurationError | AnymailUnsupportedFeature):
        return SendError(True, f"The email provider is not configured correctly ({name})")
    if isinstance(error, ImproperlyConfigured):
        return SendError(True, f"Email is not configured correctly ({name})")
    if isinstance(error, AnymailAPIError):
        status = getattr(error, "status_code", None)
        passing = status is None or status == 429 or status >= 500
        return SendError(not passing, f"The email provider answered HTTP {status or '—'}")
    if isinstance(error, OSError | smtplib.SMTPException):
        return SendError(False, f"The mail server could not be reached ({name})")
    return SendError(True, f"Unexpected error while sending ({name})")


def sendable(now: dt.datetime) -> QuerySet[EmailDelivery]:
    """The deliveries a sender may claim now: queued or failed for the time being, due, and not
    in another sender's hands (the sender's claim, the sweeper and the dispatcher's catch-up)."""
    return EmailDelivery.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
        Q(lease_until__isnull=True) | Q(lease_until__lte=now),
        state__in=[DeliveryState.QUEUED, DeliveryState.FAILED_TRANSIENT],
    )


def _claim(delivery_id: int, now: dt.datetime) -> EmailDelivery | None:
    lease = now + dt.timedelta(seconds=settings.DSAR["RUN_LEASE_SECONDS"])
    claimed = sendable(now).filter(pk=delivery_id).update(lease_until=lease)
    if claimed != 1:
        return None
    return EmailDelivery.objects.select_related("case").get(pk=delivery_id)


def _compose_once(delivery: EmailDelivery) -> ComposedEmail:
    """The sealed message, composed (and sealed, committed) at the first attempt."""
    if delivery.sealed:
        try:
            return unseal(bytes(delivery.sealed))
        except InvalidToken:
            # SECRET_KEY was rotated while the message waited: compose it again.
            logger.warning("email delivery %s could not be unsealed; composing again", delivery.pk)
    with transaction.atomic():
        # Locks in the order every transition takes them: the case, then its rows.
        if delivery.case_id:
            Case.objects.select_for_update().only("pk").get(pk=delivery.case_id)
        locked = EmailDelivery.objects.select_for_update().get(pk=delivery.pk)
        message = compose(locked)
        locked.sealed = seal(message)
        locked.subject = message.subject[:300]
        locked.save(update_fields=["sealed", "subject", "verification", "download_link"])
        delivery.sealed = locked.sealed
    return message


def _lock_case(delivery: EmailDelivery) -> Case | None:
    """Lock the delivery's case first, as every transition does, so no two orders deadlock."""
    if not delivery.case_id:
        return None
    return Case.objects.select_for_update().get(pk=delivery.case_id)


def send_delivery(delivery_id: int, *, now: dt.datetime | None = None) -> str:
    """One attempt at one delivery; returns its state afterwards (or "" if not ours now)."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return ""
    EmailDelivery.objects.filter(pk=delivery.pk).update(attempts=delivery.attempts + 1)
    delivery.attempts += 1
    try:
        message = _compose_once(delivery)
        anymail = AnymailMessage(
            subject=message.subject,
            body=message.text,
            to=message.to,
            tags=message.tags,
            metadata=message.metadata,
        )
        if message.html:
            anymail.attach_alternative(message.html, "text/html")
        anymail.send()
    except Exception as error:
        return _failed(delivery, classify(error), now=now)
    status = getattr(anymail, "anymail_status", None)
    message_id = str(getattr(status, "message_id", "") or "")[:200]
    with transaction.atomic():
        case = _lock_case(delivery)
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.SENT,
            sent_at=timezone.now(),
            sealed=b"",
            lease_until=None,
            last_error="",
            provider_message_id=message_id,
            provider_status=str(getattr(status, "status", "") or "")[:40],
        )
        if case is not None:
            append_event(
                case,
                actor=SYSTEM,
                action="email_sent",
                data={"kind": delivery.kind, "delivery": delivery.pk, "attempt": delivery.attempts},
            )
    return DeliveryState.SENT


def _failed(delivery: EmailDelivery, error: SendError, *, now: dt.datetime) -> str:
    gave_up = not error.permanent and delivery.attempts >= settings.DSAR["EMAIL_MAX_ATTEMPTS"]
    if error.permanent or gave_up:
        state = DeliveryState.FAILED_PERMANENT
        message = error.message + (
            f" (gave up after {delivery.attempts} attempts)" if gave_up else ""
        )
        not_before = None
    else:
        state = DeliveryState.FAILED_TRANSIENT
        message = error.message
        backoff = min(
            settings.DSAR["EMAIL_BACKOFF_SECONDS"] * 2 ** (delivery.attempts - 1),
            settings.DSAR["EMAIL_BACKOFF_MAX_SECONDS"],
        )
        wait = random.uniform(backoff * 0.75, backoff)  # noqa: S311  # nosec B311  # jitter
        not_before = now + dt.timedelta(seconds=wait)
    logger.warning(
        "email delivery %s (%s) failed, attempt %s: %s",
        delivery.pk,
        delivery.kind,
        delivery.attempts,
        message,
    )
    with transaction.atomic():
        case = _lock_case(delivery)
        fields: dict[str, Any] = {
            "state": state,
            "last_error": message,
            "lease_until": None,
            "not_before": not_before,
            "queued_at": None,
        }
        if state == DeliveryState.FAILED_PERMANENT:
            fields["sealed"] = b""
        EmailDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if case is not None:
            append_event(
                case,
                actor=SYSTEM,
                action="email_failed",
                data={
                    "kind": delivery.kind,
                    "delivery": delivery.pk,
                    "attempt": delivery.attempts,
                    "permanent": state == DeliveryState.FAILED_PERMANENT,
                    "error": message,
                },
            )
        if not_before is not None:
            wait = (not_before - now).total_seconds()
            if wait <= settings.DSAR["MAX_COUNTDOWN_SECONDS"]:
                queue.email_soon(delivery.pk, countdown=wait)
    return state


def record_provider_event(*, message_id: str, event_type: str, description: str = "") -> bool:
    """A provider's webhook reported on a message we sent (anymail's tracking signal):
    bounces, rejections and complaints make the delivery fail for staff to see."""
    delivery = EmailDelivery.objects.filter(provider_message_id=message_id).first()
    if delivery is None or not message_id:
        return False
    failed = event_type in ("bounced", "rejected", "failed", "complained")
    with transaction.atomic():
        case = _lock_case(delivery)
        fields: dict[str, Any] = {"provider_status": event_type[:40]}
        if failed:
            fields.update(
                state=DeliveryState.FAILED_PERMANENT,
                last_error=f"The email provider reported: {event_type}"
                + (f" ({description[:200]})" if description else ""),
                acknowledged_at=None,
            )
        EmailDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if case is not None:
            append_event(
                case,
                actor=SYSTEM,
                action="email_failed" if failed else "email_tracked",
                data={"kind": delivery.kind, "delivery": delivery.pk, "event": event_type},
            )
    return True
