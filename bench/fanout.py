"""Benchmark: is the fan-out parallel?

Runs access cases for the person known to every system across the four automated systems, with
each HTTP sandbox adding a fixed latency L to the lookup of the person, through Redis and a real
Celery worker process, and prints the time from verification to completion next to L. Parallel
means under 1.25 x L + 1 s; one system after another would take at least 3 x L (the SQL database
adds no latency). It starts what it needs (Redis when REDIS_URL is unset, a worker, the
sandboxes, a throwaway SQLite database) and stops it all at the end.

    .venv/bin/python bench/fanout.py [--latency 1.0] [--cases 3]

The last line is machine-readable:
    fanout latency_s=<L> systems=<n> elapsed_s=<t> ratio=<t/L>

With ``--concurrency C`` the ``--cases N`` cases are verified all at once, for a worker of C
processes, and the benchmark measures how long runs waited *behind* their system's bound on
parallel runs (``max_concurrency``): beyond the wait the bound itself imposes, i.e. from the
moment a slot of the system was free for a run (the case was verified and, for the k-th run to
start, the (k - bound)-th run of the system had finished) to the moment the run took it. A run
re-queued at the back of the broker's queue behind every other task waits there. The vendors'
own rate limits are lifted (sandboxes and budgets), so that only the bound holds runs back.
``--database-url postgres://…`` runs against a scratch PostgreSQL database (created and
dropped) instead of SQLite, which serialises a busy worker's writes. The last line:
    fanout cases=<N> concurrency=<C> latency_s=<L> elapsed_s=<t> slowest_case_behind_bound_s=<w>
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_database  # noqa: E402
from connectors.sandboxes import UNLIMITED  # noqa: E402
from tests.support import WorkerProcess, free_port  # noqa: E402

# The route each sandbox answers when a connector first looks the person up (for Mailchimp,
# on the first of the two lists), so that each system's part takes L plus its own work.
LOOKUP_ROUTES = {
    "hubspot": r"/crm/v3/objects/contacts/search$",
    "mailchimp": r"/lists/a1b2c3d4e5/members/[0-9a-f]{32}$",
    "discourse": r"/admin/users/list/active\.json$",
}


def start_redis(workdir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0", process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="L, seconds per system")
    parser.add_argument(
        "--cases", type=int, default=3, help="cases to time (one after another without -C)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="C: worker processes; all cases at once"
    )
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server for a scratch database"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        database_url = (
            stack.enter_context(scratch_database(args.database_url, "dsar_bench_fanout"))
            if args.database_url
            else ""
        )
        run(args, database_url)


def run(args: argparse.Namespace, database_url: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dsar-bench-"))
    redis_url, redis_process = start_redis(workdir)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DSAR_VAR_DIR": str(workdir),
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "LOG_FORMAT": "json",
            "DSAR_RUN_BACKOFF_SECONDS": "0.2",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from connectors.demo_people import ADA, create_trial_database
    from connectors.discourse.sandbox import DiscourseSandbox
    from connectors.hubspot.sandbox import HubSpotSandbox
    from connectors.mailchimp.sandbox import MailchimpSandbox
    from dsar import transitions
    from dsar.demo import create_demo_systems
    from dsar.models import Case, CaseStatus
    from dsar.tokens import issue_verification

    call_command("migrate", verbosity=0)
    sandboxes = {
        "hubspot": HubSpotSandbox(),
        "mailchimp": MailchimpSandbox(),
        "discourse": DiscourseSandbox(),
    }
    for key, sandbox in sandboxes.items():
        sandbox.start()
        sandbox.configure(latency_s=args.latency, latency_path_pattern=LOOKUP_ROUTES[key])
        if args.concurrency:
            sandbox.configure(rate_limit=None, class_rate_limits={})
    trial_url = f"sqlite:///{workdir / 'trial.sqlite3'}"
    create_trial_database(trial_url)
    systems = create_demo_systems(
        hubspot_url=sandboxes["hubspot"].base_url,
        mailchimp_url=sandboxes["mailchimp"].base_url,
        discourse_url=sandboxes["discourse"].base_url,
        manual=False,
    )
    if args.concurrency:
        for system in systems:
            system.config = {**system.config, "time_scale": UNLIMITED}
            system.save(update_fields=["config"])
    worker = WorkerProcess(
        env={
            **os.environ,
            "DSAR_SECRET_HUBSPOT_TOKEN": sandboxes["hubspot"].token,
            "DSAR_SECRET_MAILCHIMP_API_KEY": sandboxes["mailchimp"].api_key,
            "DSAR_SECRET_DISCOURSE_API_KEY": sandboxes["discourse"].api_key,
            "DSAR_SECRET_TRIAL_DATABASE_URL": trial_url,
        },
        log=workdir / "worker.log",
        concurrency=args.concurrency or len(systems),
    )
    try:
        worker.start()
        if args.concurrency:
            burst(args, systems, worker)
            return
        timings = []
        for n in range(args.cases):
            case = transitions.submit_case(
                case_type="access", email=ADA.email, name=ADA.name, language="en"
            )
            token = issue_verification(case)
            started = time.monotonic()
            transitions.verify_case(token=token)
            # Every system has answered: the answer is built, or waits for staff to review
            # other people's data in it (Art. 15(4)), which is not the fan-out's time.
            done = (CaseStatus.COMPLETED, CaseStatus.THIRD_PARTY_REVIEW)
            while Case.objects.get(pk=case.pk).status not in done:
                if time.monotonic() - started > 60 + 10 * args.latency:
                    runs = list(case.runs.values("system__key", "status", "last_error"))
                    log_tail = worker.log.read_text()[-3000:]
                    raise SystemExit(f"{case.reference} did not complete: {runs}\n{log_tail}")
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            durations = {
                run.system.key: (run.duration_ms or 0) / 1000
                for run in case.runs.select_related("system")
            }
            timings.append(elapsed)
            print(
                f"case {n + 1}: {elapsed:.2f} s from verification to completion; "
                + ", ".join(f"{key} {seconds:.2f} s" for key, seconds in sorted(durations.items()))
                + "; "
                + phases(case.pk)
            )
        elapsed = statistics.median(timings)
        limit = 1.25 * args.latency + 1
        print(
            f"median {elapsed:.2f} s with L = {args.latency:.2f} s: parallel limit "
            f"{limit:.2f} s, one after another at least {3 * args.latency:.2f} s "
            f"(4 x L = {4 * args.latency:.2f} s if the database were remote too) -> "
            f"{'PARALLEL' if elapsed < limit else 'NOT PARALLEL'}"
        )
        print(
            f"fanout latency_s={args.latency:g} systems={len(systems)} "
            f"elapsed_s={elapsed:.3f} ratio={elapsed / args.latency:.3f}"
        )
    finally:
        worker.stop()
        for sandbox in sandboxes.values():
            sandbox.stop()
        if redis_process:
            redis_process.terminate()
            redis_process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def phases(case_id: int) -> str:
    """Where a case's time went: verification to its first run's start, the runs (first start to
    last finish), and the last finish to the answer."""
    from dsar.models import Case, Event

    case = Case.objects.get(pk=case_id)
    runs = list(case.runs.values_list("started_at", "finished_at"))
    first_start = min(started for started, _ in runs)
    last_finish = max(finished for _, finished in runs)
    answered = Event.objects.filter(case_id=case_id).latest("seq").created_at
    assert case.verified_at  # nosec B101  # the case was verified
    return (
        f"start {(first_start - case.verified_at).total_seconds():.3f} s, "
        f"runs {(last_finish - first_start).total_seconds():.3f} s, "
        f"answer {(answered - last_finish).total_seconds():.3f} s"
    )


def burst(args: argparse.Namespace, systems: list[Any], worker: WorkerProcess) -> None:
    """Verify ``args.cases`` cases at once; print the slowest case's wait behind the bound."""
    from connectors.demo_people import ADA
    from dsar import transitions
    from dsar.models import Case, CaseStatus, SystemRun
    from dsar.tokens import issue_verification

    cases = [
        transitions.submit_case(case_type="access", email=ADA.email, name=ADA.name, language="en")
        for _ in range(args.cases)
    ]
    tokens = [issue_verification(case) for case in cases]
    started = time.monotonic()
    for token in tokens:
        transitions.verify_case(token=token)
    done = (CaseStatus.COMPLETED, CaseStatus.THIRD_PARTY_REVIEW)
    ids = [case.pk for case in cases]
    deadline = started + 120 + args.cases * len(systems) * args.latency
    while Case.objects.filter(pk__in=ids).exclude(status__in=done).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the cases did not complete in time")
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    rows = list(
        SystemRun.objects.filter(case_id__in=ids).values_list(
            "pk",
            "system_id",
            "system__max_concurrency",
            "case_id",
            "case__verified_at",
            "started_at",
            "finished_at",
        )
    )
    refused = refused_slot_at(worker.log)
    behind = behind_bound(rows, refused)
    slowest_case, slowest = max(behind.items(), key=lambda item: item[1])
    _case, any_wait = max(behind_bound(rows, None).items(), key=lambda item: item[1])
    bounds = ", ".join(f"{s.key} {s.max_concurrency}" for s in systems)
    print(
        f"{args.cases} cases at once, worker concurrency {args.concurrency}, L = "
        f"{args.latency:.2f} s, bounds: {bounds}; all answered in {elapsed:.1f} s; the slowest "
        f"case (id {slowest_case}) waited {slowest:.2f} s behind a bound beyond its own wait "
        f"({len(refused)} runs were refused a slot at first; counting the waits for a worker "
        f"process too, the slowest case waited {any_wait:.2f} s)"
    )
    print(
        f"fanout cases={args.cases} concurrency={args.concurrency} latency_s={args.latency:g} "
        f"elapsed_s={elapsed:.3f} slowest_case_behind_bound_s={slowest:.3f}"
    )


def refused_slot_at(log: Path) -> dict[int, dt.datetime]:
    """When each run was first refused a slot of its system (the worker's JSON log)."""
    first: dict[int, dt.datetime] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"run_id"' not in line or "waits for one of its system" not in line:
            continue
        try:
            entry = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        at = dt.datetime.fromisoformat(entry["timestamp"])
        first.setdefault(int(entry["run_id"]), at)
    return first


def behind_bound(
    rows: Iterable[tuple[Any, ...]], refused: dict[int, dt.datetime] | None
) -> dict[int, float]:
    """Per case, the longest any of its runs waited with a slot of its system free for it.

    The k-th run of a system to start (from 0) could start once its case was verified and,
    for k >= bound, once the (k - bound)-th of the system's runs to finish had finished. With
    ``refused`` (when runs were first refused a slot), only those runs count, from when they
    were refused: the others waited for a worker process, not for the bound.
    """
    by_system: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_system[row[1]].append(row)
    behind: dict[int, float] = defaultdict(float)
    for system_runs in by_system.values():
        bound = system_runs[0][2]
        finishes = sorted(row[6] for row in system_runs)
        ordered = sorted(system_runs, key=lambda row: row[5])
        for k, (run_id, _s, _b, case_id, verified_at, started_at, _f) in enumerate(ordered):
            free_at = verified_at if k < bound else max(verified_at, finishes[k - bound])
            if refused is not None:
                if run_id not in refused:
                    behind[case_id] = max(behind[case_id], 0.0)
                    continue
                free_at = max(free_at, refused[run_id])
            wait = max(0.0, (started_at - free_at).total_seconds())
            behind[case_id] = max(behind[case_id], wait)
    return behind


if __name__ == "__main__":
    main()
