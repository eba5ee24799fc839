"""Tokens never reach a log: the one filter every log handler runs, and gunicorn's access log.

The subject's links carry secrets in their paths (``/verify/<token>/``, ``/download/<token>/``,
``/status/<key>/``), and Django's request log (``Not Found: /download/…``), the development
server's and gunicorn's access logs and Celery's task messages would print them. The filter
rewrites each record's message with those path segments, ``Authorization`` headers and API keys
replaced by ``[redacted]``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornBaseLogger

REDACTED = "[redacted]"
_PATTERNS = [
    # The secret segment of the subject's links, whatever precedes the path.
    (re.compile(r"(/(?:verify|download|status)/)[^/\s?#\"']+"), rf"\g<1>{REDACTED}"),
    # Bearer keys and API key material wherever they appear.
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"\bdsar_[A-Za-z0-9_-]{20,}"), REDACTED),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Let every record through, with secrets taken out of its message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Exception texts (an httpx error names its URL) are formatted by the handler.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RedactingGunicornLogger(GunicornBaseLogger):  # type: ignore[misc]
    """gunicorn's access log, with the request line and URL atoms redacted."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        values: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for atom in ("r", "U", "q", "f", "{raw_uri}e", "{path_info}e", "{request_uri}e"):
            if isinstance(values.get(atom), str):
                values[atom] = redact(values[atom])
        return values
