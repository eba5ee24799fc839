"""What each right yields beyond the systems' raw data: the Art. 15 information drawn from the
register, the portable subset of an export, and the retention that overrides an erasure."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import (
    Case,
    Controller,
    DataSystem,
    LegalBasis,
    ProcessingActivity,
    RunStatus,
    SystemRun,
)

RIGHTS = [
    "Rectification of inaccurate data (Art. 16 GDPR)",
    "Erasure (Art. 17 GDPR)",
    "Restriction of processing (Art. 18 GDPR)",
    "Data portability (Art. 20 GDPR)",
    "Objection to processing, and at any time to direct marketing (Art. 21 GDPR)",
    "Withdrawal of consent at any time, without affecting earlier processing (Art. 7(3) GDPR)",
]

PORTABLE_BASES = (LegalBasis.CONSENT, LegalBasis.CONTRACT)


@dataclass(frozen=True)
class Retained:
    """Data kept, restricted, under a statutory obligation instead of being erased."""

    activity: str
    obligation: str
    until: dt.date

    def as_json(self) -> dict[str, str]:
        return {"activity": self.activity, "obligation": self.obligation, "until": str(self.until)}


def retention_obligations(system: DataSystem, *, on: dt.date) -> list[Retained]:
    """The statutory obligations and legal holds that forbid erasing this system's data on
    ``on``."""
    kept = []
    if system.legal_hold_until and system.legal_hold_until > on:
        kept.append(
            Retained(
                "Legal hold",
                system.legal_hold_reason or "Legal claims (Art. 17(3)(e) GDPR)",
                system.legal_hold_until,
            )
        )
    for activity in system.activities.exclude(retention_obligation=""):
        until = activity.obligation_ends(on)
        if until is not None and until > on:
            kept.append(Retained(activity.name, activity.retention_obligation, until))
    return kept


def _holds_data(run: SystemRun) -> bool:
    if run.status != RunStatus.SUCCEEDED:
        return False
    manual_task = getattr(run, "manual_task", None)
    if manual_task is not None:
        return bool(manual_task.data_found)
    return run.found


def art15_information(activity: ProcessingActivity) -> dict[str, str]:
    return {
        "activity": activity.name,
        "purposes": activity.purposes,
        "legal_basis": f"{activity.get_legal_basis_display()}. {activity.legal_basis_detail}",
        "categories_of_data": activity.data_categories,
        "recipients": activity.recipients,
        "third_country_transfers": activity.third_country_transfers,
        "transfer_safeguards": activity.transfer_safeguards,
        "retention": activity.retention,
        "source": activity.source,
        "automated_decision_making": activity.automated_decision_making,
    }


def access_information(case: Case) -> dict[str, Any]:
    """The answer to Art. 15: which systems hold data on the person, and for every activity
    those systems serve, its purposes, categories, recipients, retention, source, transfers
    and safeguards; with the person's rights and where to complain."""
    runs = list(
        case.runs.select_related("system", "manual_task").prefetch_related("system__activities")
    )
    holding = [run for run in runs if _holds_data(run)]
    activities = {
        activity.pk: activity for run in holding for activity in run.system.activities.all()
    }
    controller = Controller.current()
    return {
        "reference": case.reference,
        "controller": {
            "name": controller.name,
            "address": controller.address,
            "contact": controller.contact_email,
            "data_protection_officer": f"{controller.dpo_name}, {controller.dpo_contact}",
        }
        if controller
        else {"name": settings.DSAR["CONTROLLER_NAME"]},
        "systems": [
            {
                "system": run.system.name,
                "holds_data": _holds_data(run),
                "records": run.counts,
                "activities": sorted(a.name for a in run.system.activities.all()),
            }
            for run in runs
        ],
        "processing_activities": [
            art15_information(activity)
            for activity in sorted(activities.values(), key=lambda a: a.name)
        ],
        "rights": RIGHTS,
        "complaint": {
            "right": "You may complain to a supervisory authority (Art. 77 GDPR).",
            "supervisory_authority": controller.supervisory_authority if controller else "",
        },
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
