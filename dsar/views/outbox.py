"""The demo's outbox: every email the file backend wrote, readable in the browser (DEBUG only)."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

# Django's file backend separates the messages in one file with a line of 79 dashes.
_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def _messages() -> list[dict[str, str]]:
    folder = Path(settings.OUTBOX_DIR)
    found: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        for raw in reversed(path.read_bytes().split(_SEPARATOR)):
            if not raw.strip():
                continue
            message = email.message_from_bytes(raw.strip(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)  # nosec B101  # narrows the type; DEBUG only
            body = message.get_body(preferencelist=("plain",))
            found.append(
                {
                    "to": str(message["To"]),
                    "subject": str(message["Subject"]),
                    "date": str(message["Date"]),
                    "body": body.get_content() if body else "",
                }
            )
    return found


def outbox(request: HttpRequest) -> HttpResponse:
    if not settings.DEBUG:
        raise Http404
    return render(request, "dsar/outbox.html", {"messages_sent": _messages()})
