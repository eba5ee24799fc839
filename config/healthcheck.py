"""The containers' healthcheck commands (docker/compose.yml, docker/Dockerfile).

``python -m config.healthcheck web [URL]`` asks the web process's /health/ (database, broker and
storage) and succeeds on a 200; ``python -m config.healthcheck beat [--max-age SECONDS]`` succeeds
while beat's schedule file has been written recently (beat rewrites it at least every few minutes
while it runs). The worker's is Celery's own ``celery inspect ping`` against its node. Each exits
0 when well and 1 with one line saying why not.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
import urllib.error
import urllib.request

WEB_URL = "http://127.0.0.1:8000/health/"
# Beat sleeps at most 5 minutes between ticks and writes the schedule file when 3 minutes have
# passed since it last did, so a live beat's file is never older than about 8 minutes.
BEAT_MAX_AGE_SECONDS = 15 * 60


def check_web(url: str) -> str | None:
    """None when the health endpoint answers 200, else the reason."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  # nosec B310  # fixed http URL
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}: {error.read().decode(errors='replace')[:300]}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} did not answer: {error}"


def check_beat(schedule_file: str, *, max_age: float) -> str | None:
    """None when beat wrote its schedule file (any of the dbm files it is made of) lately."""
    files = glob.glob(glob.escape(schedule_file) + "*")
    if not files:
        return f"beat has not written its schedule file {schedule_file}"
    age = time.time() - max(os.stat(path).st_mtime for path in files)
    if age > max_age:
        return f"beat has not written {schedule_file} for {age:.0f}s (more than {max_age:.0f}s)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.healthcheck")
    commands = parser.add_subparsers(dest="process", required=True)
    web = commands.add_parser("web", help="the web process answers /health/ with 200")
    web.add_argument("url", nargs="?", default=WEB_URL)
    beat = commands.add_parser("beat", help="beat wrote its schedule file lately")
    beat.add_argument("--max-age", type=float, default=BEAT_MAX_AGE_SECONDS)
    args = parser.parse_args(argv)

    if args.process == "web":
        problem = check_web(args.url)
    else:
        from django.conf import settings

        problem = check_beat(settings.CELERY_BEAT_SCHEDULE_FILENAME, max_age=args.max_age)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
