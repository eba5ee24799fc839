"""All of DSAR Desk's settings, read from the environment in this one place (12-factor).

Two modes: development (the default: SQLite, an embedded broker, emails in a local outbox) and
production (``DSAR_ENV=production``: every security setting on, secrets required). Nothing else in
the code base reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

# Lets admin and queryset classes be subscripted for the type checker at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DSAR_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DSAR_ENV = env.str("DSAR_ENV", default="development")
PRODUCTION = DSAR_ENV == "production"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Absolute base of the links in emails (verification, status page, downloads).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "dsar.apps.DsarAdminConfig",  # django.contrib.admin with DSAR Desk's own site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "dsar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if PRODUCTION:
    # Static files straight from the application server, compressed and cached for ever.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dsar.context_processors.controller",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dsar.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL, a busy timeout and transactions that take the write lock when they begin (so none
    # fails half-way on upgrading a read lock) let the web server and the worker processes
    # write to one file at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis, or the embedded fallback -------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # One process (runserver) serves the demo, so a local-memory cache is shared by all requests.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

# With no Redis, Celery uses kombu's filesystem transport: a real worker process reads messages
# that the web process writes as files, so the demo needs no service and keeps queued work
# across restarts.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND", default=REDIS_URL or f"file://{VAR_DIR / 'results'}"
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A task not acknowledged within this time (its worker died) is delivered again.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-unverified-cases": {
        "task": "dsar.tasks.expire_unverified_cases_task",
        "schedule": 15 * 60,
    },
    "deadline-reminders": {
        "task": "dsar.tasks.send_deadline_reminders_task",
        "schedule": crontab(hour=7, minute=0),
    },
    "purge-closed-cases": {
        "task": "dsar.tasks.purge_closed_cases_task",
        "schedule": crontab(hour=3, minute=30),
    },
    "delete-expired-artifacts": {
        "task": "dsar.tasks.delete_expired_artifacts_task",
        "schedule": 60 * 60,
    },
}

# --- Email ----------------------------------------------------------------------------------
# Production sends through an ESP with django-anymail (EMAIL_BACKEND=anymail.backends.<esp>...,
# ANYMAIL='{"POSTMARK_SERVER_TOKEN": "..."}'); EMAIL_URL=smtp://host:port for a plain SMTP relay.
# The demo writes every message to var/outbox, shown at /dev/outbox/ while DEBUG is on.
OUTBOX_DIR = VAR_DIR / "outbox"
if env.str("EMAIL_URL", default=""):
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
    EMAIL_PORT = int(_email.get("EMAIL_PORT") or 25)
    EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
    EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
    EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND",
        default="django.core.mail.backends.filebased.EmailBackend"
        if not PRODUCTION
        else "django.core.mail.backends.smtp.EmailBackend",
    )
    EMAIL_FILE_PATH = str(OUTBOX_DIR)
ANYMAIL = env.json("ANYMAIL") if env.str("ANYMAIL", default="") else {}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@dsar-desk.example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- The product's own rules ----------------------------------------------------------------
DSAR = {
    "VERIFICATION_TTL_HOURS": env.int("DSAR_VERIFICATION_TTL_HOURS", default=72),
    "UNVERIFIED_CASE_TTL_DAYS": env.int("DSAR_UNVERIFIED_CASE_TTL_DAYS", default=14),
    "RATE_PER_IP": env.str("DSAR_RATE_PER_IP", default="20/h"),
    "RATE_PER_EMAIL": env.str("DSAR_RATE_PER_EMAIL", default="5/h"),
    "MAX_TEXT_LENGTH": env.int("DSAR_MAX_TEXT_LENGTH", default=4000),
    # A system run's claim lasts this long; the run task's hard time limit is shorter, so a
    # live run is never taken over, and a run whose worker died is taken over after it.
    "RUN_LEASE_SECONDS": env.int("DSAR_RUN_LEASE_SECONDS", default=420),
    # Request types that staff review before any system is touched (corrections and
    # objections to other processing are always reviewed).
    "REVIEW_TYPES": env.list("DSAR_REVIEW_TYPES", default=[]),
    # A closed case keeps its personal details this long (never under 24 months: CCPA §7101).
    "CASE_RETENTION_DAYS": max(env.int("DSAR_CASE_RETENTION_DAYS", default=3 * 365), 731),
    "TEAM_EMAIL": env.str("DSAR_TEAM_EMAIL", default="privacy-team@example.com"),
    "ADMIN_LOGIN_RATE": env.str("DSAR_ADMIN_LOGIN_RATE", default="10/15m"),
    # Only tests and local set-ups let status callbacks reach private or loopback addresses.
    "CALLBACK_ALLOW_PRIVATE": env.bool("DSAR_CALLBACK_ALLOW_PRIVATE", default=False),
    "CONTROLLER_ID": env.str("DSAR_CONTROLLER_ID", default="dsar-desk"),
    "DOWNLOAD_TTL_DAYS": env.int("DSAR_DOWNLOAD_TTL_DAYS", default=14),
    "DOWNLOAD_MAX": env.int("DSAR_DOWNLOAD_MAX", default=10),
    "DOWNLOAD_CODE_TTL_MINUTES": env.int("DSAR_DOWNLOAD_CODE_TTL_MINUTES", default=15),
    "RUN_MAX_ATTEMPTS": env.int("DSAR_RUN_MAX_ATTEMPTS", default=6),
    "RUN_BACKOFF_SECONDS": env.float("DSAR_RUN_BACKOFF_SECONDS", default=5.0),
    "RUN_BACKOFF_MAX_SECONDS": env.float("DSAR_RUN_BACKOFF_MAX_SECONDS", default=600.0),
    "CONTROLLER_NAME": env.str("DSAR_CONTROLLER_NAME", default="DSAR Desk demo controller"),
    "CONTROLLER_CONTACT": env.str("DSAR_CONTROLLER_CONTACT", default=DEFAULT_FROM_EMAIL),
}
# Connectors read their secrets (API tokens, database URLs) from environment variables whose
# names their DataSystem's settings give; this mapping is the one door to them.
CONNECTOR_SECRETS = os.environ

RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="REMOTE_ADDR")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["dsar.api.auth.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["dsar.api.auth.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env.str("DSAR_API_RATE", default="600/hour")},
    "EXCEPTION_HANDLER": "dsar.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DSAR Desk API",
    "DESCRIPTION": "Create and follow data-subject requests; OpenDSR 2.0 compatible routes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "dsar.models.CaseStatus.choices",
        "RunStatusEnum": "dsar.models.RunStatus.choices",
        "LanguageEnum": "django.conf.settings.LANGUAGES",
    },
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every URL at INFO, and some carry a subject's email address.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
