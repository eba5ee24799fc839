"""factory_boy factories for the domain models."""

from __future__ import annotations

import factory
from django.utils import timezone

from dsar.closings import count_closing
from dsar.deadlines import due_date_for
from dsar.models import Case, CaseStatus, CaseType, DataSystem, SystemRun


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case
        skip_postgeneration_save = True

    reference = factory.Sequence(lambda n: f"DSAR-2026-{900000 + n:06d}")
    type = CaseType.ACCESS
    status = CaseStatus.AWAITING_VERIFICATION
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = "Pat Example"
    language = "en"
    received_at = factory.LazyFunction(timezone.now)
    due_date = factory.LazyAttribute(lambda case: due_date_for(case.received_at))

    @factory.post_generation
    def counted(case: Case, create: bool, extracted: object, **kwargs: object) -> None:
        """A case made completed is counted for the dashboard, as completing one counts it."""
        if create and case.status == CaseStatus.COMPLETED and case.closed_at is not None:
            count_closing(case)


class DataSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataSystem
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"system-{n}")
    name = factory.Sequence(lambda n: f"System {n}")
    connector = "manual"
    config = factory.LazyFunction(lambda: {"team": "Privacy team"})


class SystemRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SystemRun

    case = factory.SubFactory(CaseFactory, status=CaseStatus.IN_PROGRESS)
    system = factory.SubFactory(DataSystemFactory)
    action = "export"


FOUND_KIND = {
    "export": "exported",
    "erase": "erased",
    "restrict": "restricted",
    "rectify": "corrected",
    "object": "unsubscribed",
}


def outcome_of(action: str, *, found: bool, kind: str = "", **data: object) -> dict[str, object]:
    """The ``outcome`` and ``outcome_data`` fields of a run that ended so."""
    kind = kind or (FOUND_KIND[action] if found else "not_held")
    return {"outcome": kind, "outcome_data": {"action": action, "kind": kind, **data}}
