"""All of DSAR Desk's settings, read from the environment in this one place (12-factor).

Two modes: development (the default: SQLite, an embedded broker, emails in a local outbox) and
production (``DSAR_ENV=production``: every security setting on, secrets required). Nothing else in
the code base reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from config.logs import FORMATS as LOG_FORMATS
from config.logs import build_logging
from connectors.settings import ConnectorSecrets, SecretPolicy

# Lets admin and queryset classes be subscripted for the type checker at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DSAR_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _make_dirs(*paths: Path) -> None:
    """Create the folders the settings point into (a fresh checkout has none of them), or say
    which one cannot be made."""
    for path in paths:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"DSAR Desk keeps files in {path} and cannot create it ({exc.strerror}): "
                "create it, or set DSAR_VAR_DIR (or the setting naming it) to a writable place."
            ) from exc


# The default SQLite database, the outbox, the broker's files and the media live here.
_make_dirs(VAR_DIR)

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
    # First: answers /health/ before host validation and the HTTPS redirect, for local probes.
    "config.health.HealthCheckMiddleware",
    # First: the client's address, and forwarded headers only from trusted proxies.
    "dsar.clientaddr.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

if PRODUCTION:
    # Static files straight from the application server, compressed and cached for ever.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

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
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # An unreachable server fails the request (and the health check) instead of hanging.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
        # Prepared statements, which Django turns off (None), only where a cursor asks for them:
        # the public form's two statements (dsar.inserts.prepared_cursor). Django's own cursors
        # bind values on the client and are never prepared (unless OPTIONS sets
        # server_side_binding, which would prepare every query run 5 times on a connection).
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
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
SILENCED_SYSTEM_CHECKS: list[str] = []

if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # One process (runserver) serves the demo, so a local-memory cache is shared by all requests.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.W001")

# With no Redis, Celery uses kombu's filesystem transport: a real worker process reads messages
# that the web process writes as files, so the demo needs no service and keeps queued work
# across restarts.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
# Production refuses the filesystem broker and the per-process cache unless this says that one
# machine with one web process is what is wanted (config/checks.py).
ALLOW_SINGLE_PROCESS_BROKER = env.bool("DSAR_ALLOW_SINGLE_PROCESS_BROKER", default=False)
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND", default=REDIS_URL or f"file://{VAR_DIR / 'results'}"
)
if CELERY_RESULT_BACKEND.startswith("file://"):
    _make_dirs(Path(CELERY_RESULT_BACKEND.removeprefix("file://")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    _make_dirs(BROKER_DIR / "queue", BROKER_DIR / "control")
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A task not acknowledged within this time (its worker died) is delivered again; see
    # "Timings" below for how it relates to the run lease and the task time limits.
    # A worker takes from its queues in the order of CELERY_TASK_QUEUES, not in turn: a
    # system's run (quick, and often the one a freed slot was handed to) before any answer.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": None,
        "queue_order_strategy": "priority",
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Building answers (ZIP, PDF) takes a worker for seconds; a system's run, often waiting for its
# turn under the system's bound, should not queue behind all of them. The answers have a queue
# of their own, which a worker takes from when the first queue is empty (on Redis: the
# transport's queue_order_strategy above).
DELIVERABLES_QUEUE_SUFFIX = ".deliverables"
CELERY_TASK_QUEUES = (
    Queue(CELERY_TASK_DEFAULT_QUEUE),
    Queue(CELERY_TASK_DEFAULT_QUEUE + DELIVERABLES_QUEUE_SUFFIX),
)
CELERY_TASK_ROUTES = ("config.celery.route_task",)
# Tasks go out below the highest priority (on Redis 0 is the highest), which is kept for a run
# woken to take the slot just handed to it (dsar.queue.AHEAD).
CELERY_TASK_DEFAULT_PRIORITY = 3
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Results are never read: a run settles its case itself, so nothing is kept in Redis for them
# (and queuing a task does not subscribe to its result).
CELERY_TASK_IGNORE_RESULT = True
# A worker process keeps its database connection across tasks (Celery's Django fixup closes it
# only every this many tasks, instead of around every task); a connection that failed or is
# older than CONN_MAX_AGE is closed after its task (config/celery.py).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# A web request that queues work while the broker is down waits at most about two seconds,
# then goes on; the sweeper publishes the work later (dsar.queue).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule")
)
CELERY_BEAT_SCHEDULE = {
    "sweep": {
        "task": "dsar.tasks.sweep_task",
        "schedule": env.float("DSAR_SWEEP_SECONDS", default=60.0),
    },
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
    "anchor-event-chains": {
        "task": "dsar.anchors.anchor_chains_task",
        "schedule": crontab(hour=2, minute=15),
    },
    # Art. 21(3): people who objected to direct marketing and are subscribed again somewhere.
    "enforce-marketing-objections": {
        "task": "dsar.tasks.enforce_marketing_objections_task",
        "schedule": env.float("DSAR_MARKETING_CHECK_SECONDS", default=3600.0),
    },
}

# --- Email ----------------------------------------------------------------------------------
# Production sends through an ESP with django-anymail (EMAIL_BACKEND=anymail.backends.<esp>...,
# ANYMAIL='{"POSTMARK_SERVER_TOKEN": "..."}'); EMAIL_URL=smtp://host:port for a plain SMTP relay.
# Production has no default: it refuses to start until one of them is set (config/checks.py).
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
        default="" if PRODUCTION else "django.core.mail.backends.filebased.EmailBackend",
    )
    EMAIL_FILE_PATH = str(OUTBOX_DIR)
    if EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
        _make_dirs(OUTBOX_DIR)
ANYMAIL = env.json("ANYMAIL") if env.str("ANYMAIL", default="") else {}
# Mailgun signs its tracking webhook (/anymail/mailgun/tracking/, dsar.webhooks) with this key;
# the route answers 404 without it. It may also be given inside ANYMAIL.
if env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""):
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = env.str("MAILGUN_WEBHOOK_SIGNING_KEY")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@dsar-desk.example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
# English dates in the European order (config/formats/en).
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
_make_dirs(MEDIA_ROOT)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- The product's own rules ----------------------------------------------------------------


def _networks(variable: str) -> list[str]:
    """Addresses or networks, comma-separated, each checked here rather than at a request."""
    values: list[str] = env.list(variable, default=[])
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as error:
            raise ImproperlyConfigured(f"{variable}: {error}") from None
    return values


DSAR = {
    "VERIFICATION_TTL_HOURS": env.int("DSAR_VERIFICATION_TTL_HOURS", default=72),
    "UNVERIFIED_CASE_TTL_DAYS": env.int("DSAR_UNVERIFIED_CASE_TTL_DAYS", default=14),
    "RATE_PER_IP": env.str("DSAR_RATE_PER_IP", default="20/h"),
    "RATE_PER_EMAIL": env.str("DSAR_RATE_PER_EMAIL", default="5/h"),
    "MAX_TEXT_LENGTH": env.int("DSAR_MAX_TEXT_LENGTH", default=4000),
    # A system run's claim lasts this long (renewed at each checkpoint of an export); see
    # "Timings" below.
    "RUN_LEASE_SECONDS": env.int("DSAR_RUN_LEASE_SECONDS", default=120),
    # An export's progress (records and cursor) is made durable at most this often, and always
    # when the attempt ends; a worker that dies pages again from the last durable checkpoint.
    "RUN_CHECKPOINT_SECONDS": env.float("DSAR_RUN_CHECKPOINT_SECONDS", default=1.0),
    "SWEEP_SECONDS": env.float("DSAR_SWEEP_SECONDS", default=60.0),
    # A run published this long ago and still not taken is published again by the sweeper
    # (sooner when the broker's queue is empty: the message was lost).
    "REQUEUE_AFTER_SECONDS": env.float("DSAR_REQUEUE_AFTER_SECONDS", default=600.0),
    # Email deliveries: attempts and the first wait; each wait doubles, up to the maximum.
    "EMAIL_MAX_ATTEMPTS": env.int("DSAR_EMAIL_MAX_ATTEMPTS", default=10),
    "EMAIL_BACKOFF_SECONDS": env.float("DSAR_EMAIL_BACKOFF_SECONDS", default=30.0),
    "EMAIL_BACKOFF_MAX_SECONDS": env.float("DSAR_EMAIL_BACKOFF_MAX_SECONDS", default=3600.0),
    # Jobs (building the files, status callbacks): attempts before they fail for staff to see.
    "JOB_MAX_ATTEMPTS": env.int("DSAR_JOB_MAX_ATTEMPTS", default=8),
    # Files staff attach to a manual task (a photographed business card, an archived email).
    "MANUAL_FILE_MAX_BYTES": env.int("DSAR_MANUAL_FILE_MAX_BYTES", default=10 * 1024 * 1024),
    "JOB_BACKOFF_SECONDS": env.float("DSAR_JOB_BACKOFF_SECONDS", default=5.0),
    # Request types that staff review before any system is touched (corrections and
    # objections to other processing are always reviewed).
    "REVIEW_TYPES": env.list("DSAR_REVIEW_TYPES", default=[]),
    # Whether the deadline waits while staff wait for the person's answer to a question
    # (Art. 12(6)); by default it keeps running.
    "INFORMATION_PAUSES_DEADLINE": env.bool("DSAR_INFORMATION_PAUSES_DEADLINE", default=False),
    # How often the marketing systems are checked for people who objected to direct marketing
    # and are subscribed again (dsar.housekeeping.enforce_marketing_objections).
    "MARKETING_CHECK_SECONDS": env.float("DSAR_MARKETING_CHECK_SECONDS", default=3600.0),
    # A closed case keeps its personal details this long (never under 24 months: CCPA §7101).
    "CASE_RETENTION_DAYS": max(env.int("DSAR_CASE_RETENTION_DAYS", default=3 * 365), 731),
    # The files of a rejected, cancelled or expired case (raw exports, attachments) are deleted
    # this long after it closed (Art. 5(1)(e)); a run still at work when it closed ends first.
    "CLOSED_FILES_GRACE_HOURS": env.float("DSAR_CLOSED_FILES_GRACE_HOURS", default=1.0),
    "TEAM_EMAIL": env.str("DSAR_TEAM_EMAIL", default="privacy-team@example.com"),
    # Failed staff sign-ins allowed per user name, and per client address.
    "ADMIN_LOGIN_RATE": env.str("DSAR_ADMIN_LOGIN_RATE", default="10/15m"),
    "ADMIN_LOGIN_IP_RATE": env.str("DSAR_ADMIN_LOGIN_IP_RATE", default="50/15m"),
    # The reverse proxies (addresses or networks) whose X-Forwarded-For and -Proto we believe.
    "TRUSTED_PROXIES": _networks("DSAR_TRUSTED_PROXIES"),
    # Only tests and local set-ups let status callbacks reach private or loopback addresses.
    "CALLBACK_ALLOW_PRIVATE": env.bool("DSAR_CALLBACK_ALLOW_PRIVATE", default=False),
    "CONTROLLER_ID": env.str("DSAR_CONTROLLER_ID", default="dsar-desk"),
    "DOWNLOAD_TTL_DAYS": env.int("DSAR_DOWNLOAD_TTL_DAYS", default=14),
    "DOWNLOAD_MAX": env.int("DSAR_DOWNLOAD_MAX", default=10),
    "DOWNLOAD_CODE_TTL_MINUTES": env.int("DSAR_DOWNLOAD_CODE_TTL_MINUTES", default=15),
    # Failed attempts in a row (without progress, not counting waits for a rate limit) before a
    # run gives up and waits for staff; an attempt that makes progress starts the count again.
    "RUN_MAX_ATTEMPTS": env.int("DSAR_RUN_MAX_ATTEMPTS", default=10),
    "RUN_BACKOFF_SECONDS": env.float("DSAR_RUN_BACKOFF_SECONDS", default=5.0),
    "RUN_BACKOFF_MAX_SECONDS": env.float("DSAR_RUN_BACKOFF_MAX_SECONDS", default=600.0),
    "CONTROLLER_NAME": env.str("DSAR_CONTROLLER_NAME", default="DSAR Desk demo controller"),
    "CONTROLLER_CONTACT": env.str("DSAR_CONTROLLER_CONTACT", default=DEFAULT_FROM_EMAIL),
    # Where each case's chain head is anchored daily (append-only; write-once in production).
    "AUDIT_ANCHOR_FILE": env.str(
        "DSAR_AUDIT_ANCHOR_FILE", default=str(VAR_DIR / "audit" / "anchors.jsonl")
    ),
}
# --- Timings: one source, and the relations that keep them consistent ------------------------
# - A run's task is killed (hard limit) before its lease lapses, so no two workers ever run it at
#   once; an export attempt stops at its next checkpoint after ATTEMPT_BUDGET and continues in a
#   new task, so long exports never meet the limit.
# - The broker redelivers an unacknowledged task (its worker died) only after the visibility
#   timeout, which is longer than any task may take or be delayed: a live task is never delivered
#   twice. A dead worker's run is not left waiting for it: the sweeper, every SWEEP_SECONDS,
#   publishes the run again once its lease lapsed, so a run is taken over at most
#   lease + SWEEP_SECONDS after its worker died.
# - No task is ever delayed (countdown) by more than MAX_COUNTDOWN; longer waits are not_before
#   times on the rows, which the sweeper honours.
_lease = DSAR["RUN_LEASE_SECONDS"]
DSAR["RUN_ATTEMPT_BUDGET_SECONDS"] = _lease * 0.5
CELERY_TASK_SOFT_TIME_LIMIT = int(_lease * 0.7)
CELERY_TASK_TIME_LIMIT = int(_lease * 0.8)
DSAR["MAX_COUNTDOWN_SECONDS"] = min(60.0, DSAR["SWEEP_SECONDS"] * 2)
if "visibility_timeout" in CELERY_BROKER_TRANSPORT_OPTIONS:
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env.int(
        "CELERY_VISIBILITY_TIMEOUT", default=max(3600, 4 * _lease)
    )
    if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= (
        CELERY_TASK_TIME_LIMIT + DSAR["MAX_COUNTDOWN_SECONDS"]
    ):
        raise ImproperlyConfigured(
            "CELERY_VISIBILITY_TIMEOUT must exceed the task time limit (0.8 x "
            "DSAR_RUN_LEASE_SECONDS) plus the longest countdown, or a live task is delivered "
            "twice"
        )
if DSAR["SWEEP_SECONDS"] > 60:
    raise ImproperlyConfigured("DSAR_SWEEP_SECONDS must be at most 60: lapsed runs wait for it")
if not 0 <= DSAR["RUN_CHECKPOINT_SECONDS"] <= _lease * 0.1:
    raise ImproperlyConfigured(
        "DSAR_RUN_CHECKPOINT_SECONDS must be between 0 and 0.1 x DSAR_RUN_LEASE_SECONDS: a "
        "durable checkpoint renews the run's lease"
    )
# Tests only: the worker kills itself at this point, once (dsar.testhooks).
DSAR_TEST_CRASH_AT = env.str("DSAR_TEST_CRASH_AT", default="")
DSAR_TEST_CRASH_MARKER = env.str("DSAR_TEST_CRASH_MARKER", default=str(VAR_DIR / "crash-marker"))
# With it, the whole process group dies (a worker's main process, its pool and its beat: the
# machine lost), not only the process that reached the point.
DSAR_TEST_CRASH_GROUP = env.bool("DSAR_TEST_CRASH_GROUP", default=False)
if PRODUCTION and DSAR_TEST_CRASH_AT:
    raise ImproperlyConfigured("DSAR_TEST_CRASH_AT is a test hook and never set in production")
# If the cache (Redis) is down, rate limits let requests through rather than fail them.
RATELIMIT_FAIL_OPEN = True

# Connectors read their secrets (API tokens, database URLs) from environment variables whose
# names their DataSystem's settings give; this mapping is the one door to them, and it holds
# only the allowed ones: names starting DSAR_SECRET_, and the names listed here. The product's
# own secrets can never be listed. DSAR_PINNED_SECRET_HOSTS pins a secret to the hosts it may
# be sent to: "DSAR_SECRET_HUBSPOT_TOKEN=api.hubapi.com;DSAR_SECRET_X=a.example|b.example".
_OWN_SECRETS = {
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "ANYMAIL",
    "MAILGUN_WEBHOOK_SIGNING_KEY",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DSAR_AUDIT_KEYS",
    "DSAR_SUPPRESSION_KEYS",
    "DSAR_CERTIFICATE_KEYS",
}
_allowed_secret_names = frozenset(env.list("DSAR_ALLOWED_SECRET_NAMES", default=[]))
if _allowed_secret_names & _OWN_SECRETS:
    raise ImproperlyConfigured(
        "DSAR_ALLOWED_SECRET_NAMES may not list the product's own secrets: "
        + ", ".join(sorted(_allowed_secret_names & _OWN_SECRETS))
    )


def _secret_hosts(raw: str) -> dict[str, frozenset[str]]:
    pins = {}
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        name, _equals, hosts = item.partition("=")
        pins[name.strip()] = frozenset(h.strip().lower() for h in hosts.split("|") if h.strip())
    return pins


CONNECTOR_SECRETS = ConnectorSecrets(
    os.environ,
    policy=SecretPolicy(
        names=_allowed_secret_names,
        hosts=_secret_hosts(env.str("DSAR_PINNED_SECRET_HOSTS", default="")),
    ),
)


def _key_ring(variable: str, purpose: str) -> list[tuple[str, str]]:
    """``id:secret`` pairs, comma-separated, the current key first (see dsar.keys)."""
    raw = env.str(variable, default="")
    if not raw and not PRODUCTION:
        raw = f"dev:dev-only-{purpose}-key-never-use-in-production"
    keys = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, _colon, secret = item.partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", key_id) or not secret:
            raise ImproperlyConfigured(f"{variable}: write each key as id:secret")
        if key_id == "secret-key":
            raise ImproperlyConfigured(f"{variable}: the key id 'secret-key' is reserved")
        keys.append((key_id, secret))
    return keys


# One key ring per purpose, kept out of the database and apart from SECRET_KEY (dsar.keys).
# In production they must be set (a system check says so); the demo uses fixed dev keys.
DSAR_KEYS = {
    "audit": _key_ring("DSAR_AUDIT_KEYS", "audit"),
    "suppression": _key_ring("DSAR_SUPPRESSION_KEYS", "suppression"),
    "certificate": _key_ring("DSAR_CERTIFICATE_KEYS", "certificate"),
}

# Every rate limit keyed on "ip" uses the client address behind the trusted proxies.
RATELIMIT_IP_META_KEY = "dsar.clientaddr.client_address"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["dsar.api.auth.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["dsar.api.auth.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env.str("DSAR_API_RATE", default="600/hour")},
    "EXCEPTION_HANDLER": "dsar.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "dsar.api.pagination.BoundedPagination",
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
# Content-Security-Policy (django-csp): scripts, styles, fonts and connections from this site
# only, no inline script or style anywhere (the public pages, the admin and the API docs all
# work under it), no plugins, no framing, forms posting only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Asking browsers to build the HTTPS-only rule in (hstspreload.org) is a commitment for the
    # whole domain that takes months to undo: the operator opts in.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # check --deploy's reminder that a site without it cannot join the preload list.
        SILENCED_SYSTEM_CHECKS.append("security.W021")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Custom error pages that need no database (config/errors.py, templates/errors/).
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

# --- Logs -----------------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(
        f"LOG_FORMAT={LOG_FORMAT!r} is not a log format: use {' or '.join(LOG_FORMATS)}."
    )
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = build_logging(log_format=LOG_FORMAT, level=LOG_LEVEL)
