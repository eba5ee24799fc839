"""factory_boy factories for the domain models."""

from __future__ import annotations

import factory
from django.utils import timezone

from dsar.deadlines import due_date_for
from dsar.models import Case, CaseStatus, CaseType, DataSystem, SystemRun


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    reference = factory.Sequence(lambda n: f"DSAR-2026-{900000 + n:06d}")
    type = CaseType.ACCESS
    status = CaseStatus.AWAITING_VERIFICATION
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = "Pat Example"
    language = "en"
    received_at = factory.LazyFunction(timezone.now)
    due_date = factory.LazyAttribute(lambda case: due_date_for(case.received_at))


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
