"""Every refusal leaves a trace: an event on the case where there is one, and a line in the
security log where there is none. Neither ever holds a token, a code or personal details."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from .events import append_event
from .models import Case

security_log = logging.getLogger("dsar.security")


def record_refusal(
    *,
    action: str,
    reason: str,
    case_id: int | None,
    actor: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Record that ``action`` was refused for ``reason``: on the case, else in the log."""
    details = {"reason": reason, **(data or {})}
    if case_id is None:
        fields = " ".join(f"{key}={value}" for key, value in sorted(details.items()))
        security_log.warning("refused %s: %s", action, fields)
        return
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        append_event(case, actor=actor, action=action, data=details)
