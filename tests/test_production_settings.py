"""Production refuses unsafe set-ups at start-up, in every process, with a message that says
what to set; and a fresh checkout needs no hand-made folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Mailbox
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides: str | None) -> dict[str, str]:
    """A safe production environment, changed by ``overrides`` (None removes a variable)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DEBUG", "EMAIL_BACKEND", "EMAIL_URL"}
    }
    env.update(
        {
            "DSAR_ENV": "production",
            "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
            "ALLOWED_HOSTS": "dsar.example.com",
            "SITE_URL": "https://dsar.example.com",
            "EMAIL_URL": "smtp://127.0.0.1:2525",
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
            **{
                f"DSAR_{purpose}_KEYS": f"2026:{purpose.lower()}-" + "k" * 40
                for purpose in ("AUDIT", "SUPPRESSION", "CERTIFICATE")
            },
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture
def smtp_port(smtp_server: tuple[Mailbox, int]) -> int:
    return smtp_server[1]


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "manage.py", *args], env)


def test_a_safe_production_set_up_passes_check_deploy() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stderr + result.stdout


def test_a_checkpoint_interval_near_the_runs_lease_is_refused_at_start_up() -> None:
    # Each durable checkpoint renews the lease (120 s): saving them only every 13 s or more
    # would leave too little of it.
    result = manage("check", env=production_env(DSAR_RUN_CHECKPOINT_SECONDS="13"))
    assert result.returncode != 0
    assert "DSAR_RUN_CHECKPOINT_SECONDS" in result.stderr


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = manage("check", env=production_env(SECRET_KEY=None))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_without_redis_stops_and_says_to_set_redis_url() -> None:
    result = manage("check", "--deploy", env=production_env(REDIS_URL=None))
    assert result.returncode != 0
    assert "dsar.E002" in result.stderr
    assert "No Redis" in result.stderr
    assert "REDIS_URL" in result.stderr


def test_production_on_one_machine_without_redis_runs_when_chosen_explicitly() -> None:
    env = production_env(REDIS_URL=None, DSAR_ALLOW_SINGLE_PROCESS_BROKER="true")
    result = manage("check", "--deploy", env=env)
    assert result.returncode == 0, result.stderr
    assert "dsar.E002" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("django.core.mail.backends.console.EmailBackend", "writes every email to the log"),
        ("django.core.mail.backends.filebased.EmailBackend", "writes every email to a file"),
        ("django.core.mail.backends.locmem.EmailBackend", "keeps every email in memory"),
    ],
)
def test_production_with_an_email_backend_that_sends_nothing_stops(backend: str, says: str) -> None:
    result = manage("check", env=production_env(EMAIL_URL=None, EMAIL_BACKEND=backend))
    assert result.returncode != 0
    assert "dsar.E003" in result.stderr
    assert says in result.stderr


def test_production_without_any_email_backend_stops_and_names_the_settings() -> None:
    result = manage("check", env=production_env(EMAIL_URL=None))
    assert result.returncode != 0
    assert "No email backend" in result.stderr
    assert "EMAIL_URL" in result.stderr
    assert "EMAIL_BACKEND" in result.stderr


def test_production_with_debug_on_stops() -> None:
    result = manage("check", env=production_env(DEBUG="true"))
    assert result.returncode != 0
    assert "dsar.E001" in result.stderr
    assert "DEBUG is on while DSAR_ENV=production" in result.stderr


def test_production_with_plain_http_links_in_emails_stops() -> None:
    result = manage("check", env=production_env(SITE_URL="http://dsar.example.com"))
    assert result.returncode != 0
    assert "dsar.E004" in result.stderr


def test_migrate_refuses_an_unsafe_production_set_up_before_touching_the_database() -> None:
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    env = production_env(DEBUG="true", DATABASE_URL=closed)
    result = manage("migrate", env=env)
    assert result.returncode != 0
    assert "dsar.E001" in result.stderr


def test_the_web_server_refuses_to_start_with_the_console_email_backend() -> None:
    env = production_env(
        EMAIL_URL=None, EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend"
    )
    result = run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "1",
        ],
        env,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DSAR Desk will not start with DSAR_ENV=production" in result.stderr
    assert "writes every email to the log" in result.stderr


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_the_worker_and_beat_refuse_to_start_without_redis(process: str, tmp_path: Path) -> None:
    env = production_env(REDIS_URL=None, DSAR_VAR_DIR=str(tmp_path))
    result = run([sys.executable, "-m", "celery", "-A", "config", process], env, timeout=60)
    assert result.returncode != 0
    assert "DSAR Desk will not start with DSAR_ENV=production" in result.stderr
    assert "No Redis" in result.stderr


def test_a_fresh_checkout_migrates_without_making_folders_first(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DSAR_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env["DSAR_VAR_DIR"] = str(var)
    result = manage("migrate", "--no-input", "-v", "0", env=env)
    assert result.returncode == 0, result.stderr
    assert (var / "dsar.sqlite3").is_file()


def test_a_var_folder_that_cannot_be_made_is_named() -> None:
    env = {**os.environ, "DSAR_VAR_DIR": "/proc/dsar-desk/var"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "cannot create it" in result.stderr
    assert "/proc/dsar-desk/var" in result.stderr
    assert "DSAR_VAR_DIR" in result.stderr


def test_sendtestemail_sends_through_the_configured_relay(mailbox: Mailbox, smtp_port: int) -> None:
    env = production_env(EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}")
    result = manage("sendtestemail", "operator@example.com", env=env)
    assert result.returncode == 0, result.stderr
    [message] = mailbox.wait_for("operator@example.com")
    assert message["From"] == "privacy@dsar-desk.example.com"


def test_sendtestemail_fails_loudly_when_the_relay_is_down() -> None:
    env = production_env(EMAIL_URL=f"smtp://127.0.0.1:{free_port()}")
    result = manage("sendtestemail", "operator@example.com", env=env)
    assert result.returncode != 0
    assert "Connection refused" in result.stderr
