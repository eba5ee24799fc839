"""OpenDSR status callbacks: our statuses in OpenDSR's terms, the status document, the checks a
callback URL must pass, and the tasks that POST the document to each of a case's URLs.

One job per URL and status (``dsar.jobs``), so that a receiver that is down is retried on its own
and the others are not sent the same status again. Events record the URL's index, never the URL
(it may name a person).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from connectors.netguard import (
    AddressRefused,
    GuardedTransport,
    NetworkPolicy,
    Resolver,
    system_resolver,
)

from .emails import absolute
from .events import SYSTEM, record_event
from .models import Case, CaseStatus
from .tokens import status_key

API_VERSION = "2.0"

S = CaseStatus
OPENDSR_STATUSES: dict[str, str] = {
    S.AWAITING_VERIFICATION: "pending",
    S.VERIFIED: "pending",
    S.IN_REVIEW: "pending",
    S.AWAITING_INFORMATION: "pending",
    S.IN_PROGRESS: "in_progress",
    S.AWAITING_MANUAL: "in_progress",
    S.THIRD_PARTY_REVIEW: "in_progress",
    S.COMPLETED: "completed",
    S.CANCELLED: "cancelled",
    S.REJECTED: "cancelled",
    S.EXPIRED: "cancelled",
}

_TIMEOUT_SECONDS = 10


def opendsr_status(case: Case) -> str:
    """The case's status as OpenDSR names it: pending, in_progress, completed or cancelled."""
    return OPENDSR_STATUSES[case.status]


def expected_completion_time(case: Case) -> str:
    """The end of the due date in the controller's time zone, as RFC 3339."""
    end = dt.datetime.combine(case.due_date, dt.time(23, 59, 59))
    return timezone.make_aware(end, timezone.get_default_timezone()).isoformat()


def status_payload(case: Case, *, status: str | None = None) -> dict[str, Any]:
    """What OpenDSR reports about a request, in answers and in callbacks.

    ``status`` is one of our statuses (a callback reports the one the case moved to); by
    default the case's current status.
    """
    request_status = OPENDSR_STATUSES[status or case.status]
    results_url = None
    if request_status == "completed":
        results_url = absolute(reverse("dsar:status", args=[status_key(case)]))
    return {
        "controller_id": settings.DSAR["CONTROLLER_ID"],
        "api_version": API_VERSION,
        "subject_request_id": str(case.external_id) if case.external_id else None,
        "request_status": request_status,
        "expected_completion_time": expected_completion_time(case),
        "results_url": results_url,
        "results_count": case.artifacts.count(),
    }


def _policy(resolver: Resolver | None) -> NetworkPolicy:
    # Only tests and local set-ups let callbacks reach private or loopback addresses.
    return NetworkPolicy(
        allow_private=settings.DSAR["CALLBACK_ALLOW_PRIVATE"], resolver=resolver or system_resolver
    )


def validate_callback_url(url: str, *, resolver: Resolver | None = None) -> str:
    """Return ``url`` if status callbacks may be sent to it; raise ValueError saying why not.

    Its host must resolve to public addresses only, so that a client cannot make us POST into
    our own network (unless DSAR["CALLBACK_ALLOW_PRIVATE"], for tests and local set-ups). This
    is the early, friendly check; ``post_callback`` checks the address again as it connects.
    """
    allow_private: bool = settings.DSAR["CALLBACK_ALLOW_PRIVATE"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"This is not a valid URL: {error}.") from error
    if parts.scheme not in ("http", "https"):
        raise ValueError("A callback URL must start with https://.")
    if parts.scheme != "https" and not (settings.DEBUG or allow_private):
        raise ValueError("A callback URL must use https://; plain http:// is not accepted.")
    host = parts.hostname
    if not host:
        raise ValueError("A callback URL must name a host.")
    try:
        _policy(resolver).check(host, port or (443 if parts.scheme == "https" else 80))
    except AddressRefused as error:
        raise ValueError(
            f"The host {host!r} of the callback URL resolves to a {error.kind}, non-public "
            "address; give a publicly reachable URL."
        ) from error
    except httpx.ConnectError as error:
        raise ValueError(f"The host {host!r} of the callback URL cannot be resolved.") from error
    return url


class CallbackFailed(Exception):
    """The receiver answered 5xx or 429: it may take the callback later."""

    def __init__(self, http_status: int) -> None:
        super().__init__(f"the callback receiver answered HTTP {http_status}")
        self.http_status = http_status


def post_callback(url: str, payload: dict[str, Any], *, resolver: Resolver | None = None) -> int:
    """POST one status document; return the HTTP status, or raise CallbackFailed (worth a
    retry), httpx.TransportError (the receiver could not be reached) or AddressRefused (its
    name now points at an address callbacks may not reach). Redirects are not followed."""
    transport = GuardedTransport(_policy(resolver), budget_s=_TIMEOUT_SECONDS)
    with httpx.Client(transport=transport, timeout=_TIMEOUT_SECONDS) as client:
        response = client.post(
            url,
            json=payload,
            follow_redirects=False,
            headers={"User-Agent": "DSAR-Desk-OpenDSR-callbacks/1.0"},
        )
    if response.status_code >= 500 or response.status_code == 429:
        raise CallbackFailed(response.status_code)
    return response.status_code


SENT = "sent"
FAILED = "failed"
RETRY = "retry"


def deliver_status_callback(case_id: int, *, url_index: int, status: str) -> str:
    """POST the status document to one of the case's callback URLs and record the answer.

    Returns SENT, FAILED (refused for good, recorded) or RETRY (the receiver is down or busy;
    the caller tries again later and records the failure when it gives up)."""
    case = Case.objects.get(pk=case_id)
    data: dict[str, Any] = {"url_index": url_index, "status": status}
    try:
        # Again at sending: the host's addresses may have changed since the URL was accepted.
        url = validate_callback_url(case.callback_urls[url_index])
    except (ValueError, IndexError):
        record_event(
            case_id, actor=SYSTEM, action="callback_failed", data={**data, "error": "url_refused"}
        )
        return FAILED
    try:
        http_status = post_callback(url, status_payload(case, status=status))
    except AddressRefused:
        record_event(
            case_id,
            actor=SYSTEM,
            action="callback_failed",
            data={**data, "error": "address_refused"},
        )
        return FAILED
    except (httpx.TransportError, CallbackFailed):
        return RETRY
    action = "callback_sent" if 200 <= http_status < 300 else "callback_failed"
    record_event(case_id, actor=SYSTEM, action=action, data={**data, "http_status": http_status})
    return SENT if action == "callback_sent" else FAILED
