"""Exact crash points for the tests of what survives a killed worker.

With ``DSAR_TEST_CRASH_AT=<point>`` (never allowed in production), the process that reaches that
point first kills itself with SIGKILL, once: a marker file (``DSAR_TEST_CRASH_MARKER``) records
that it happened, so the redelivered work goes through. With ``DSAR_TEST_CRASH_GROUP`` the whole
process group dies with it (a worker's main process, its pool and beat), as when a machine is
lost. On a machine with two cores a timed kill lands anywhere; this lands exactly where the test
means.
"""

from __future__ import annotations

import os
import signal

from django.conf import settings


def crash_point(name: str) -> None:
    if not settings.DSAR_TEST_CRASH_AT or name != settings.DSAR_TEST_CRASH_AT:
        return
    try:
        marker = os.open(settings.DSAR_TEST_CRASH_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(marker)
    if settings.DSAR_TEST_CRASH_GROUP:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
