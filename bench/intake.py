"""Benchmark: the public form's POST against a bare one-INSERT view, on the same server.

Starts what production runs (gunicorn with config/gunicorn.py and production settings, two sync
workers) against a scratch PostgreSQL database and a Redis server of its own, with an aiosmtpd
server as the email backend. The application's URLs are served together with a bare view that
does one INSERT behind the same middleware (bench/intake_urls.py, only here). wrk drives both
with the same load (-t2 -c16 -d10s by default), the bare view and the form in turn, three times
each; every POST comes from another client address through the trusted-proxy header and names
another email address, so the per-address and per-email limits apply as in production without
refusing anything. Needs wrk, redis-server and a PostgreSQL server (--database-url).

    .venv/bin/python bench/intake.py --database-url postgres://postgres@127.0.0.1:5432/postgres

The last line (medians of the rounds):
    intake form_rps=<a> bare_rps=<b> ratio=<a/b> cases_created=<n> requests_ok=<m>
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from tests.support import free_port, stop_process, wait_for_port  # noqa: E402

HOST = "dsar.example.com"

# One Lua state per wrk thread: each POST names a new address (X-Forwarded-For) and a new
# email address, and carries the same CSRF cookie and token (a token is valid for any request
# with its cookie).
WRK_SCRIPT = r"""
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  n = 0
end
function request()
  n = n + 1
  local address = string.format("10.%d.%d.%d", tid + 1, math.floor(n / 250) % 250, n % 250 + 1)
  local body = "csrfmiddlewaretoken=TOKEN&request_type=access&name=Bench+Person"
    .. "&customer_number=&forum_username=&email=p" .. tid .. "-" .. n .. "%40example.com"
  return wrk.format("POST", wrk.path, {
    ["Host"] = "HOST",
    ["Origin"] = "https://HOST",
    ["X-Forwarded-Proto"] = "https",
    ["X-Forwarded-For"] = address,
    ["Cookie"] = "csrftoken=TOKEN",
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
"""


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def wrk(
    url: str, script: Path, *, threads: int, connections: int, seconds: int
) -> dict[str, float]:
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (
        sum(int(g) for g in errors.groups()) if errors else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "ok": total - (int(bad.group(1)) if bad else 0), "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with scratch_database(args.database_url, "dsar_bench_intake") as database_url:
        run(args, database_url)


def run(args: argparse.Namespace, database_url: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dsar-bench-intake-"))
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    token = secrets.token_hex(16)  # a CSRF secret: 32 characters
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DSAR_", "DEBUG", "EMAIL_", "DJANGO_ALLOW_ASYNC", "CELERY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="bench.intake_settings",
        DSAR_ENV="production",
        DSAR_VAR_DIR=str(workdir / "var"),
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        SECRET_KEY="bench-" + secrets.token_hex(32),
        ALLOWED_HOSTS=HOST,
        SITE_URL=f"https://{HOST}",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
        DSAR_TRUSTED_PROXIES="127.0.0.1/32",
        LOG_LEVEL="WARNING",
        **{
            f"DSAR_{purpose}_KEYS": f"2026:{purpose.lower()}-" + secrets.token_hex(24)
            for purpose in ("AUDIT", "SUPPRESSION", "CERTIFICATE")
        },
    )
    web: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(redis_port, process=redis)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, created_at timestamptz)")
        port = free_port()
        web = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)),
            ],
            cwd=ROOT,
            env=env,
            stdout=(workdir / "web.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(port, process=web, timeout=60)
        script = workdir / "post.lua"
        script.write_text(WRK_SCRIPT.replace("TOKEN", token).replace("HOST", HOST))
        base = f"http://127.0.0.1:{port}"
        # Warm both up (imports, connections), then measure them in turn.
        for path in ("/bench/bare/", "/"):
            wrk(base + path, script, threads=1, connections=2, seconds=2)
        with psycopg.connect(database_url, autocommit=True) as db:
            before = db.execute("SELECT count(*) FROM dsar_case").fetchone()[0]  # type: ignore[index]
        form: list[dict[str, float]] = []
        bare: list[dict[str, float]] = []
        for n in range(args.rounds):
            bare.append(
                wrk(base + "/bench/bare/", script, threads=2, connections=16, seconds=args.seconds)
            )
            form.append(wrk(base + "/", script, threads=2, connections=16, seconds=args.seconds))
            print(
                f"round {n + 1}: form {form[-1]['rps']:.0f} req/s ({form[-1]['failed']:.0f} "
                f"failed), bare {bare[-1]['rps']:.0f} req/s ({bare[-1]['failed']:.0f} failed)"
            )
        with psycopg.connect(database_url, autocommit=True) as db:
            after = db.execute("SELECT count(*) FROM dsar_case").fetchone()[0]  # type: ignore[index]
        form_rps = statistics.median(r["rps"] for r in form)
        bare_rps = statistics.median(r["rps"] for r in bare)
        requests_ok = int(sum(r["ok"] for r in form))
        print(
            f"intake form_rps={form_rps:.1f} bare_rps={bare_rps:.1f} "
            f"ratio={form_rps / bare_rps:.3f} cases_created={after - before} "
            f"requests_ok={requests_ok}"
        )
    finally:
        stop_process(web)
        smtp.stop()
        stop_process(redis)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
