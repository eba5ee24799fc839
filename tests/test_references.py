"""Case references: unique under concurrent submissions, and no submission waits for another's
transaction (PostgreSQL numbers them from a sequence, not a locked counter row)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dsar import transitions
from dsar.events import new_event, verify_chain
from dsar.inserts import insert_new, transaction_unless_one_statement
from dsar.models import Case, EmailDelivery, Event
from dsar.suppression import suppress

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the sequence is PostgreSQL's"
)


def submit(n: int) -> str:
    try:
        case = transitions.submit_case(
            case_type="access", email=f"p{n}@example.com", name="P", language="en"
        )
        return case.reference
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_references_stay_unique_when_many_people_submit_at_once() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        references = list(pool.map(submit, range(80)))

    assert len(set(references)) == 80
    assert all(re.fullmatch(r"DSAR-\d{4}-\d{6,}", ref) for ref in references)
    assert set(Case.objects.values_list("reference", flat=True)) == set(references)


@pytest.mark.django_db(transaction=True)
def test_a_submission_does_not_wait_for_another_submission_still_in_its_transaction() -> None:
    first_saved = threading.Event()
    release = threading.Event()
    first: list[str] = []

    def slow_submission() -> None:
        try:
            with transaction.atomic():
                first.append(
                    transitions.submit_case(
                        case_type="access", email="slow@example.com", name="S", language="en"
                    ).reference
                )
                first_saved.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    slow = threading.Thread(target=slow_submission)
    slow.start()
    try:
        assert first_saved.wait(timeout=30)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # With a counter row locked by the first transaction, this would wait for it.
            second = pool.submit(submit, 2).result(timeout=10)
    finally:
        release.set()
        slow.join(timeout=30)

    assert second != first[0]
    assert Case.objects.filter(reference__in=[first[0], second]).count() == 2


@pytest.mark.django_db
def test_a_submission_learns_its_reference_and_any_marketing_objection_in_one_statement() -> None:
    suppress("objector@example.com", reference="DSAR-2026-000001")

    with CaptureQueriesContext(connection) as plain:
        nobody = transitions.submit_case(
            case_type="access", email="nobody@example.com", name="N", language="en"
        )
    with CaptureQueriesContext(connection) as objecting:
        objector = transitions.submit_case(
            case_type="access", email="Objector@Example.com", name="O", language="en"
        )

    # The case's id and reference with the objection check; then the case, its first event
    # and its email in one INSERT, which needs no BEGIN and COMMIT of its own.
    statements = statements_of(plain)
    assert len(statements) == 2
    assert "nextval" in statements[0] and "dsar_suppressionentry" in statements[0]
    assert all(table in statements[1] for table in ("dsar_case", "dsar_event", "dsar_email"))
    assert not nobody.events.filter(action="marketing_objection_on_record").exists()
    assert nobody.deliveries.get().kind == "verification"
    event = objector.events.get(action="marketing_objection_on_record")
    assert event.data["reference"] == "DSAR-2026-000001"
    assert [e.action for e in objector.events.order_by("seq")] == [
        "submitted",
        "marketing_objection_on_record",
    ]
    assert verify_chain(objector.pk) is None and verify_chain(nobody.pk) is None
    assert len(statements_of(objecting)) > len(statements)


def unsaved_case(pk: int, reference: str) -> Case:
    now = timezone.now()
    return Case(
        pk=pk,
        reference=reference,
        type="access",
        email="half@example.com",
        name="H",
        language="en",
        received_at=now,
        due_date=now.date(),
    )


@pytest.mark.django_db(transaction=True)
def test_the_rows_of_a_submission_are_written_all_or_none() -> None:
    case = unsaved_case(Case.objects.count() + 1000, "DSAR-2026-999999")
    event = new_event(case, actor="subject", action="submitted", after=None)
    too_long = EmailDelivery(case=case, kind="x" * 41)  # the column holds 40

    with pytest.raises(DataError):
        insert_new(case, event, too_long)

    assert not Case.objects.filter(reference="DSAR-2026-999999").exists()
    assert not Event.objects.filter(case_id=case.pk).exists()


def statements_of(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_failed_insert_inside_the_callers_transaction_leaves_that_transaction_usable() -> None:
    with transaction.atomic():
        kept = transitions.submit_case(
            case_type="access", email="kept@example.com", name="K", language="en"
        )
        case = unsaved_case(kept.pk + 1000, "DSAR-2026-999998")
        with pytest.raises(DataError), transaction_unless_one_statement():
            insert_new(case, EmailDelivery(case=case, kind="x" * 41))

        assert Case.objects.filter(pk=kept.pk).exists()  # the transaction still answers

    assert Case.objects.filter(pk=kept.pk).exists()
    assert not Case.objects.filter(reference="DSAR-2026-999998").exists()
