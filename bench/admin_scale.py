"""Benchmark: do the admin's pages cost the same at 100,000 cases as at 10,000?

In a scratch PostgreSQL database of its own (created, migrated and dropped afterwards; it checks
the free disk first), it bulk-creates realistic cases of one desk at a steady rate (10,000 are
its last ten weeks, 100,000 two years): types and states mixed as in a working desk (the last
six weeks' partly open, older ones completed, rejected, withdrawn or expired), each with its event
chain (hashed as the app hashes it), a run per system with its attempt, the emails sent, and a
manual task for the cases of the manual system. At 10,000 cases and again at 100,000 it times,
in-process through Django's test client as a logged-in superuser, the queue (the case list),
a search by a whole email address and by part of one, a case's page and the dashboard: the
median of five requests after one to warm up.

    .venv/bin/python bench/admin_scale.py --database-url postgres://postgres@127.0.0.1:5432/postgres

One line per page (queries: the SQL statements of one request at 100,000 cases):
    admin_scale page=<name> t10k_ms=<x> t100k_ms=<y> growth=<y/x> queries=<q>
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402

SIZES = (10_000, 100_000)
BATCH = 5_000
NEEDED_DISK_BYTES = 4 * 1024**3
TYPES = ["access"] * 5 + ["erasure"] * 3 + ["objection", "rectification", "portability"]
DAYS_PER_CASE = 730 / 100_000
SYSTEMS = ("hubspot", "mailchimp", "discourse", "trial-signups", "archive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--sizes", type=int, nargs=2, default=SIZES, help="the two sizes (10000 100000)"
    )
    args = parser.parse_args()
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < NEEDED_DISK_BYTES:
        raise SystemExit(
            f"only {free / 1024**3:.1f} GB free; the benchmark's database needs about "
            f"{NEEDED_DISK_BYTES / 1024**3:.0f} GB"
        )
    with scratch_database(args.database_url, "dsar_bench_admin") as database_url:
        run(args, database_url)


def run(args: argparse.Namespace, database_url: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dsar-bench-admin-"))
    for key in [k for k in os.environ if k.startswith(("DSAR_", "REDIS_URL", "CELERY_"))]:
        del os.environ[key]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        DSAR_VAR_DIR=str(workdir),
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from dsar.models import DataSystem

    systems = [
        DataSystem.objects.create(
            key=key,
            name=key.title(),
            connector="manual" if key == "archive" else "sql",
            config={"team": "Archive"} if key == "archive" else {},
        )
        for key in SYSTEMS
    ]
    admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    client = Client()
    client.force_login(admin)
    rng = random.Random(17)  # noqa: S311  # test data, not a secret
    timings: dict[str, list[float]] = {}
    queries: dict[str, int] = {}
    made = 0
    for size in args.sizes:
        started = time.monotonic()
        sample = create_cases(size - made, systems=systems, rng=rng, start=made)
        made = size
        print(f"{size} cases created ({time.monotonic() - started:.0f} s)", flush=True)
        analyse()
        for name, url in pages(sample).items():
            elapsed, count = measure(client, url, repeat=args.repeat)
            timings.setdefault(name, []).append(elapsed)
            queries[name] = count
            print(f"  {name}: {elapsed:.1f} ms, {count} queries", flush=True)
    for name, (small, large) in timings.items():
        print(
            f"admin_scale page={name} t10k_ms={small:.1f} t100k_ms={large:.1f} "
            f"growth={large / small:.2f} queries={queries[name]}"
        )
    shutil.rmtree(workdir, ignore_errors=True)


def pages(sample: Any) -> dict[str, str]:
    from django.urls import reverse

    changelist = reverse("admin:dsar_case_changelist")
    return {
        "list": changelist,
        "search": f"{changelist}?q={sample.email}",
        "search_partial": f"{changelist}?q={sample.email.split('@')[0][-7:]}",
        "case": reverse("admin:dsar_case_change", args=[sample.pk]),
        "dashboard": reverse("dsar_dashboard"),
    }


def measure(client: Any, url: str, *, repeat: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    if os.environ.get("ADMIN_SCALE_DEBUG"):
        for query in captured:
            print(f"    {query['time']} s  {query['sql'][:160]}")
    return statistics.median(times), len(captured)


def analyse() -> None:
    """What autovacuum does to a database in use: statistics for the planner, and the
    visibility map that lets an index be read without the table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def create_cases(count: int, *, systems: list[Any], rng: random.Random, start: int) -> Any:
    """``count`` more cases with their events, runs, attempts, emails and manual tasks; the
    last case made (an ordinary completed one) for the pages that show one case."""
    from django.db import transaction

    last = None
    for offset in range(0, count, BATCH):
        with transaction.atomic():
            last = _batch(
                min(BATCH, count - offset), systems=systems, rng=rng, start=start + offset
            )
    return last


def _batch(count: int, *, systems: list[Any], rng: random.Random, start: int) -> Any:
    from django.utils import timezone

    from dsar.closings import closing_key
    from dsar.deadlines import due_date_for
    from dsar.keys import Purpose, current
    from dsar.models import (
        GENESIS_HASH,
        Case,
        ClosingCount,
        EmailDelivery,
        Event,
        ManualTask,
        RunAttempt,
        SystemRun,
    )

    now = timezone.now()
    key_id = current(Purpose.AUDIT).id
    cases = []
    for n in range(start, start + count):
        # One desk at a steady rate: the first 10,000 cases are its last ten weeks, the next
        # 90,000 the two years before. Cases of the last six weeks may still be open.
        age = (n + rng.random()) * DAYS_PER_CASE
        received = now - dt.timedelta(days=age)
        if age < 42:
            status = rng.choices(
                ["completed", "in_progress", "in_review", "awaiting_verification", "cancelled"],
                weights=[50, 25, 10, 10, 5],
            )[0]
        else:
            status = rng.choices(
                ["completed", "rejected", "cancelled", "expired"], weights=[80, 5, 5, 10]
            )[0]
        closed = None
        if status in ("completed", "rejected", "cancelled", "expired"):
            closed = min(now, received + dt.timedelta(days=rng.uniform(0.2, min(age, 40))))
        cases.append(
            Case(
                reference=f"DSAR-{received.year}-{n + 1:06d}",
                type=rng.choice(TYPES),
                status=status,
                email=f"person{n}.{rng.randrange(10**6):06d}@example{n % 50}.com",
                name=f"Person {n}",
                language=rng.choice(["en", "de"]),
                received_at=received,
                verified_at=received + dt.timedelta(hours=1) if status != "expired" else None,
                due_date=due_date_for(received),
                closed_at=closed,
            )
        )
    Case.objects.bulk_create(cases, batch_size=1000)
    events, runs, deliveries = [], [], []
    closings: Counter[Any] = Counter()
    for case in cases:
        actions = ["submitted"]
        if case.verified_at:
            actions += ["verified", "processing_started"]
        if case.closed_at:
            actions.append(case.status)
        prev = GENESIS_HASH
        for seq, action in enumerate(actions, start=1):
            event = Event(
                case=case,
                seq=seq,
                actor="subject" if seq == 1 else "system",
                action=action,
                data={"type": case.type} if seq == 1 else {},
                created_at=case.received_at + dt.timedelta(minutes=seq),
                prev_hash=prev,
                key_id=key_id,
            )
            event.hash = event.compute_hash()
            prev = event.hash
            events.append(event)
        deliveries.append(
            EmailDelivery(case=case, kind="verification", state="sent", subject="Confirm")
        )
        if case.verified_at:
            done = case.status == "completed"
            for system in systems:
                runs.append(
                    SystemRun(
                        case=case,
                        system=system,
                        action="export",
                        status="succeeded" if done else "pending",
                        attempts=1 if done else 0,
                        outcome="exported" if done else "",
                        started_at=case.verified_at if done else None,
                        finished_at=case.closed_at if done else None,
                    )
                )
        if case.status == "completed":
            deliveries.append(
                EmailDelivery(case=case, kind="completed", state="sent", subject="Answer")
            )
            closings[
                closing_key(
                    type=case.type,
                    received_at=case.received_at,
                    closed_at=case.closed_at,
                    due_date=case.due_date,
                )
            ] += 1
    Event.objects.bulk_create(events, batch_size=2000)
    SystemRun.objects.bulk_create(runs, batch_size=2000)
    EmailDelivery.objects.bulk_create(deliveries, batch_size=2000)
    RunAttempt.objects.bulk_create(
        [
            RunAttempt(
                run=run,
                number=1,
                state="succeeded",
                started_at=run.started_at,
                finished_at=run.finished_at,
            )
            for run in runs
            if run.status == "succeeded"
        ],
        batch_size=2000,
    )
    ManualTask.objects.bulk_create(
        [
            ManualTask(run=run, team="Archive", instructions="Search the archive.", status="done")
            for run in runs
            if run.system.key == "archive" and run.status == "succeeded"
        ],
        batch_size=2000,
    )
    for key, n in closings.items():
        row, _ = ClosingCount.objects.get_or_create(
            type=key.type, month=key.month, tenths=key.tenths, on_time=key.on_time
        )
        ClosingCount.objects.filter(pk=row.pk).update(count=row.count + n)
    return next(case for case in reversed(cases) if case.status == "completed")


if __name__ == "__main__":
    main()
