"""Production settings pass Django's deploy checks; the compose file has the whole stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_check_deploy_without_a_warning() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DSAR_ENV": "production",
        "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
        "ALLOWED_HOSTS": "dsar.example.com",
        **{
            f"DSAR_{purpose}_KEYS": f"2026:{purpose.lower()}-" + "k" * 40
            for purpose in ("AUDIT", "SUPPRESSION", "CERTIFICATE")
        },
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DSAR_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_its_audit_keys() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(DSAR_ENV="production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="dsar.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "dsar.E101" in result.stderr and "DSAR_AUDIT_KEYS" in result.stderr


def test_the_compose_file_runs_web_worker_beat_redis_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())
    assert set(compose["services"]) == {"web", "worker", "beat", "redis", "postgres"}
    worker = compose["services"]["worker"]
    assert worker["command"].startswith("celery -A config worker")
    assert compose["services"]["beat"]["command"].startswith("celery -A config beat")
    assert worker["environment"]["DSAR_ENV"] == "production"
    assert (ROOT / "docker" / "Dockerfile").exists()
