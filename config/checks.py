"""What production refuses: set-ups that run but lose work, leak data or send nothing.

With ``DSAR_ENV=production`` these are errors of Django's system checks (``manage.py check
--deploy`` lists them all, and every management command that runs checks stops on them), and the
web, worker and beat processes, which run no checks of their own, stop at start-up with the same
messages (``refuse_unsafe_production``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

# Backends that keep an email on this machine instead of sending it: the person never gets the
# link, and the console one writes verification links and download codes into the logs.
_LOCAL_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "writes every email to the log",
    "django.core.mail.backends.filebased.EmailBackend": "writes every email to a file",
    "django.core.mail.backends.locmem.EmailBackend": "keeps every email in memory",
    "django.core.mail.backends.dummy.EmailBackend": "throws every email away",
}
_SINGLE_PROCESS_BROKERS = ("filesystem://", "memory://")


def production_problems() -> list[CheckMessage]:
    """The reasons this production set-up is unsafe; empty when it is not production."""
    if not settings.PRODUCTION:
        return []
    problems: list[CheckMessage] = []
    if settings.DEBUG:
        problems.append(
            Error(
                "DEBUG is on while DSAR_ENV=production: error pages would show settings, "
                "queries and the personal data in them.",
                hint="Remove DEBUG from the environment (and from any .env file) or set "
                "DEBUG=false.",
                id="dsar.E001",
            )
        )
    if settings.CELERY_BROKER_URL.startswith(_SINGLE_PROCESS_BROKERS) and not (
        settings.ALLOW_SINGLE_PROCESS_BROKER
    ):
        problems.append(
            Error(
                "No Redis: without REDIS_URL, Celery uses the filesystem broker in "
                f"{settings.VAR_DIR / 'broker'} and every process has its own cache, so work "
                "stays on this machine and each web process counts rate limits on its own.",
                hint="Set REDIS_URL=redis://host:6379/0, or DSAR_ALLOW_SINGLE_PROCESS_BROKER=true "
                "to run web, worker and beat on one machine with a single web process on purpose.",
                id="dsar.E002",
            )
        )
    backend = settings.EMAIL_BACKEND
    if not backend:
        problems.append(
            Error(
                "No email backend: DSAR Desk cannot send verification links, download codes "
                "or answers.",
                hint="Set EMAIL_URL=smtp://user:password@host:587/?tls=True for an SMTP relay, "
                "or EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend with ANYMAIL.",
                id="dsar.E003",
            )
        )
    elif backend in _LOCAL_EMAIL_BACKENDS:
        problems.append(
            Error(
                f"EMAIL_BACKEND={backend} {_LOCAL_EMAIL_BACKENDS[backend]} instead of sending "
                "it: people never get their links, and the messages hold their codes.",
                hint="Set EMAIL_URL for an SMTP relay or EMAIL_BACKEND to an anymail provider.",
                id="dsar.E003",
            )
        )
    if not settings.SITE_URL.startswith("https://"):
        problems.append(
            Error(
                f"SITE_URL={settings.SITE_URL} is not an https:// address: it is the base of "
                "every link in the emails.",
                hint="Set SITE_URL to the public address, e.g. https://privacy.example.com.",
                id="dsar.E004",
            )
        )
    return problems


def check_production_setup(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The system check; registered by the dsar app."""
    return production_problems()


def refuse_unsafe_production() -> None:
    """Stop a process that runs no system checks (gunicorn, the worker, beat) at start-up."""
    problems = production_problems()
    if problems:
        lines = [f"- {problem.msg} {problem.hint} ({problem.id})" for problem in problems]
        raise ImproperlyConfigured(
            "DSAR Desk will not start with DSAR_ENV=production:\n" + "\n".join(lines)
        )
