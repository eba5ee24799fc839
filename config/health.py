"""The health endpoints, for the container's healthcheck, a load balancer or a monitor.

``GET /health/`` checks what a request needs: the database answers a query, the broker answers
(a Redis ping, or the filesystem broker's folder is writable) and the media storage is writable.
It answers 200 with ``{"status": "ok", "checks": {"database": "ok", ...}}`` when all are well,
and 503 with ``"status": "unavailable"``, the names of the failed parts in ``"failed"`` and a
short reason for each; the details go to the log. ``GET /health/live`` answers 200 while the
process serves requests at all, and checks nothing else.

Neither says anything about a case or a person. The middleware answers them before host
validation and the HTTPS redirect, so a probe on the container's own address gets an answer.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT_SECONDS = 3


class CheckFailed(Exception):
    """A part is not well; the message says which and why, for the response."""


def check_database() -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        logger.warning("health: the database did not answer: %s", exc)
        connections["default"].close()
        raise CheckFailed("the database did not answer") from exc


def check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        _check_writable(folder, what="the broker's folder")
        return
    try:
        if url.startswith(("redis://", "rediss://")):
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=_PROBE_TIMEOUT_SECONDS,
                socket_timeout=_PROBE_TIMEOUT_SECONDS,
            )
            with client:
                client.ping()
        else:
            with Connection(url, connect_timeout=_PROBE_TIMEOUT_SECONDS) as connection:
                connection.ensure_connection(max_retries=1)
    except Exception as exc:
        kind = "Redis" if url.startswith("redis") else "the broker"
        logger.warning("health: %s did not answer: %s", kind, exc)
        raise CheckFailed(f"{kind} did not answer") from exc


def check_storage() -> None:
    _check_writable(Path(settings.MEDIA_ROOT), what="the media folder")


def _check_writable(folder: Path, *, what: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".health-"):
            pass
    except OSError as exc:
        logger.warning("health: %s %s is not writable: %s", what, folder, exc)
        raise CheckFailed(f"{what} is not writable") from exc


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def health() -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except CheckFailed as failure:
            results[name] = str(failure)
        else:
            results[name] = "ok"
    failed = [name for name, result in results.items() if result != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failed else "ok", "checks": results}
    if failed:
        body["failed"] = failed
    return _no_store(JsonResponse(body, status=503 if failed else 200))


def live() -> JsonResponse:
    return _no_store(JsonResponse({"status": "ok"}))


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


_ROUTES: dict[str, Callable[[], JsonResponse]] = {"/health/": health, "/health/live": live}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        route = _ROUTES.get(request.path_info)
        if route is not None and request.method in ("GET", "HEAD"):
            return route()
        return self.get_response(request)
