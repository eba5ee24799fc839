"""Benchmark: the deliverables of the demo's heavy user (30,000 forum posts, a long CRM history).

Gathers hana.heavy@example.com's data from the four automated systems (sandboxes in this
process, rate limits off), then builds her export ZIP and her PDF report, each in a fresh
process, and prints the time and the process's peak memory (RSS) of each. Targets: ZIP under
300 MB and linear in the data; PDF under 10 s and 400 MB. Uses a throwaway SQLite database and
file broker; needs no service.

    .venv/bin/python bench/deliverables.py

The last line is machine-readable:
    deliverables records=<n> zip_s=<t> zip_peak_mb=<m> pdf_s=<t> pdf_peak_mb=<m>
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every rate-limit window divided by this: no wait worth the name.
NO_WAITING = 10_000.0
sys.path.insert(0, str(ROOT))


def configure(workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DSAR_VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "CELERY_BROKER_URL": "filesystem://localhost/",
            "DSAR_SECRET_TRIAL_DATABASE_URL": f"sqlite:///{workdir / 'trial.sqlite3'}",
        }
    )
    for folder in ("broker/queue", "broker/control", "results", "media"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    import django

    django.setup()


def gather(workdir: Path) -> tuple[int, int]:
    """Run every automated system for the heavy user; return (case id, records)."""
    from django.core.management import call_command
    from django.utils import timezone

    from connectors.demo_people import HANA, create_trial_database
    from connectors.sandboxes import SANDBOX_SECRETS, start_all, stop_all
    from dsar import runs, transitions
    from dsar.demo import create_demo_systems
    from dsar.register import load_register
    from dsar.tokens import issue_verification

    call_command("migrate", verbosity=0)
    os.environ.update(SANDBOX_SECRETS)
    urls = start_all(rate_limits=False)
    try:
        create_trial_database(os.environ["DSAR_SECRET_TRIAL_DATABASE_URL"])
        systems = create_demo_systems(
            hubspot_url=urls["hubspot"],
            mailchimp_url=urls["mailchimp"],
            discourse_url=urls["discourse"],
            manual=False,
        )
        for system in systems:
            if system.key in urls:
                # The sandboxes' limits are off: the connectors' own budgets need not wait out
                # the vendors' windows either (this bench times the files, not the gathering).
                system.config = {**system.config, "time_scale": NO_WAITING}
                system.save(update_fields=["config"])
        load_register()
        case = transitions.submit_case(
            case_type="access", email=HANA.email, name=HANA.name, language="en"
        )
        case = transitions.verify_case(token=issue_verification(case))
        for run in case.runs.all():
            # One attempt at a time, as the worker makes them: a long export goes in parts,
            # each ending at a window or a page budget and resuming from the run's cursor.
            for _attempt in range(500):
                report = runs.perform_run(run.pk)
                if report is not None:
                    transitions.finish_run(report)
                    break
                run.refresh_from_db()
                if run.not_before is not None:
                    time.sleep(max(0.0, (run.not_before - timezone.now()).total_seconds()))
            else:
                raise SystemExit(f"{run} did not finish: {run.last_error}")
        records = sum(sum(run.counts.values()) for run in case.runs.all())
        return case.pk, records
    finally:
        stop_all()


def measure(kind: str, case_id: int, workdir: Path) -> None:
    """In a fresh process: build one file, print its time and this process's peak RSS."""
    from dsar.deliverables import pdf
    from dsar.deliverables.export_zip import build_export_zip
    from dsar.models import Case

    case = Case.objects.get(pk=case_id)
    target = workdir / f"heavy.{kind}"
    started = time.perf_counter()
    if kind == "zip":
        build_export_zip(case, target)
    else:
        pdf.render_report(case, target)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "bytes": target.stat().st_size}))


def run_measurement(kind: str, case_id: int, workdir: Path) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            kind,
            "--case",
            str(case_id),
            "--workdir",
            str(workdir),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=["zip", "pdf"])
    parser.add_argument("--case", type=int)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.measure:
        configure(args.workdir)
        measure(args.measure, args.case, args.workdir)
        return

    workdir = Path(tempfile.mkdtemp(prefix="dsar-bench-deliverables-"))
    try:
        configure(workdir)
        started = time.perf_counter()
        case_id, records = gather(workdir)
        print(
            f"gathered {records} records of the heavy user in {time.perf_counter() - started:.1f} s"
        )
        zip_result = run_measurement("zip", case_id, workdir)
        print(
            f"export ZIP: {zip_result['seconds']:.2f} s, peak {zip_result['peak_mb']:.0f} MB, "
            f"{zip_result['bytes'] / 1e6:.1f} MB file (target: under 300 MB peak)"
        )
        pdf_result = run_measurement("pdf", case_id, workdir)
        print(
            f"PDF report: {pdf_result['seconds']:.2f} s, peak {pdf_result['peak_mb']:.0f} MB, "
            f"{pdf_result['bytes'] / 1e6:.2f} MB file (target: under 10 s and 400 MB)"
        )
        print(
            f"deliverables records={records} zip_s={zip_result['seconds']:.2f} "
            f"zip_peak_mb={zip_result['peak_mb']:.0f} pdf_s={pdf_result['seconds']:.2f} "
            f"pdf_peak_mb={pdf_result['peak_mb']:.0f}"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
