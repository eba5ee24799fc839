"""What every log line says about where it comes from: the case reference and the system.

Code that works on a case binds them once, and every log line written inside the block, by any
logger, carries them::

    from dsar.logcontext import log_context

    with log_context(case=case.reference, system=system.key):
        logger.info("export started")        # ... case=DSAR-2026-000123 system=hubspot

Blocks nest: an inner block overrides what it names and keeps the rest. The values live in
context variables, so they follow the code through threads' own contexts and never leak from
one Celery task or request into the next. Bind references and system keys only, never a
person's details: log lines are kept longer than cases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_case: ContextVar[str | None] = ContextVar("dsar_log_case", default=None)
_system: ContextVar[str | None] = ContextVar("dsar_log_system", default=None)


@contextmanager
def log_context(*, case: str | None = None, system: str | None = None) -> Iterator[None]:
    """Bind a case reference and/or a system key to every log line written inside the block."""
    tokens = []
    if case is not None:
        tokens.append((_case, _case.set(case)))
    if system is not None:
        tokens.append((_system, _system.set(system)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, str | None]:
    """What is bound now: ``{"case": ..., "system": ...}`` (None where nothing is)."""
    return {"case": _case.get(), "system": _system.get()}


class ContextFilter(logging.Filter):
    """Puts the bound case and system on each record (as ``record.case``, ``record.system``);
    a value given with ``extra={"case": ...}`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "case", None) is None:
            record.case = _case.get()
        if getattr(record, "system", None) is None:
            record.system = _system.get()
        return True
