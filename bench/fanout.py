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
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
    parser.add_argument("--cases", type=int, default=3, help="cases to time, one after another")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="dsar-bench-"))
    redis_url, redis_process = start_redis(workdir)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DSAR_VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
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
    trial_url = f"sqlite:///{workdir / 'trial.sqlite3'}"
    create_trial_database(trial_url)
    systems = create_demo_systems(
        hubspot_url=sandboxes["hubspot"].base_url,
        mailchimp_url=sandboxes["mailchimp"].base_url,
        discourse_url=sandboxes["discourse"].base_url,
        manual=False,
    )
    worker = WorkerProcess(
        env={
            **os.environ,
            "DSAR_SECRET_HUBSPOT_TOKEN": sandboxes["hubspot"].token,
            "DSAR_SECRET_MAILCHIMP_API_KEY": sandboxes["mailchimp"].api_key,
            "DSAR_SECRET_DISCOURSE_API_KEY": sandboxes["discourse"].api_key,
            "DSAR_SECRET_TRIAL_DATABASE_URL": trial_url,
        },
        log=workdir / "worker.log",
        concurrency=len(systems),
    )
    try:
        worker.start()
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


if __name__ == "__main__":
    main()
