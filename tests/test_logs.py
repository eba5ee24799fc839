"""Log lines say when, how bad, where from, and which case and system, in one format for every
process; production writes JSON; the access log leaves query strings out."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from dsar.logcontext import ContextFilter, current, log_context
from tests.support import RedisServer, WebProcess, WorkerProcess
from tests.test_production_settings import production_env

ROOT = Path(__file__).resolve().parent.parent

SNIPPET = """
import logging
from dsar.logcontext import log_context
with log_context(case="DSAR-2026-000123", system="hubspot"):
    logging.getLogger("dsar.runs").warning("export started")
"""


def run_snippet(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SNIPPET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stderr.strip().splitlines()[-1]


def test_production_writes_json_lines_with_time_level_logger_case_and_system() -> None:
    line = json.loads(run_snippet(production_env()))
    assert line["level"] == "WARNING"
    assert line["logger"] == "dsar.runs"
    assert line["message"] == "export started"
    assert line["case"] == "DSAR-2026-000123"
    assert line["system"] == "hubspot"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["timestamp"])


def test_the_text_format_puts_the_same_facts_on_one_readable_line() -> None:
    line = run_snippet({**os.environ, "LOG_FORMAT": "text"})
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\S+ WARNING dsar\.runs \[DSAR-2026-000123 hubspot\] export started",
        line,
    ), line


def test_an_unknown_log_format_stops_with_the_choices() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "LOG_FORMAT='xml' is not a log format: use json or text" in result.stderr


def test_nested_contexts_override_what_they_name_and_restore_it_after() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.logcontext")
    logger.addHandler(handler)
    try:
        with log_context(case="DSAR-1"):
            with log_context(system="mailchimp"):
                logger.warning("inner")
            logger.warning("outer")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    assert [(r.case, r.system) for r in records] == [  # type: ignore[attr-defined]
        ("DSAR-1", "mailchimp"),
        ("DSAR-1", None),
        (None, None),
    ]
    assert current() == {"case": None, "system": None}


def test_the_access_log_is_json_and_leaves_the_query_string_out(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({"LOG_FORMAT": "json", "DSAR_VAR_DIR": str(tmp_path / "var")})
    web = WebProcess(env=env, log=tmp_path / "web.log")
    web.start()
    try:
        response = httpx.get(
            web.url + "/?code=secret-code-123",
            headers={"Referer": "https://dsar.example.com/download/secret-token/"},
            timeout=30,
        )
        assert response.status_code == 200
    finally:
        web.stop()
    lines = [json.loads(line) for line in (tmp_path / "web.log").read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert len(access) == 1
    assert '"GET / HTTP/1.1" 200' in access[0]["message"]
    assert "secret" not in (tmp_path / "web.log").read_text()


def test_the_worker_logs_in_the_configured_format(tmp_path: Path) -> None:
    redis = RedisServer()
    redis.start()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({"LOG_FORMAT": "json", "REDIS_URL": redis.url})
    worker = WorkerProcess(env=env, log=tmp_path / "worker.log", concurrency=1)
    try:
        worker.start()
    finally:
        worker.stop()
        redis.stop()
    json_lines = [
        json.loads(line)
        for line in (tmp_path / "worker.log").read_text().splitlines()
        if line.startswith("{")
    ]
    ready = [line for line in json_lines if line["message"].endswith(" ready.")]
    assert ready
    assert ready[0]["logger"] == "celery.apps.worker"
    assert ready[0]["level"] == "INFO"
