"""The email provider's signed webhooks: its reports on the messages we sent (bounces,
rejections, complaints, deliveries) reach ``dsar.outbox.record_provider_event``.

anymail checks each request's signature and turns the provider's payload into its ``tracking``
signal; the receiver here is the only one, and it only hands the report to the outbox. The
route answers 404 until its signing key is set, so no unsigned report is ever read.
"""

from __future__ import annotations

from typing import Any

from anymail.signals import AnymailTrackingEvent, tracking
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .outbox import record_provider_event

_mailgun_view = MailgunTrackingWebhookView.as_view()


@csrf_exempt
def mailgun_tracking(request: HttpRequest) -> HttpResponse:
    """Mailgun's tracking webhook (signed with MAILGUN_WEBHOOK_SIGNING_KEY); a request whose
    signature does not match is refused with 400 by anymail."""
    if not settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
        raise Http404("the Mailgun webhook is not configured")
    response: HttpResponse = _mailgun_view(request)
    return response


def on_tracking(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    record_provider_event(
        message_id=str(event.message_id or ""),
        event_type=str(event.event_type or ""),
        description=str(event.mta_response or event.description or ""),
    )


def connect() -> None:
    tracking.connect(on_tracking, dispatch_uid="dsar.webhooks.on_tracking")
