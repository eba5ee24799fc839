"""What each right yields beyond the systems' raw data: the Art. 15 information drawn from the
register (in the person's language), the portable subset of an export, and the retention that
overrides an erasure (the rules themselves: ``dsar.retention``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from .models import (
    Case,
    Controller,
    DataSystem,
    LegalBasis,
    ProcessingActivity,
    Recipient,
    RecipientRole,
    RetentionRule,
    RunStatus,
    SystemRun,
    TransferMechanism,
)

RIGHTS = [
    _("Access to your personal data and a copy of it (Art. 15 GDPR)"),
    _("Rectification of inaccurate data (Art. 16 GDPR)"),
    _("Erasure (Art. 17 GDPR)"),
    _("Restriction of processing (Art. 18 GDPR)"),
    _("Data portability (Art. 20 GDPR)"),
    _("Objection to processing, and at any time to direct marketing (Art. 21 GDPR)"),
    _("Withdrawal of consent at any time, without affecting earlier processing (Art. 7(3) GDPR)"),
]

# Where each part of an activity's entry answers Art. 15; the JSON carries this legend.
ARTICLES = {
    "purposes": "Art. 15(1)(a)",
    "legal_basis": "Art. 15(1)(a), Art. 13(1)(c)",
    "categories_of_data": "Art. 15(1)(b)",
    "recipients": "Art. 15(1)(c)",
    "third_country_transfers": "Art. 15(1)(c), 15(2)",
    "transfer_safeguards": "Art. 15(2)",
    "retention": "Art. 15(1)(d)",
    "rights": "Art. 15(1)(e)",
    "complaint": "Art. 15(1)(f)",
    "source": "Art. 15(1)(g)",
    "automated_decision_making": "Art. 15(1)(h)",
}

PORTABLE_BASES = (LegalBasis.CONSENT, LegalBasis.CONTRACT)

# A legal hold's duty when staff gave no reason (recorded in English; documents translate it).
LEGAL_CLAIMS = "Legal claims (Art. 17(3)(e) GDPR)"


@dataclass(frozen=True)
class Retained:
    """Data kept, restricted, under a statutory obligation instead of being erased. ``rule``,
    ``activity_key`` and ``hold`` let a document name the duty in the reader's language
    (``dsar.outcomes``); ``activity`` and ``obligation`` are the English record of it."""

    activity: str
    obligation: str
    until: dt.date
    rule: str = ""
    activity_key: str = ""
    hold: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "activity": self.activity,
            "obligation": self.obligation,
            "until": str(self.until),
        }
        if self.rule:
            data["rule"] = self.rule
        if self.activity_key:
            data["activity_key"] = self.activity_key
        if self.hold:
            data["hold"] = True
        return data


def retention_obligations(system: DataSystem, *, on: dt.date) -> list[Retained]:
    """The legal hold and the statutory rules that may forbid erasing this system's data on
    ``on``, each with the latest day its period can end for a record made on ``on``.

    The records' own dates are unknown here, so ``on`` stands in for them: the end of a record
    made earlier comes sooner (``dsar.retention.retention_end`` gives it once staff know the
    record's date).
    """
    kept = []
    if system.legal_hold_until and system.legal_hold_until > on:
        kept.append(
            Retained(
                "Legal hold",
                system.legal_hold_reason or LEGAL_CLAIMS,
                system.legal_hold_until,
                hold=True,
            )
        )
    activities = system.activities.prefetch_related("retention_rules").order_by("name")
    for activity in activities:
        for rule in activity.retention_rules.all():
            until = rule.ends_on(on)
            if until > on:
                kept.append(
                    Retained(
                        activity.name,
                        f"{rule.citation}: {rule.name}",
                        until,
                        rule=rule.key,
                        activity_key=activity.key,
                    )
                )
    return kept


def _holds_data(run: SystemRun) -> bool:
    if run.status != RunStatus.SUCCEEDED:
        return False
    manual_task = getattr(run, "manual_task", None)
    if manual_task is not None:
        return bool(manual_task.data_found)
    return run.found


def _contact(controller: Controller | None) -> str:
    return controller.contact_email if controller else str(settings.DSAR["CONTROLLER_CONTACT"])


def _recipient(recipient: Recipient, *, language: str, contact: str) -> dict[str, Any]:
    """A named recipient as a person reads it. Until the controller confirms what the vendor
    publishes about itself, its country and safeguard stay with staff."""
    entry: dict[str, Any] = {
        "name": recipient.name,
        "role": str(RecipientRole(recipient.role).label),
        "confirmed": recipient.confirmed_by_controller,
    }
    if not recipient.confirmed_by_controller:
        entry["details"] = str(
            _(
                "We are confirming where this recipient processes your data and on which "
                "safeguard; ask %(contact)s and we will tell you."
            )
            % {"contact": contact}
        )
        return entry
    entry["country"] = recipient.localized("country", language)
    entry["third_country"] = recipient.third_country
    if recipient.third_country:
        entry["transfer_mechanism"] = str(TransferMechanism(recipient.transfer_mechanism).label)
        entry["safeguard"] = recipient.localized("safeguard", language)
    return entry


def _transfer_line(entry: dict[str, Any]) -> str:
    if not entry["confirmed"]:
        return f"{entry['name']}: {entry['details']}"
    return f"{entry['name']} ({entry['country']})"


def _retention_rule(rule: RetentionRule, language: str) -> dict[str, Any]:
    return {
        "record": rule.localized("name", language),
        "years": rule.years,
        "counted_from": str(
            _("the end of the calendar year of the record")
            if rule.from_end_of_year
            else _("the date of the record")
        ),
        "statute": rule.localized("citation", language),
        "note": rule.localized("note", language),
    }


def art15_information(
    activity: ProcessingActivity, *, language: str, contact: str
) -> dict[str, Any]:
    """One activity's part of the Art. 15 answer, in ``language`` (call it under
    ``translation.override(language)`` for the fixed wording). Internal notes stay out."""
    text = partial(activity.localized, language=language)
    recipients = [
        _recipient(recipient, language=language, contact=contact)
        for recipient in activity.recipients.all()
    ]
    transfers = [text("third_country_transfers")]
    transfers += [
        _transfer_line(entry)
        for entry in recipients
        if entry.get("third_country") or not entry["confirmed"]
    ]
    safeguards = [text("transfer_safeguards")] if activity.transfer_safeguards else []
    safeguards += [
        f"{entry['name']}: {entry['safeguard']}"
        for entry in recipients
        if entry["confirmed"] and entry["third_country"]
    ]
    # Where the register is silent, the answer says so and whom to ask; it never fills the gap
    # with a likely answer ("you gave us the data", "no one outside our organisation").
    silent = str(
        _("Our register of processing activities records nothing on this; ask %(contact)s.")
        % {"contact": contact}
    )
    detail = text("legal_basis_detail")
    basis = str(LegalBasis(activity.legal_basis).label)
    return {
        "key": activity.key,
        "activity": text("name"),
        "purposes": text("purposes") or silent,
        "legal_basis": f"{basis}. {detail}" if detail else basis,
        "categories_of_data": text("data_categories") or silent,
        "recipients": recipients,
        "recipient_categories": text("recipient_categories") or ("" if recipients else silent),
        "third_country_transfers": "\n".join(line for line in transfers if line) or silent,
        # Only what is recorded: a transfer the register names without a safeguard is not
        # called one that "needs no safeguard" (the transfers line says whom to ask).
        "transfer_safeguards": "\n".join(safeguards),
        "retention": text("retention") or silent,
        "retention_rules": [
            _retention_rule(rule, language) for rule in activity.retention_rules.all()
        ],
        "source": text("source") or silent,
        "automated_decision_making": text("automated_decision_making") or silent,
    }


def access_information(case: Case) -> dict[str, Any]:
    """The answer to Art. 15, in the person's language: which systems hold data on the person,
    and for every activity those systems serve, points (a) to (h) of Art. 15(1) and the
    safeguards of Art. 15(2), with the person's rights and where to complain."""
    runs = list(
        case.runs.select_related("system", "manual_task").prefetch_related("system__activities")
    )
    holding = [run for run in runs if _holds_data(run)]
    activity_ids = {activity.pk for run in holding for activity in run.system.activities.all()}
    activities = ProcessingActivity.objects.filter(pk__in=activity_ids).prefetch_related(
        "recipients", "retention_rules"
    )
    controller = Controller.current()
    language = case.language
    contact = _contact(controller)
    with translation.override(language):
        entries = [
            art15_information(activity, language=language, contact=contact)
            for activity in activities
        ]
        return {
            "reference": case.reference,
            "language": language,
            "controller": {
                "name": controller.name,
                "address": controller.address,
                "contact": controller.contact_email,
                "data_protection_officer": f"{controller.dpo_name}, {controller.dpo_contact}",
            }
            if controller
            else {"name": settings.DSAR["CONTROLLER_NAME"], "contact": contact},
            "systems": [
                {
                    "system": run.system.name,
                    "holds_data": _holds_data(run),
                    "records": run.counts,
                    "activities": sorted(
                        activity.localized("name", language)
                        for activity in run.system.activities.all()
                    ),
                }
                for run in runs
            ],
            "processing_activities": sorted(entries, key=lambda entry: entry["activity"]),
            "rights": [str(right) for right in RIGHTS],
            "complaint": {
                "right": str(_("You may complain to a supervisory authority (Art. 77 GDPR).")),
                "supervisory_authority": controller.supervisory_authority if controller else "",
            },
            "articles": ARTICLES,
        }


def portable_systems(case: Case) -> list[SystemRun]:
    """Runs of systems that serve an activity based on consent or contract."""
    return list(
        case.runs.filter(
            Q(system__activities__legal_basis__in=PORTABLE_BASES), status=RunStatus.SUCCEEDED
        )
        .exclude(result_file="")
        .select_related("system")
        .distinct()
    )


def portable_records(case: Case) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(system key, category, record) for the data the person provided, read as a stream."""
    for run in portable_systems(case):
        categories = set(run.system.portable_categories)
        path = Path(settings.MEDIA_ROOT) / run.result_file
        with path.open(encoding="utf-8") as stream:
            for line in stream:
                item = json.loads(line)
                if item["category"] in categories:
                    yield run.system.key, item["category"], item["record"]


def request_day(case: Case) -> dt.date:
    return timezone.localdate(case.received_at)
