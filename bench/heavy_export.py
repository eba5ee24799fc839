"""Benchmark: the heavy demo user's access request under the vendors' published rate limits.

hana.heavy@example.com has 30,000 forum posts and 300 private messages, a CRM history with
hundreds of engagements and a long newsletter history. Every sandbox enforces its vendor's
limit (Discourse's admin API 60 requests a minute, HubSpot's 100 per 10 s and its search limit,
Mailchimp's 10 connections), each window divided by ``--time-scale K`` (60 a minute becomes 60
per 6 s at K = 10), and the connectors' shared budgets use the same scale. The request goes
through a real worker process on Redis; the export must complete without a failed run and with
every record the sandboxes hold.

The lower bound is each system's requests divided by its allowed rate (the systems run in
parallel, so the slowest decides): ``limit_bound_s``. The goal is ``ratio`` ≤ 1.2 and
``failed_runs=0`` at K = 1 and K = 10 (K = 1 takes at least 17 minutes).

    .venv/bin/python bench/heavy_export.py [--time-scale 10]

The last line is machine-readable:
    heavy_export records=<n> requests=<r> limit_bound_s=<b> elapsed_s=<t> ratio=<t/b>
    failed_runs=<f>   (one line)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import start_redis  # noqa: E402
from tests.support import WorkerProcess  # noqa: E402


def lower_bound(stats: dict[str, Any]) -> float:
    """The least time the requests a sandbox answered could take under its limits: for each
    class, its accepted requests over its rate (one window's worth is free at the start)."""
    bound = 0.0
    for limit in stats.get("limits", {}).values():
        requests, window, accepted = limit["requests"], limit["window_s"], limit["accepted"]
        if requests and window and accepted > requests:
            bound = max(bound, (accepted - requests) / requests * window)
    return bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=10.0, help="K: windows divided by K")
    parser.add_argument(
        "--timeout", type=float, default=0, help="give up after (default: 3 x bound)"
    )
    args = parser.parse_args()
    scale = args.time_scale

    workdir = Path(tempfile.mkdtemp(prefix="dsar-heavy-"))
    redis_url, redis_process = start_redis(workdir)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DSAR_VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "DSAR_SWEEP_SECONDS": "5",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from connectors.demo_people import HANA, create_trial_database
    from connectors.discourse.sandbox import DiscourseSandbox
    from connectors.hubspot.sandbox import HubSpotSandbox
    from connectors.mailchimp.sandbox import MailchimpSandbox
    from dsar import transitions
    from dsar.demo import create_demo_systems
    from dsar.models import RunStatus
    from dsar.tokens import issue_verification

    call_command("migrate", verbosity=0)
    sandboxes = {
        "hubspot": HubSpotSandbox(time_scale=scale),
        "mailchimp": MailchimpSandbox(time_scale=scale),
        "discourse": DiscourseSandbox(time_scale=scale),
    }
    for sandbox in sandboxes.values():
        sandbox.start()
    trial_url = f"sqlite:///{workdir / 'trial.sqlite3'}"
    create_trial_database(trial_url)
    systems = create_demo_systems(
        hubspot_url=sandboxes["hubspot"].base_url,
        mailchimp_url=sandboxes["mailchimp"].base_url,
        discourse_url=sandboxes["discourse"].base_url,
        manual=False,
    )
    for system in systems:
        if system.key in sandboxes:  # the connectors' budgets run at the sandboxes' scale
            system.config = {**system.config, "time_scale": scale}
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
        concurrency=len(systems),
        beat=True,
    )
    try:
        worker.start()
        case = transitions.submit_case(
            case_type="access", email=HANA.email, name=HANA.name, language="en"
        )
        token = issue_verification(case)
        started = time.monotonic()
        transitions.verify_case(token=token)
        # Not known in advance: time out generously, at 3 x the bound of Discourse's posts alone.
        expected = (30_300 / 30) / 60 * 60 / scale
        timeout = args.timeout or max(3 * expected, 120)
        while True:
            statuses = set(case.runs.values_list("status", flat=True))
            if statuses and statuses <= {RunStatus.SUCCEEDED, RunStatus.FAILED}:
                break
            if time.monotonic() - started > timeout:
                runs = list(case.runs.values("system__key", "status", "attempts", "last_error"))
                raise SystemExit(f"not done after {timeout:.0f} s: {runs}")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        failed = case.runs.filter(status=RunStatus.FAILED).count()
        records = 0
        for run in case.runs.select_related("system"):
            counts = run.counts
            records += sum(counts.values())
            print(
                f"{run.system.key}: {run.status}, {sum(counts.values())} records in "
                f"{run.attempts} attempts ({run.failures} failed) {json.dumps(counts)}"
            )
        stats = {key: sandbox.stats() for key, sandbox in sandboxes.items()}
        requests = sum(
            limit["accepted"]
            for s in stats.values()
            for limit in s.get("limits", {}).values()
            if limit["requests"] is not None
        ) or sum(len(sandbox.calls()) for sandbox in sandboxes.values())
        bounds = {key: lower_bound(s) for key, s in stats.items()}
        for key, s in stats.items():
            for name, limit in s.get("limits", {}).items():
                print(
                    f"{key} {name}: {limit['accepted']} accepted, {limit['rejected']} refused "
                    f"(429), at most {limit['max_in_window']} in a window of "
                    f"{limit['window_s']} s (limit {limit['requests']})"
                )
        bound = max(bounds.values())
        posts = case.runs.get(system__key="discourse").counts
        expected_posts = {"posts": HANA.forum_posts, "private_messages": HANA.forum_messages}
        missing = {k: v - posts.get(k, 0) for k, v in expected_posts.items() if posts.get(k) != v}
        if missing:
            print(f"MISSING forum records: {missing}")
        print(
            f"heavy_export records={records} requests={requests} limit_bound_s={bound:.1f} "
            f"elapsed_s={elapsed:.1f} ratio={elapsed / bound if bound else 0:.3f} "
            f"failed_runs={failed}"
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
