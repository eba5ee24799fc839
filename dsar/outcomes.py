"""The wording of outcomes: what each system did for the person, in one sentence, read from the
run's recorded outcome and nothing else.

Every document, email and status line that tells the person (or a recipient) what happened
draws its sentences from here, in the language active when it is called: the deletion
certificate, the access report, the confirmations, the completion email, the finished status
page and the Art. 19 notices. A sentence says exactly what the outcome records — erased,
anonymised (and what remains), kept under which legal duty until when, restricted,
unsubscribed, corrected, not held, not used for the purpose, refused with the reason, and what
was left out or redacted to protect other people (Art. 15(4)) — and never more. Staff's
internal notes never reach it; their note *to the person* does, labelled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.text import get_text_list
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from connectors.base import OutcomeKind

from .models import (
    Case,
    CaseType,
    DeliveryState,
    EmailDelivery,
    LegalBasis,
    ProcessingActivity,
    RectificationField,
    RetentionRule,
    RunStatus,
    SystemRun,
)
from .rights import LEGAL_CLAIMS, portable_systems


def _remains(code: str) -> str:
    labels = {
        "posts": _("your posts and topics, shown under an anonymous name"),
        "private_messages": _("your private messages, under an anonymous name"),
        "anonymous_profile": _("an account without your name, email address or profile"),
        "aggregate_statistics": _("statistics that no longer identify you"),
        "rows_without_identity": _("records from which everything identifying you was removed"),
    }
    return labels.get(code, code)


def _field_label(name: str) -> str:
    if name in RectificationField.values:
        return str(RectificationField(name).label)
    return name


@dataclass(frozen=True)
class Kept:
    """Records kept under a legal duty instead of being erased."""

    records: str
    obligation: str
    until: dt.date | None
    at_the_latest: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "obligation": self.obligation,
            "until": self.until.isoformat() if self.until else None,
            "at_the_latest": self.at_the_latest,
        }


@dataclass(frozen=True)
class Statement:
    """What one system did, for the person."""

    system: str
    kind: str
    label: str
    sentence: str
    more: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    note: str = ""
    finished: bool = True

    @property
    def fully_erased(self) -> bool:
        """Nothing about the person is left in this system (or it never held any)."""
        return self.kind in (OutcomeKind.ERASED, OutcomeKind.NOT_HELD)

    @property
    def text(self) -> str:
        return " ".join([self.sentence, *self.more])


def _kept(run: SystemRun, *, localize: bool = True) -> list[Kept]:
    """What the run keeps under a legal duty. ``localize``: the duty and the activity named in
    the active language from the register (a German reader gets "§ 147 Abs. 3 AO", not
    "Section 147(3) AO"); without it, the words recorded with the run, for checksums."""
    retained = run.retained
    rules: dict[str, RetentionRule] = {}
    activities: dict[str, ProcessingActivity] = {}
    if localize and retained:
        rules = {
            rule.key: rule
            for rule in RetentionRule.objects.filter(key__in=[i.get("rule") for i in retained])
        }
        activities = {
            activity.key: activity
            for activity in ProcessingActivity.objects.filter(
                key__in=[i.get("activity_key") for i in retained]
            )
        }
    items = []
    for item in retained:
        until = item.get("until")
        records = str(item.get("records") or "")
        obligation = str(item.get("obligation") or "")
        activity = str(item.get("activity") or "")
        if localize:
            obligation, activity = _localized_duty(item, obligation, activity, rules, activities)
        if activity and activity not in obligation:
            obligation = f"{obligation} ({activity})" if obligation else activity
        items.append(
            Kept(
                records=records,
                obligation=obligation,
                until=dt.date.fromisoformat(until) if until else None,
                # Kept by a system's rule (no record date known): the period ends by then at
                # the latest; kept by staff for records of a given year: exactly then.
                at_the_latest="record_year" not in item,
            )
        )
    return items


def _localized_duty(
    item: dict[str, Any],
    obligation: str,
    activity: str,
    rules: dict[str, RetentionRule],
    activities: dict[str, ProcessingActivity],
) -> tuple[str, str]:
    """The legal duty and the activity of one kept item in the active language, where the
    register knows them; otherwise as recorded."""
    language = get_language() or "en"
    if item.get("hold"):
        reason = obligation
        if reason == LEGAL_CLAIMS:
            reason = _("Legal claims (Art. 17(3)(e) GDPR)")
        return reason, _("Legal hold")
    rule = rules.get(str(item.get("rule") or ""))
    if rule is not None:
        citation = rule.localized("citation", language)
        # A system's rule names the kind of record; staff's kept records name them already.
        obligation = f"{citation}: {rule.localized('name', language)}" if activity else citation
    known = activities.get(str(item.get("activity_key") or ""))
    if known is not None:
        activity = known.localized("name", language)
    return obligation, activity


def _listing(items: list[str]) -> str:
    """A list in a sentence; items that hold commas themselves are set apart by semicolons."""
    if any("," in item for item in items):
        return "; ".join(items)
    return get_text_list(items, _("and"))


def _sentence(run: SystemRun, portable: set[str] | None = None) -> tuple[str, list[str]]:
    """``portable``: for a portability answer, the categories of this system that go into the
    export (the data the person gave us under consent or a contract); None for other answers."""
    data = run.outcome_data
    kind = run.outcome
    more: list[str] = []
    if kind == OutcomeKind.EXPORTED:
        review = data.get("third_party") or {}
        withheld = int(review.get("withheld") or 0)
        edited = int(review.get("redacted") or 0)
        total = sum(run.counts.values()) - withheld
        categories = [str(c) for c in data.get("categories") or []]
        if categories and total:
            more.append(_("We found: %(list)s.") % {"list": get_text_list(categories, _("and"))})
        # Art. 15(4): the person learns that, and how much, was kept back for others' sake.
        if edited:
            more.append(
                ngettext(
                    "In %(count)d record we removed other people's data (Art. 15(4) GDPR).",
                    "In %(count)d records we removed other people's data (Art. 15(4) GDPR).",
                    edited,
                )
                % {"count": edited}
            )
        if withheld:
            more.append(
                ngettext(
                    "We left out %(count)d record to protect other people's data "
                    "(Art. 15(4) GDPR).",
                    "We left out %(count)d records to protect other people's data "
                    "(Art. 15(4) GDPR).",
                    withheld,
                )
                % {"count": withheld}
            )
        if total and portable is not None:
            included = min(
                total, sum(n for category, n in run.counts.items() if category in portable)
            )
            if included == 0:
                return (
                    ngettext(
                        "We found %(count)d record about you here; it is not data you gave us "
                        "under your consent or a contract, so it is not part of a portable "
                        "export.",
                        "We found %(count)d records about you here; they are not data you gave "
                        "us under your consent or a contract, so they are not part of a "
                        "portable export.",
                        total,
                    )
                    % {"count": total},
                    more,
                )
            if included < total:
                return (
                    ngettext(
                        "We found %(count)d records about you; your export contains the "
                        "%(included)d you gave us under your consent or a contract.",
                        "We found %(count)d records about you; your export contains the "
                        "%(included)d you gave us under your consent or a contract.",
                        included,
                    )
                    % {"count": total, "included": included},
                    more,
                )
        if total:
            return (
                ngettext(
                    "We found %(count)d record about you; your export contains it.",
                    "We found %(count)d records about you; your export contains them.",
                    total,
                )
                % {"count": total},
                more,
            )
        if categories:
            # Found by hand and described, not copied: the export file has no record of it.
            return (
                _(
                    "We found data about you here: %(list)s. Our staff described it; the export "
                    "file holds no copy of it."
                )
                % {"list": get_text_list(categories, _("and"))},
                more,
            )
        return _("We found data about you here."), more
    if kind == OutcomeKind.NOT_HELD:
        return _("We hold no data about you here."), more
    if kind == OutcomeKind.ERASED:
        return _("Your data were erased."), more
    if kind == OutcomeKind.ANONYMISED:
        remains = [_remains(code) for code in data.get("remains") or []]
        if remains:
            more.append(_("What remains: %(list)s.") % {"list": _listing(remains)})
        return _("Your data were anonymised: what remains no longer identifies you."), more
    if kind == OutcomeKind.RETAINED:
        return (
            _(
                "Your data are kept, restricted, because the law obliges us to keep them; "
                "we erase them when the duty ends."
            ),
            more,
        )
    if kind == OutcomeKind.RESTRICTED:
        lists = [str(name) for name in data.get("unsubscribed_from") or []]
        if lists:
            more.append(
                _("You no longer receive marketing from here (%(lists)s).")
                % {"lists": get_text_list(lists, _("and"))}
            )
        return _(
            "The processing of your data was restricted: we keep them but no longer use them."
        ), more
    if kind == OutcomeKind.UNSUBSCRIBED:
        lists = [str(name) for name in data.get("unsubscribed_from") or []]
        if lists:
            return (
                _("You were unsubscribed from all marketing here (%(lists)s).")
                % {"lists": get_text_list(lists, _("and"))},
                more,
            )
        if data.get("changed"):
            return _("You were unsubscribed from all marketing here."), more
        return _("You were already unsubscribed from all marketing here."), more
    if kind == OutcomeKind.CORRECTED:
        fields = [_field_label(str(c.get("field", ""))) for c in data.get("corrections") or []]
        not_held = [_field_label(str(name)) for name in data.get("not_held_fields") or []]
        if not_held:
            more.append(
                _("This system does not hold: %(fields)s.")
                % {"fields": get_text_list(not_held, _("and"))}
            )
        if fields:
            return (
                _("Your data were corrected: %(fields)s.")
                % {"fields": get_text_list(fields, _("and"))},
                more,
            )
        if not_held and not data.get("changed"):
            requested = {str(name) for name in data.get("requested_fields") or []}
            if not requested or requested <= set(data.get("not_held_fields") or []):
                return (
                    _("This system holds none of the details you asked us to correct: %(f)s.")
                    % {"f": get_text_list(not_held, _("and"))},
                    [],
                )
        return _("Your data here were already correct."), more
    if kind == OutcomeKind.NOT_USED:
        not_objected = data.get("details", {}).get("not_objected")
        if not_objected:
            return _not_restricted(not_objected), more
        if data.get("details", {}).get("held"):
            return _("We hold data about you here, but do not use them for direct marketing."), more
        return _("This system is not used for direct marketing."), more
    if kind == OutcomeKind.REFUSED:
        reason = str(data.get("refusal") or "")
        if reason:
            return _("This could not be done here: %(reason)s") % {"reason": reason}, more
        return _("This could not be done here."), more
    return _("This system could not be completed."), more


def _not_restricted(activities: list[dict[str, str]]) -> str:
    """Why an upheld objection left a system alone: what it is used for, and on which legal
    basis — none of them the public task or legitimate interests the objection concerns."""
    language = get_language() or "en"
    names = dict(
        (activity.key, activity.localized("name", language))
        for activity in ProcessingActivity.objects.filter(
            key__in=[item.get("key") for item in activities]
        )
    )
    uses = [
        _("%(activity)s (%(basis)s)")
        % {
            "activity": names.get(str(item.get("key")), str(item.get("key"))),
            "basis": LegalBasis(item["legal_basis"]).label
            if item.get("legal_basis") in LegalBasis.values
            else str(item.get("legal_basis", "")),
        }
        for item in activities
    ]
    return _(
        "Not restricted: your objection does not concern the processing here, which serves "
        "%(uses)s."
    ) % {"uses": get_text_list(uses, _("and"))}


def statement(run: SystemRun, *, portable: set[str] | None = None) -> Statement:
    """One system's outcome for the person, in the active language (``portable``: see
    ``_sentence``)."""
    finished = run.status == RunStatus.SUCCEEDED and bool(run.outcome)
    if not finished:
        sentence = (
            _("This system could not be completed.")
            if run.status == RunStatus.FAILED
            else _("This system is not finished yet.")
        )
        return Statement(
            system=run.system.name,
            kind=run.outcome or "",
            label="",
            sentence=sentence,
            finished=False,
        )
    sentence, more = _sentence(run, portable)
    return Statement(
        system=run.system.name,
        kind=run.outcome,
        label=str(OutcomeKindLabel.get(run.outcome)),
        sentence=sentence,
        more=more,
        kept=_kept(run),
        note=str(run.outcome_data.get("note_to_person") or ""),
    )


def statements(case: Case) -> list[Statement]:
    runs = case.runs.select_related("system").order_by("system__name", "pk")
    if case.type != CaseType.PORTABILITY:
        return [statement(run) for run in runs]
    portable = {run.pk: set(run.system.portable_categories) for run in portable_systems(case)}
    return [statement(run, portable=portable.get(run.pk, set())) for run in runs]


def canonical(case: Case) -> list[dict[str, Any]]:
    """The facts of every system's outcome, independent of language (for checksums and for
    comparing a rebuilt document with the one sent)."""
    facts = []
    for run in case.runs.select_related("system").order_by("system__name", "pk"):
        data = run.outcome_data
        facts.append(
            {
                "system": run.system.name,
                "status": run.status,
                "kind": run.outcome,
                "remains": list(data.get("remains") or []),
                "kept": [kept.as_json() for kept in _kept(run, localize=False)],
                "corrected": sorted(str(c.get("field")) for c in data.get("corrections") or []),
                "unsubscribed_from": list(data.get("unsubscribed_from") or []),
                "refusal": str(data.get("refusal") or ""),
                "note_to_person": str(data.get("note_to_person") or ""),
            }
        )
    return facts


def answer_context(case: Case) -> dict[str, Any]:
    """What the completion email and the finished status page say, from the outcomes alone.
    ``nothing_held``: every system answered that it holds no data about the person, which is
    an answer of its own ("we hold no data about you"), not a refusal."""
    items = statements(case)
    return {
        "statements": items,
        # The export file holds records only where a system's run copied some; what staff
        # only described is in the report, not the file.
        "in_export": any(
            sum(run.counts.values())
            for run in case.runs.filter(status=RunStatus.SUCCEEDED).exclude(result_file="")
        ),
        "held": sum(1 for item in items if item.kind not in (OutcomeKind.NOT_HELD, "")),
        "all_erased": all(item.fully_erased for item in items),
        "nothing_held": bool(items) and all(item.kind == OutcomeKind.NOT_HELD for item in items),
    }


@dataclass(frozen=True)
class NotifiedRecipient:
    """A recipient told of the change in one system (Art. 19)."""

    name: str
    system: str


def notified_recipients(case: Case) -> list[NotifiedRecipient]:
    """Who was told of the case's correction, erasure or restriction (Art. 19): each notice
    recorded for the case, by recipient and the system whose data it receives."""
    notices = EmailDelivery.objects.filter(case=case, kind="recipient_notice").exclude(
        state=DeliveryState.CANCELLED
    )
    systems = dict(case.runs.values_list("pk", "system__name"))
    found = {
        NotifiedRecipient(
            name=str(notice.args.get("name") or notice.to_other),
            system=systems.get(notice.args.get("run"), ""),
        )
        for notice in notices
    }
    return sorted(found, key=lambda item: (item.system, item.name))


def finished_context(case: Case) -> dict[str, Any]:
    """The finished status page: the answer, and when the link to the files went out."""
    sent = (
        EmailDelivery.objects.filter(case=case, kind="completed", state=DeliveryState.SENT)
        .select_related("download_link")
        .order_by("-sent_at")
        .first()
    )
    return {
        **answer_context(case),
        "answer_sent": sent.sent_at if sent else None,
        "link_expires": sent.download_link.expires_at if sent and sent.download_link else None,
    }


class OutcomeKindLabel:
    """Short labels of the outcome kinds, for tables, in the active language."""

    @staticmethod
    def get(kind: str) -> str:
        labels: dict[str, str] = {
            OutcomeKind.EXPORTED: _("data found"),
            OutcomeKind.ERASED: _("erased"),
            OutcomeKind.ANONYMISED: _("anonymised"),
            OutcomeKind.RETAINED: _("kept under a legal duty, restricted"),
            OutcomeKind.RESTRICTED: _("restricted"),
            OutcomeKind.UNSUBSCRIBED: _("unsubscribed from marketing"),
            OutcomeKind.CORRECTED: _("corrected"),
            OutcomeKind.NOT_HELD: _("no data held"),
            OutcomeKind.NOT_USED: _("not used for the purpose objected to"),
            OutcomeKind.REFUSED: _("not possible"),
            OutcomeKind.FAILED: _("not completed"),
        }
        return labels.get(kind, kind)
