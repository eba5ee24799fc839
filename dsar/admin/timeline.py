"""A case's audit trail as sentences a member of staff reads, one per event.

Events hold codes and numbers, never the person's details; the sentences name systems and
colleagues, and fall back to the event's own name for an action they do not know.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.dateparse import parse_date
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..events import SUBJECT, SYSTEM
from ..models import ArtifactKind, CaseType, RejectionReason

ACTION_NAMES: Mapping[str, Any] = {
    "export": gettext_lazy("export"),
    "erase": gettext_lazy("erasure"),
    "restrict": gettext_lazy("restriction"),
    "rectify": gettext_lazy("correction"),
    "object": gettext_lazy("objection"),
}


@dataclass(frozen=True)
class Names:
    """What the sentences need beyond the event: systems by key and colleagues by id."""

    systems: Mapping[str, str]
    users: Mapping[int, str]

    def system(self, key: object) -> str:
        return self.systems.get(str(key), str(key))


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    when: dt.datetime
    actor: str
    sentence: str


def actor_name(actor: str) -> str:
    if actor == SUBJECT:
        return _("The person")
    if actor == SYSTEM:
        return _("DSAR Desk")
    kind, _sep, name = actor.partition(":")
    if kind == "staff":
        return name
    if kind == "api":
        return _("API key %(name)s") % {"name": name}
    return actor


def _date(value: object) -> str:
    parsed = parse_date(str(value)) if value else None
    return date_format(parsed, "DATE_FORMAT") if parsed else str(value or "")


def _action(data: Mapping[str, Any]) -> str:
    return str(ACTION_NAMES.get(str(data.get("action")), data.get("action", "")))


def _run_succeeded(data: Mapping[str, Any], names: Names) -> str:
    counts = data.get("counts") or {}
    found = sum(int(n) for n in counts.values())
    if counts:
        return ngettext(
            "%(system)s: %(action)s done, %(count)d record found.",
            "%(system)s: %(action)s done, %(count)d records found.",
            found,
        ) % {"system": names.system(data.get("system")), "action": _action(data), "count": found}
    return _("%(system)s: %(action)s done.") % {
        "system": names.system(data.get("system")),
        "action": _action(data),
    }


def _assigned(data: Mapping[str, Any], names: Names) -> str:
    assignee = data.get("assignee")
    if assignee is None:
        return _("Returned the case to the queue.")
    return _("Assigned the case to %(name)s.") % {"name": names.users.get(int(assignee), "?")}


def _submitted(data: Mapping[str, Any], names: Names) -> str:
    if data.get("type") not in CaseType.values:
        return _("Sent the request.")
    kind = CaseType(data["type"]).label
    due = _date(data.get("due_date"))
    if data.get("channel"):
        channel = CHANNEL_NAMES.get(str(data["channel"]), data["channel"])
        return _("Recorded a request (%(type)s) received by %(channel)s; due %(due)s.") % {
            "type": kind,
            "channel": channel,
            "due": due,
        }
    return _("Sent the request (%(type)s); due %(due)s.") % {"type": kind, "due": due}


CHANNEL_NAMES: Mapping[str, Any] = {
    "email": gettext_lazy("email"),
    "letter": gettext_lazy("letter"),
    "phone": gettext_lazy("telephone"),
    "in_person": gettext_lazy("in person"),
}

EMAIL_KINDS: Mapping[str, Any] = {
    "verification": gettext_lazy("Link to confirm the request"),
    "confirmed": gettext_lazy("Confirmation of the request"),
    "completed": gettext_lazy("The answer (download link)"),
    "download_code": gettext_lazy("Code to open the download"),
    "staff_alert": gettext_lazy("Alert to staff"),
    "manual_task": gettext_lazy("Manual task to the team"),
    "recipient_notice": gettext_lazy("Notice to a recipient (Art. 19)"),
    "reminder": gettext_lazy("Deadline reminder to staff"),
}


def _email(data: Mapping[str, Any]) -> str:
    return str(EMAIL_KINDS.get(str(data["kind"]), data["kind"]))


def _email_failed(data: Mapping[str, Any], names: Names) -> str:
    if data.get("event"):
        return _("The email provider reported that an email (%(kind)s) failed: %(event)s.") % {
            "kind": _email(data),
            "event": data["event"],
        }
    if data.get("permanent"):
        return _("Could not send an email (%(kind)s), and will not retry: %(error)s") % {
            "kind": _email(data),
            "error": data.get("error", ""),
        }
    return _("Could not send an email (%(kind)s) yet, will retry: %(error)s") % {
        "kind": _email(data),
        "error": data.get("error", ""),
    }


Sentence = Callable[[Mapping[str, Any], Names], str]

SENTENCES: Mapping[str, Sentence] = {
    "email_sent": lambda d, n: _("Sent an email (%(kind)s).") % {"kind": _email(d)},
    "email_failed": _email_failed,
    "email_resent": lambda d, n: _("Sent an email (%(kind)s) again.") % {"kind": _email(d)},
    "email_failure_acknowledged": lambda d, n: (
        _("Dealt with an undelivered email (%(kind)s) another way.") % {"kind": _email(d)}
    ),
    "submitted": _submitted,
    "verification_resent": lambda d, n: _("Asked for a new confirmation email."),
    "verified": lambda d, n: _("Confirmed the email address with the link."),
    "identity_checked": lambda d, n: _("Checked the person's identity."),
    "identity_asserted": lambda d, n: _("Vouched for the person's identity."),
    "review_required": lambda d, n: _("Put the case up for review."),
    "processing_started": lambda d, n: (
        ngettext(
            "Started work in %(count)d system: %(systems)s.",
            "Started work in %(count)d systems: %(systems)s.",
            len(d.get("systems") or []),
        )
        % {
            "count": len(d.get("systems") or []),
            "systems": ", ".join(n.system(key) for key in d.get("systems") or []),
        }
        + (
            " "
            + _("Not concerned by the objection: %(systems)s.")
            % {"systems": ", ".join(n.system(key) for key in d["not_concerned"])}
            if d.get("not_concerned")
            else ""
        )
    ),
    "run_succeeded": _run_succeeded,
    "run_failed": lambda d, n: (
        _("%(system)s: %(action)s failed: %(error)s")
        % {
            "system": n.system(d.get("system")),
            "action": _action(d),
            "error": d.get("error", ""),
        }
    ),
    "run_waiting_manual": lambda d, n: (
        _("%(system)s: %(action)s is a manual task.")
        % {"system": n.system(d.get("system")), "action": _action(d)}
    ),
    "run_retried": lambda d, n: _("Started %(system)s again.") % {"system": n.system(d["system"])},
    "manual_task_completed": lambda d, n: (
        _("Completed the manual task in %(system)s.") % {"system": n.system(d.get("system"))}
    ),
    "waiting_for_manual_work": lambda d, n: _("Waits for the manual tasks."),
    "approved": lambda d, n: _("Approved the request."),
    "objection_decided": lambda d, n: (
        _("Upheld the objection.") if d.get("upheld") else _("Did not uphold the objection.")
    ),
    "information_requested": lambda d, n: _("Asked the person for more information."),
    "information_provided": lambda d, n: (
        ngettext(
            "Answered the question; the deadline waited %(days)d day, to %(due)s.",
            "Answered the question; the deadline waited %(days)d days, to %(due)s.",
            int(d["paused_days"]),
        )
        % {"days": int(d["paused_days"]), "due": _date(d.get("to"))}
        if d.get("paused_days")
        else _("Answered the question.")
    ),
    "marketing_objection_on_record": lambda d, n: (
        _("The person objected to direct marketing on %(date)s (%(reference)s): on the list.")
        % {"date": _date(d.get("since")), "reference": d.get("reference", "")}
    ),
    "marketing_resubscription_undone": lambda d, n: (
        _("%(system)s: ended a new marketing subscription someone else made (%(lists)s).")
        % {"system": n.system(d.get("system")), "lists": _subscriptions(d)}
    ),
    "marketing_consent_found": lambda d, n: (
        _("%(system)s: the person subscribed to marketing again themselves (%(lists)s).")
        % {"system": n.system(d.get("system")), "lists": _subscriptions(d)}
    ),
    "marketing_consent_decided": lambda d, n: (
        _("Confirmed the person's new marketing consent: the objection ends.")
        if d.get("confirmed")
        else _("Did not confirm the new marketing opt-in: it will be ended.")
    ),
    "rejected": lambda d, n: (
        _("Rejected the request: %(reason)s.") % {"reason": RejectionReason(d["reason"]).label}
        if d.get("reason") in RejectionReason.values
        else _("Rejected the request.")
    ),
    "cancelled": lambda d, n: _("Cancelled the request."),
    "expired": lambda d, n: _("Closed the case: the email address was never confirmed."),
    "completed": lambda d, n: _("Completed the case."),
    "assigned": _assigned,
    "deadline_extended": lambda d, n: (
        ngettext(
            "Extended the deadline by %(months)d month, to %(due)s.",
            "Extended the deadline by %(months)d months, to %(due)s.",
            int(d.get("months") or 0),
        )
        % {"months": int(d.get("months") or 0), "due": _date(d.get("to"))}
    ),
    "reminder_sent": lambda d, n: _("Sent a deadline reminder."),
    "deliverables_built": lambda d, n: _("Built the files for the person."),
    "downloaded": lambda d, n: _("Downloaded %(file)s.") % {"file": _file(d)},
    "downloaded_by_staff": lambda d, n: _("Downloaded %(file)s.") % {"file": _file(d)},
    "recipients_notified": lambda d, n: (
        ngettext(
            "Told %(count)d recipient of the data from %(system)s (Art. 19).",
            "Told %(count)d recipients of the data from %(system)s (Art. 19).",
            int(d.get("recipients") or 0),
        )
        % {"count": int(d.get("recipients") or 0), "system": n.system(d.get("system"))}
    ),
    "restriction_lift_announced": lambda d, n: (
        _("Told the person that the restriction ends on %(date)s.")
        % {"date": _date(d.get("lift_on"))}
    ),
    "callback_sent": lambda d, n: _("Reported the status to the requesting system."),
    "callback_failed": lambda d, n: _("Could not report the status to the requesting system."),
    "personal_details_purged": lambda d, n: _("Deleted the person's details (retention ended)."),
    "third_party_review_required": lambda d, n: (
        ngettext(
            "Held the answer: %(count)d record may hold other people's data (%(where)s).",
            "Held the answer: %(count)d records may hold other people's data (%(where)s).",
            _held_total(d),
        )
        % {"count": _held_total(d), "where": _held_where(d, n)}
    ),
    "record_redacted": lambda d, n: (
        (
            _("Withheld a record of %(category)s in %(system)s (other people's data).")
            if d.get("withheld")
            else ngettext(
                "Redacted %(fields)d field of a record of %(category)s in %(system)s.",
                "Redacted %(fields)d fields of a record of %(category)s in %(system)s.",
                int(d.get("fields") or 0),
            )
        )
        % {
            "category": d.get("category", ""),
            "system": n.system(d.get("system")),
            "fields": int(d.get("fields") or 0),
        }
    ),
    "redaction_removed": lambda d, n: (
        _("Took back the redaction of a record of %(category)s in %(system)s.")
        % {"category": d.get("category", ""), "system": n.system(d.get("system"))}
    ),
    "answer_released": lambda d, n: (
        _(
            "Released the answer after the review of other people's data (records left out: "
            "%(withheld)d, redacted: %(redacted)d)."
        )
        % {"withheld": int(d.get("withheld") or 0), "redacted": int(d.get("redacted") or 0)}
    ),
    "files_deleted": lambda d, n: _files_deleted(d),
}


def _held_total(data: Mapping[str, Any]) -> int:
    return sum(
        int(count) for counts in (data.get("records") or {}).values() for count in counts.values()
    )


def _held_where(data: Mapping[str, Any], names: Names) -> str:
    return "; ".join(
        f"{names.system(key)}: "
        + ", ".join(f"{category} {count}" for category, count in sorted(counts.items()))
        for key, counts in sorted((data.get("records") or {}).items())
    )


FILE_KINDS: Mapping[str, Any] = {
    "raw_exports": gettext_lazy("raw exports"),
    "manual_attachments": gettext_lazy("files attached to manual tasks"),
    "intake_attachments": gettext_lazy("scans of the request"),
    "artifacts": gettext_lazy("files built for the person"),
    "manual_records": gettext_lazy("records found by hand"),
    "redactions": gettext_lazy("redacted records"),
}
FILE_DELETION_REASONS: Mapping[str, Any] = {
    "case_closed": gettext_lazy("the case closed without an answer"),
    "download_expired": gettext_lazy("the download period ended"),
    "purge": gettext_lazy("the retention period ended"),
}


def _files_deleted(data: Mapping[str, Any]) -> str:
    what = ", ".join(
        f"{int(data[kind])} {label}" for kind, label in FILE_KINDS.items() if data.get(kind)
    )
    why = FILE_DELETION_REASONS.get(str(data.get("reason")), data.get("reason", ""))
    return _("Deleted the case's files (%(why)s): %(what)s.") % {"why": why, "what": what}


def _subscriptions(data: Mapping[str, Any]) -> str:
    return ", ".join(str(item.get("name", "")) for item in data.get("subscriptions") or [])


def _file(data: Mapping[str, Any]) -> str:
    kind = str(data.get("kind", ""))
    return str(ArtifactKind(kind).label) if kind in ArtifactKind.values else kind


def sentence(action: str, data: Mapping[str, Any], names: Names) -> str:
    """The event as a sentence; an unknown action reads as its own name."""
    describe = SENTENCES.get(action)
    if describe is None:
        return action.replace("_", " ").capitalize() + "."
    try:
        return describe(data, names)
    except (KeyError, ValueError, TypeError):
        # An event written by an older version may lack a field: say what it was at least.
        return action.replace("_", " ").capitalize() + "."
