"""Claiming, bounding and settling system runs, without the network."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.base import (
    Action,
    Connector,
    CountingSink,
    ExportOutcome,
    ExportProgress,
    Identity,
    RateLimited,
    RecordSink,
    Resume,
)
from connectors.registry import CONNECTORS
from dsar import transitions
from dsar.manual import ManualResult, ManualResultInvalid
from dsar.models import (
    Case,
    CaseStatus,
    DataSystem,
    ManualTask,
    RectificationChange,
    RunStatus,
    SystemRun,
)
from dsar.runs import claim_run, hand_over_slot, release_slot
from dsar.tasks import run_system_task
from dsar.tokens import issue_verification
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory

pytestmark = pytest.mark.django_db


def test_a_run_is_claimed_by_one_worker_at_a_time() -> None:
    run = SystemRunFactory()
    assert claim_run(run.pk).claimed
    second = claim_run(run.pk)
    assert not second.claimed and second.reason == "held"


def test_a_claim_whose_worker_died_lapses_and_is_taken_over(settings) -> None:
    run = SystemRunFactory()
    now = timezone.now()
    assert claim_run(run.pk, now=now).claimed
    later = now + dt.timedelta(seconds=settings.DSAR["RUN_LEASE_SECONDS"] + 1)
    assert claim_run(run.pk, now=later).claimed
    run.refresh_from_db()
    assert run.attempts == 2


def test_a_finished_run_is_never_claimed_again() -> None:
    run = SystemRunFactory(status=RunStatus.SUCCEEDED)
    claim = claim_run(run.pk)
    assert claim.reason == "done" and not claim.claimed


def test_a_system_serves_at_most_its_bound_of_runs_at_once() -> None:
    system = DataSystemFactory(max_concurrency=2)
    runs = [SystemRunFactory(system=system) for _ in range(3)]
    assert claim_run(runs[0].pk).claimed
    assert claim_run(runs[1].pk).claimed
    waiting = claim_run(runs[2].pk)
    assert not waiting.claimed and waiting.reason == "no_slot"
    SystemRun.objects.filter(pk=runs[0].pk).update(status=RunStatus.SUCCEEDED)
    release_slot(runs[0])  # what finishing a run does
    assert claim_run(runs[2].pk).claimed


def test_a_freed_slot_goes_to_the_run_that_waited_not_to_one_whose_task_comes_first(
    django_capture_on_commit_callbacks,
) -> None:
    system = DataSystemFactory(max_concurrency=1)
    running, waiting, later = (SystemRunFactory(system=system) for _ in range(3))
    assert claim_run(running.pk).claimed
    assert claim_run(waiting.pk).reason == "no_slot"

    with django_capture_on_commit_callbacks(execute=False) as woken:
        SystemRun.objects.filter(pk=running.pk).update(status=RunStatus.SUCCEEDED)
        release_slot(running)
        hand_over_slot(system)  # what finishing a run does

    assert len(woken) == 1  # the waiting run's task, once the finish commits
    # The later run's task reaches a worker first, but the slot is the waiting run's.
    assert claim_run(later.pk).reason == "no_slot"
    assert claim_run(waiting.pk).claimed


def test_a_slot_handed_to_a_run_whose_case_closed_meanwhile_goes_to_the_next_at_once(
    django_capture_on_commit_callbacks,
) -> None:
    system = DataSystemFactory(max_concurrency=1)
    running, waiting, later = (SystemRunFactory(system=system) for _ in range(3))
    assert claim_run(running.pk).claimed
    assert claim_run(waiting.pk).reason == "no_slot"
    with django_capture_on_commit_callbacks(execute=False):
        SystemRun.objects.filter(pk=running.pk).update(status=RunStatus.SUCCEEDED)
        release_slot(running)
        hand_over_slot(system)
    Case.objects.filter(pk=waiting.case_id).update(status=CaseStatus.CANCELLED)

    assert claim_run(waiting.pk).reason == "done"
    assert claim_run(later.pk).claimed


def test_access_is_verified_straight_into_processing_with_a_run_per_enabled_system(
    django_capture_on_commit_callbacks,
) -> None:
    enabled = [DataSystemFactory(), DataSystemFactory()]
    DataSystemFactory(enabled=False)
    case = CaseFactory(type="access")
    token = issue_verification(case)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        transitions.verify_case(token=token)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert {run.system for run in case.runs.all()} == set(enabled)
    assert {run.action for run in case.runs.all()} == {"export"}
    # The confirmation email and one wake-up per system, each its own hook, as rows say.
    assert len(callbacks) == 3
    assert case.deliveries.get().kind == "confirmed"
    assert [e.action for e in case.events.order_by("seq")] == ["verified", "processing_started"]


@pytest.mark.parametrize(
    ("case_type", "details"),
    [("rectification", {}), ("objection", {"objection_scope": "other"})],
)
def test_cases_the_law_asks_staff_to_weigh_wait_for_review(case_type, details) -> None:
    DataSystemFactory()
    case = CaseFactory(type=case_type, details=details)
    transitions.verify_case(token=issue_verification(case))
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW
    assert case.runs.count() == 0
    if case_type == "rectification":
        RectificationChange.objects.create(
            case=case, field="phone", proposed_value="+49 30 1234", decision="accepted"
        )
        transitions.approve_case(case.pk, actor="staff:approver")
    else:
        transitions.decide_objection(
            case.pk, upheld=True, grounds="The reasons outweigh.", actor="staff:approver"
        )
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.runs.count() == 1


def test_a_manual_system_becomes_a_task_and_the_case_waits_for_it() -> None:
    system = DataSystemFactory(
        connector="manual",
        config={"team": "Sales", "instructions": {"export": "Search the card box."}},
    )
    run = SystemRunFactory(system=system)
    run_system_task(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING_MANUAL
    task = ManualTask.objects.get(run=run)
    assert (task.team, task.instructions) == ("Sales", "Search the card box.")
    run.case.refresh_from_db()
    assert run.case.status == CaseStatus.AWAITING_MANUAL

    with pytest.raises(ManualResultInvalid, match="what you found"):
        transitions.complete_manual_task(
            task.pk, result=ManualResult(result="exported"), actor="staff:x", user_id=None
        )
    with pytest.raises(ManualResultInvalid, match="not a result"):
        transitions.complete_manual_task(
            task.pk, result=ManualResult(result="erased"), actor="staff:x", user_id=None
        )
    transitions.complete_manual_task(
        task.pk,
        result=ManualResult(result="exported", categories=["business cards"]),
        actor="staff:x",
        user_id=None,
    )
    run.case.refresh_from_db()
    assert run.case.status == CaseStatus.COMPLETED
    actions = [e.action for e in run.case.events.order_by("seq")]
    assert actions[-3:] == ["waiting_for_manual_work", "manual_task_completed", "completed"]


def test_a_failed_run_holds_the_case_open_until_a_retry_succeeds(
    django_capture_on_commit_callbacks,
) -> None:
    system = DataSystemFactory(connector="no-such-connector")
    run = SystemRunFactory(system=system)
    run_system_task(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "no-such-connector" in run.last_error
    run.case.refresh_from_db()
    assert run.case.status == CaseStatus.IN_PROGRESS

    system.connector = "manual"
    system.save()
    with django_capture_on_commit_callbacks(execute=True):
        transitions.retry_run(run.pk, actor="staff:x")  # eager here: the task runs at once
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING_MANUAL
    assert run.last_error == ""
    assert "run_retried" in [e.action for e in run.case.events.all()]


def test_an_erasure_under_a_legal_hold_restricts_and_records_the_hold(
    tmp_path, monkeypatch
) -> None:
    from connectors.demo_people import ADA, create_trial_database, trial_system_config

    url = f"sqlite:///{tmp_path / 'trial.sqlite3'}"
    create_trial_database(url)
    monkeypatch.setenv("DSAR_SECRET_TRIAL_DATABASE_URL", url)  # CONNECTOR_SECRETS reads it
    hold_until = timezone.localdate() + dt.timedelta(days=400)
    system = DataSystemFactory(
        connector="sql",
        config=trial_system_config(url_env="DSAR_SECRET_TRIAL_DATABASE_URL"),
        legal_hold_until=hold_until,
        legal_hold_reason="Pending lawsuit 3 O 123/26",
    )
    case = CaseFactory(type="erasure", email=ADA.email, status=CaseStatus.IN_PROGRESS)
    run = SystemRunFactory(case=case, system=system, action="erase")

    run_system_task(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.outcome == "retained"
    assert run.retained == [
        {
            "activity": "Legal hold",
            "obligation": "Pending lawsuit 3 O 123/26",
            "until": str(hold_until),
            "hold": True,
        }
    ]
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        restricted = connection.execute(
            sa.text("select processing_restricted from trial_signups where email = :e"),
            {"e": ADA.email},
        ).scalar_one()
    engine.dispose()
    assert restricted  # kept and restricted, not deleted


def test_an_erasure_cut_short_after_it_anonymised_the_rows_is_recorded_as_anonymised_not_erased(
    tmp_path, monkeypatch
) -> None:
    """A worker that dies after the system anonymised the person, before the run is recorded:
    the attempt that takes over finds nothing under the address, and the journal says what
    the first one sent. The rows stay without identity, so the answer says anonymised."""
    from connectors.base import journaling
    from connectors.demo_people import ADA, create_trial_database, trial_system_config
    from dsar import runs

    url = f"sqlite:///{tmp_path / 'trial.sqlite3'}"
    create_trial_database(url)
    monkeypatch.setenv("DSAR_SECRET_TRIAL_DATABASE_URL", url)
    config = trial_system_config(url_env="DSAR_SECRET_TRIAL_DATABASE_URL")
    # Sign-ups kept for statistics: the identity is cleared, the rest of the row stays.
    config["mapping"][0]["columns"] = {
        "email": "hash",
        **dict.fromkeys(["first_name", "surname", "telephone"], "null"),
        **dict.fromkeys(["country", "organization", "job_title", "signed_up_at"], "keep"),
    }
    system = DataSystemFactory(connector="sql", config=config)
    case = CaseFactory(type="erasure", email=ADA.email, status=CaseStatus.IN_PROGRESS)
    run = SystemRunFactory(case=case, system=system, action="erase")
    first = claim_run(run.pk)
    assert first.attempt_id is not None
    with journaling(runs._Journal(first.attempt_id)):
        sent = runs.connector_for(system).erase(runs.identity_of(case))
    assert sent.kind == "anonymised"  # the trial database keeps its rows without identity
    # The worker died here; its lease lapses and the task comes back.
    SystemRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))

    run_system_task(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.outcome == "anonymised"
    assert run.outcome_data["remains"] == ["rows_without_identity"]
    assert run.outcome_data["details"]["confirmation"]["performed_in_attempt"] == 1


# --- Checkpoints of a long export --------------------------------------------------------------


class PagedSystem(Connector):
    """A system with ten pages of one record each that asks us to wait after the third page
    of every attempt, as a vendor's rate limit does mid-paging."""

    key = "paged"
    display_name = "Paged system"
    supports = frozenset({Action.EXPORT})
    PAGES = 10
    pages_per_attempt = 3
    seconds_per_page = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        return cls()

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        resume = Resume(progress)
        counter = CountingSink(sink, resume)
        start = int(resume.position("pages").get("offset", 0))
        for page in range(start, self.PAGES):
            if page - start == self.pages_per_attempt:
                raise RateLimited("slow down", retry_after=5)
            time.sleep(self.seconds_per_page)
            counter.write("pages", {"page": page})
            resume.checkpoint("pages", {"offset": page + 1})
        resume.finish("pages")
        return counter.outcome()


@pytest.fixture
def paged_system(monkeypatch: pytest.MonkeyPatch) -> DataSystem:
    monkeypatch.setitem(CONNECTORS, "paged", f"{__name__}.PagedSystem")
    return DataSystemFactory(key="paged", connector="paged", config={})


def first_attempt(system: DataSystem) -> tuple[SystemRun, int]:
    """A paged export's first attempt: the run, and how often it saved its checkpoint."""
    case = CaseFactory(type="access", status=CaseStatus.IN_PROGRESS)
    run = SystemRunFactory(case=case, system=system, action="export")
    with CaptureQueriesContext(connection) as queries:
        run_system_task(run.pk)
    run.refresh_from_db()
    saves = [q for q in queries if q["sql"].startswith('UPDATE "dsar_systemrun" SET "cursor"')]
    return run, len(saves)


def test_a_wait_mid_export_keeps_the_pages_written_and_the_next_attempt_goes_on_from_them(
    paged_system: DataSystem, settings: Any
) -> None:
    settings.DSAR = {**settings.DSAR, "RUN_CHECKPOINT_SECONDS": 60.0}

    run, saves = first_attempt(paged_system)

    assert run.status == RunStatus.PENDING and run.not_before is not None
    assert run.cursor["connector"]["streams"] == {"pages": {"offset": 3}}
    assert run.cursor["counts"] == {"pages": 3}
    # The three pages' checkpoints were saved once, when the attempt ended, not page by page.
    assert saves == 1

    for _attempt in range(5):
        SystemRun.objects.filter(pk=run.pk).update(not_before=None)
        run_system_task(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    path = Path(settings.MEDIA_ROOT) / run.result_file
    pages = [json.loads(line)["record"]["page"] for line in path.read_text().splitlines()]
    assert pages == list(range(PagedSystem.PAGES))


def test_an_export_saves_its_progress_as_it_goes_once_the_checkpoint_interval_passed(
    paged_system: DataSystem, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The production interval (1 s), with pages that take 0.6 s each: the second page's
    # checkpoint is due and saved as it goes; the third is saved when the attempt stops.
    assert settings.DSAR["RUN_CHECKPOINT_SECONDS"] == 1.0
    monkeypatch.setattr(PagedSystem, "seconds_per_page", 0.6)

    run, saves = first_attempt(paged_system)

    assert saves == 2
    assert run.cursor["connector"]["streams"] == {"pages": {"offset": 3}}
