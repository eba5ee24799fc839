"""Exports that outlast a worker and a rate limit, through the app: a heavy user's export
resumes from its cursor after the worker is killed in the middle of paging, and twenty cases
at once stay within a vendor's budget. Real worker processes, Redis and sandboxes over HTTP."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from config import celery_app
from connectors.demo_people import ADA, HANA
from connectors.sandboxes import UNLIMITED
from dsar import transitions
from dsar.models import Case, DataSystem, RunAttempt, RunStatus, SystemRun
from dsar.tokens import issue_verification
from tests.conftest import Sandboxes, _database_url
from tests.support import WorkerProcess

pytestmark = pytest.mark.worker


def _access(person: Any) -> Case:
    case = transitions.submit_case(
        case_type="access", email=person.email, name=person.name, language="en"
    )
    return transitions.verify_case(token=issue_verification(case))


def _wait_for_runs(case: Case, *, timeout: float) -> list[SystemRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(case.runs.select_related("system"))
        if runs and all(run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) for run in runs):
            return runs
        time.sleep(0.3)
    states = list(
        case.runs.values(
            "system__key", "status", "attempts", "last_error", "not_before", "queued_at"
        )
    )
    attempts = list(
        RunAttempt.objects.filter(run__case=case).values("number", "state", "error", "finished_at")
    )
    raise AssertionError(f"{case.reference} not done after {timeout} s: {states} {attempts}")


@pytest.fixture
def forum_only(demo_systems_automated: dict[str, DataSystem]) -> DataSystem:
    """Only the forum is enabled, so the test is about its export alone."""
    DataSystem.objects.exclude(key="discourse").update(enabled=False)
    return demo_systems_automated["discourse"]


@pytest.fixture
def crashing_worker(celery_worker: WorkerProcess, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A second worker on a queue of its own that kills itself (SIGKILL) right after the first
    checkpoint of an export is committed — in the middle of paging, exactly."""
    queue = f"dsar-crash-{os.getpid()}-{time.monotonic_ns()}"
    env = {
        **celery_worker.env,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "DSAR_TEST_CRASH_AT": "export_checkpoint",
        # Every checkpoint durable, so that the crash lands right after the first page.
        "DSAR_RUN_CHECKPOINT_SECONDS": "0",
        "DSAR_TEST_CRASH_MARKER": str(tmp_path / "crashed"),
        "DATABASE_URL": _database_url(),
    }
    # With beat, as in production: the sweeper moves on whatever waits.
    worker = WorkerProcess(env=env, log=tmp_path / "worker.log", concurrency=2, beat=True)
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    worker.start()
    yield worker
    worker.stop()
    celery_app.conf.task_default_queue = previous


def test_a_heavy_export_killed_mid_paging_resumes_from_its_cursor_without_duplicates(
    crashing_worker: WorkerProcess, sandboxes: Sandboxes, forum_only: DataSystem, tmp_path: Path
) -> None:
    # The limits lifted, the sandbox's and our budget's: this test is about resuming.
    sandboxes.discourse.configure(rate_limit=None, class_rate_limits={})
    forum_only.config = {**forum_only.config, "time_scale": UNLIMITED}
    forum_only.save(update_fields=["config"])
    case = _access(HANA)

    [run] = _wait_for_runs(case, timeout=240)

    assert (tmp_path / "crashed").exists(), "the worker never reached the crash point"
    assert run.status == RunStatus.SUCCEEDED, run.last_error
    attempts = list(RunAttempt.objects.filter(run=run).order_by("number"))
    assert attempts[0].state == "interrupted"  # killed after its first page
    assert run.failures == 0
    path = Path(settings.MEDIA_ROOT) / run.result_file
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    counts = Counter(line["category"] for line in lines)
    assert counts["posts"] == HANA.forum_posts
    assert counts["private_messages"] == HANA.forum_messages
    post_ids = [line["record"]["post_id"] for line in lines if "post_id" in line["record"]]
    assert len(post_ids) == len(set(post_ids)), "a page was written twice"
    assert run.counts["posts"] == HANA.forum_posts


def test_twenty_cases_at_once_stay_within_the_forums_sixty_a_minute(
    celery_worker: WorkerProcess, sandboxes: Sandboxes, forum_only: DataSystem
) -> None:
    scale = 10.0  # 60 requests a minute become 60 per 6 s, for the sandbox and the budget
    sandboxes.discourse.configure(time_scale=scale)
    forum_only.config = {**forum_only.config, "time_scale": scale}
    forum_only.save(update_fields=["config"])

    cases = [_access(ADA) for _ in range(20)]
    for case in cases:
        [run] = _wait_for_runs(case, timeout=300)
        assert run.status == RunStatus.SUCCEEDED, run.last_error
        assert run.counts["posts"] == ADA.forum_posts

    limits = sandboxes.discourse.stats()["limits"]
    general = limits["general"]
    assert general["requests"] == 60
    assert general["max_in_window"] <= general["requests"]
    assert general["rejected"] == 0, "requests beyond the budget reached the forum (429)"
