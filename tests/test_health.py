"""/health/ tells a probe which part is down: the web process runs as in production (gunicorn),
against a Redis of the test's own that the test stops, or a database port nobody listens on."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from tests.support import RedisServer, WebProcess, free_port

WebFactory = Callable[..., WebProcess]


@pytest.fixture
def database_url(db: None) -> str:
    """The test database, which the web process only asks to answer a query."""
    db_settings = connection.settings_dict
    if db_settings["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the web-process tests need PostgreSQL (set DATABASE_URL)")
    user, host, port = db_settings["USER"], db_settings["HOST"], db_settings["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db_settings['NAME']}"


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[WebFactory]:
    started: list[WebProcess] = []

    def start(**env: str) -> WebProcess:
        base = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
        web = WebProcess(
            env={**base, "DSAR_VAR_DIR": str(tmp_path / "var"), **env},
            log=tmp_path / "web.log",
        )
        started.append(web)
        web.start()
        return web

    yield start
    for web in started:
        web.stop()


def get_health(web: WebProcess, path: str = "/health/", **kwargs: Any) -> httpx.Response:
    return httpx.get(web.url + path, timeout=30, **kwargs)


def test_health_answers_200_when_database_redis_and_storage_are_well(
    own_redis: RedisServer, database_url: str, start_web: WebFactory
) -> None:
    web = start_web(DATABASE_URL=database_url, REDIS_URL=own_redis.url)
    response = get_health(web)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok"},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_health_answers_503_naming_redis_once_its_redis_stops(
    own_redis: RedisServer, database_url: str, start_web: WebFactory
) -> None:
    web = start_web(DATABASE_URL=database_url, REDIS_URL=own_redis.url)
    assert get_health(web).status_code == 200

    own_redis.stop()

    response = get_health(web)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"] == "Redis did not answer"
    assert body["checks"]["database"] == "ok"
    # The liveness probe does not depend on Redis: the process itself still serves.
    assert get_health(web, "/health/live").status_code == 200


def test_health_answers_503_naming_the_database_when_its_port_is_closed(
    own_redis: RedisServer, start_web: WebFactory
) -> None:
    closed = f"postgres://postgres@127.0.0.1:{free_port()}/dsar"
    web = start_web(DATABASE_URL=closed, REDIS_URL=own_redis.url)
    response = get_health(web)
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == "the database did not answer"
    assert body["checks"]["broker"] == "ok"
    # The reason stays in the log, not in the public answer.
    assert "127.0.0.1" not in response.text


def test_health_answers_503_naming_the_storage_when_media_is_gone(
    own_redis: RedisServer, database_url: str, start_web: WebFactory, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    web = start_web(DATABASE_URL=database_url, REDIS_URL=own_redis.url, MEDIA_ROOT=str(media))
    assert get_health(web).status_code == 200

    shutil.rmtree(media)

    response = get_health(web)
    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]


def test_health_answers_a_local_probe_in_production_without_redirect_or_host_check(
    own_redis: RedisServer, database_url: str, start_web: WebFactory
) -> None:
    web = start_web(
        DSAR_ENV="production",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="dsar.example.com",
        SITE_URL="https://dsar.example.com",
        EMAIL_URL="smtp://127.0.0.1:2525",
        DATABASE_URL=database_url,
        REDIS_URL=own_redis.url,
    )
    response = get_health(web, follow_redirects=False)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    # Every other page still gets the HTTPS redirect and the host check.
    page = httpx.get(web.url + "/", headers={"Host": "dsar.example.com"}, timeout=30)
    assert page.status_code == 301
    assert page.headers["Location"] == "https://dsar.example.com/"
    assert httpx.get(web.url + "/", timeout=30).status_code == 400
