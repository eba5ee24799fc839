"""The one logging set-up of the web, worker and beat processes (and gunicorn's own lines).

Every line carries a timestamp (UTC, ISO 8601), the level, the logger's name, the message and,
when the code bound them with ``dsar.logcontext.log_context``, the case reference and the system.
Two formats, chosen by LOG_FORMAT: ``json`` (one object a line, for a log collector; the
production default) and ``text`` (for a person at a terminal).

Every record passes the filters of the one ``console`` handler. That list is the hook for
filters that must see every line, the access log's included (``redaction filters go here``).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

FORMATS = ("json", "text")

# Django puts the request object on its error records; its repr holds the full path, which can
# hold a token. The status code stays.
_NEVER_LOGGED = ["request", "taskName", "color_message"]


def _utc_iso(created: float) -> str:
    return dt.datetime.fromtimestamp(created, tz=dt.UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``2026-03-01T09:00:00.000+00:00 INFO dsar.runs [DSAR-2026-000123 hubspot] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_iso(record.created)

    def format(self, record: logging.LogRecord) -> str:
        bound = [getattr(record, "case", None), getattr(record, "system", None)]
        known = [str(value) for value in bound if value]
        record.where = f" [{' '.join(known)}]" if known else ""
        return super().format(record)


class JsonFormatter(_LibraryJsonFormatter):
    """``{"timestamp": ..., "level": ..., "logger": ..., "message": ..., "case": ...,
    "system": ...}`` plus any ``extra`` fields the call gave."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message", "case", "system"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, *_NEVER_LOGGED],
            timestamp=True,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        fields = {
            key: value for key, value in log_data.items() if key not in ("timestamp", "where")
        }
        log_data.clear()
        log_data["timestamp"] = _utc_iso(record.created)
        log_data.update(fields)


def build_logging(*, log_format: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dictionary for Django, and gunicorn's ``logconfig_dict``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "dsar.logcontext.ContextFilter"},
            # Tokens and keys out of every line, the access log's included (dsar.logfilters).
            "redact_secrets": {"()": "dsar.logfilters.RedactSecrets"},
        },
        "formatters": {
            "json": {"()": "config.logs.JsonFormatter"},
            "text": {"()": "config.logs.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": log_format,
                "filters": ["redact_secrets", "context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console and mail handlers would write a second copy in another form.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "gunicorn.error": {"handlers": [], "level": level, "propagate": True},
            "gunicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
            # httpx logs every URL at INFO, and some carry a subject's email address.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "weasyprint": {"level": "WARNING"},
            "fontTools": {"level": "WARNING"},
        },
    }
