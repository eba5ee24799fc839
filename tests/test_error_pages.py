"""The error pages are our own, in English and German, and render with the database down: the web
process (gunicorn, DEBUG off) runs against a database port nobody listens on."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RedisServer, WebProcess, free_port


@pytest.fixture(scope="module")
def web_without_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    redis = RedisServer()
    redis.start()
    tmp = tmp_path_factory.mktemp("errors")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/dsar",
            "REDIS_URL": redis.url,
            "DSAR_VAR_DIR": str(tmp / "var"),
            "DSAR_CONTROLLER_NAME": "Example GmbH",
            "DSAR_CONTROLLER_CONTACT": "privacy@example.com",
        }
    )
    web = WebProcess(env=env, log=tmp / "web.log")
    web.start()
    yield web
    web.stop()
    redis.stop()


def get(
    web: WebProcess, path: str, *, language: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.get(
        web.url + path, headers={"Accept-Language": language, **(headers or {})}, timeout=30
    )


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "Something went wrong"), ("de", "Etwas ist schiefgelaufen")],
)
def test_a_page_that_needs_the_database_shows_our_500_page_while_it_is_down(
    web_without_database: WebProcess, language: str, heading: str
) -> None:
    response = get(web_without_database, "/verify/some-token/", language=language)
    assert response.status_code == 500
    assert f"<h1>{heading}</h1>" in response.text
    assert f'<html lang="{language}">' in response.text
    assert "Example GmbH" in response.text
    assert "privacy@example.com" in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Page not found"), ("de", "Seite nicht gefunden")]
)
def test_an_unknown_address_shows_our_404_page(
    web_without_database: WebProcess, language: str, heading: str
) -> None:
    response = get(web_without_database, "/no-such-page/", language=language)
    assert response.status_code == 404
    assert f"<h1>{heading}</h1>" in response.text


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "The form has expired"), ("de", "Das Formular ist abgelaufen")],
)
def test_a_form_sent_without_its_csrf_token_shows_our_403_page(
    web_without_database: WebProcess, language: str, heading: str
) -> None:
    response = httpx.post(
        web_without_database.url + "/",
        data={"email": "ada@example.com"},
        headers={"Accept-Language": language},
        timeout=30,
    )
    assert response.status_code == 403
    assert f"<h1>{heading}</h1>" in response.text


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Bad request"), ("de", "Ungültige Anfrage")]
)
def test_a_request_for_an_unknown_host_shows_our_400_page(
    web_without_database: WebProcess, language: str, heading: str
) -> None:
    response = get(
        web_without_database, "/", language=language, headers={"Host": "evil.example.com"}
    )
    assert response.status_code == 400
    assert f"<h1>{heading}</h1>" in response.text


def test_the_api_answers_a_server_error_as_json(web_without_database: WebProcess) -> None:
    response = get(
        web_without_database,
        "/api/v1/cases/",
        language="en",
        headers={"Authorization": "Bearer nothing"},
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


def test_the_403_page_in_german_is_our_own() -> None:
    from django.test import RequestFactory
    from django.utils import translation

    from config.errors import permission_denied

    with translation.override("de"):
        response = permission_denied(RequestFactory().get("/admin/"), PermissionError())
    assert response.status_code == 403
    assert "<h1>Zugriff verweigert</h1>" in response.content.decode()
