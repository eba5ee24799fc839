"""Every refusal leaves a trace: each refused download, each code sent and each failed
verification is an event on its case (or a security log line where there is no case), and no
token ever reaches a log line, as the handlers really write them."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar import downloads
from dsar.logfilters import RedactingGunicornLogger, RedactSecrets
from dsar.models import CaseStatus, DownloadLink
from dsar.tokens import issue_verification
from tests.factories import CaseFactory
from tests.test_deliverables import make_link

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the configured console handler (LOGGING) writes, filters and all."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactSecrets) for f in handler.filters)
    ]
    assert handlers, "the console handler lost its RedactSecrets filter"
    output = io.StringIO()
    previous = [handler.setStream(output) for handler in handlers]  # type: ignore[attr-defined]
    yield output
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)  # type: ignore[attr-defined]


def send_code(client: Client, token: str, captured) -> str:
    with captured(execute=True):
        client.post(reverse("dsar:download", args=[token]), {"send_code": "1"})
    return re.search(r"^(\d{6})$", mail.outbox[-1].body, re.MULTILINE).group(1)


def refusals(case) -> list[str]:
    return [e.data["reason"] for e in case.events.filter(action="download_refused")]


def test_a_code_sent_is_recorded_and_the_subject_line_carries_no_code(
    client, media, django_capture_on_commit_callbacks
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    code = send_code(client, token, django_capture_on_commit_callbacks)
    assert case.events.filter(action="download_code_sent").count() == 1
    assert code not in mail.outbox[-1].subject
    assert case.reference in mail.outbox[-1].subject


def test_a_wrong_code_is_one_event_and_no_log_line_holds_the_token(
    client, media, logged, django_capture_on_commit_callbacks
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    code = send_code(client, token, django_capture_on_commit_callbacks)
    wrong = "111111" if code != "111111" else "222222"
    response = client.post(reverse("dsar:download", args=[token]), {"code": wrong})
    assert response.status_code == 400
    assert refusals(case) == ["wrong_code"]
    assert token not in logged.getvalue() and code not in logged.getvalue()
    assert "Bad Request: /download/[redacted]/" in logged.getvalue()


def test_another_cases_code_is_recorded_as_such(
    client, media, logged, django_capture_on_commit_callbacks
) -> None:
    mine, theirs = (
        CaseFactory(status=CaseStatus.COMPLETED),
        CaseFactory(status=CaseStatus.COMPLETED),
    )
    my_token, their_token = make_link(mine, media), make_link(theirs, media)
    send_code(client, my_token, django_capture_on_commit_callbacks)
    their_code = send_code(Client(), their_token, django_capture_on_commit_callbacks)
    client.post(reverse("dsar:download", args=[my_token]), {"code": their_code})
    assert refusals(mine) == ["code_of_another_case"]
    assert refusals(theirs) == []
    assert my_token not in logged.getvalue() and their_token not in logged.getvalue()


def test_an_expired_link_is_one_event(client, media, logged) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    DownloadLink.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(reverse("dsar:download", args=[token])).status_code == 410
    assert refusals(case) == ["expired"]
    assert token not in logged.getvalue()
    assert "Gone: /download/[redacted]/" in logged.getvalue()


def test_a_used_up_link_is_one_event(client, media, logged) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    DownloadLink.objects.update(downloads=10, max_downloads=10)
    file_url = reverse("dsar:download_file", args=[token, "export_zip"])
    assert client.get(file_url).status_code == 410
    assert refusals(case) == ["used_up"]
    assert token not in logged.getvalue()


def test_an_unknown_token_is_a_security_log_line_without_the_token(client, logged) -> None:
    made_up = secrets.token_urlsafe(32)
    assert client.get(reverse("dsar:download", args=[made_up])).status_code == 404
    output = logged.getvalue()
    assert "refused download_refused: reason=unknown_token" in output
    assert made_up not in output


def test_a_failed_verification_is_recorded_on_its_case_and_an_unknown_one_in_the_log(
    client, logged
) -> None:
    case = CaseFactory(status=CaseStatus.EXPIRED)
    token = issue_verification(case)
    assert client.post(reverse("dsar:verify", args=[token])).status_code == 410
    assert case.events.get(action="verification_refused").data == {"reason": "closed"}
    made_up = secrets.token_urlsafe(32)
    assert client.post(reverse("dsar:verify", args=[made_up])).status_code == 404
    output = logged.getvalue()
    assert "refused verification_refused: reason=invalid" in output
    assert token not in output and made_up not in output


def test_django_server_celery_and_api_log_lines_are_redacted(logged) -> None:
    token = secrets.token_urlsafe(32)
    logging.getLogger("django.server").info(
        '"%s" %s %s', f"GET /download/{token}/export_zip/ HTTP/1.1", 200, 12
    )
    logging.getLogger("django.request").warning("Not Found: %s", f"/status/{token}/")
    try:
        raise ValueError(f"callback to https://hooks.example/verify/{token}/ failed")
    except ValueError:
        logging.getLogger("celery.app.trace").exception("Task failed")
    logging.getLogger("dsar").warning("header was Bearer dsar_%s", token)
    output = logged.getvalue()
    assert token not in output
    assert output.count("[redacted]") >= 4


def test_the_gunicorn_access_log_never_prints_a_token() -> None:
    from gunicorn.config import Config

    token = secrets.token_urlsafe(32)
    logger = RedactingGunicornLogger(Config())
    request = SimpleNamespace(
        method="GET",
        path=f"/download/{token}/",
        query="",
        uri=f"/download/{token}/",
        version=(1, 1),
        headers=[],
    )
    response = SimpleNamespace(status="200 OK", headers=[], sent=10, response_length=10)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/download/{token}/",
        "PATH_INFO": f"/download/{token}/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    atoms = logger.atoms(response, request, environ, dt.timedelta(seconds=0.1))
    assert token not in " ".join(str(value) for value in atoms.values())
    assert atoms["r"] == "GET /download/[redacted]/ HTTP/1.1"


def test_a_code_guessed_after_the_limit_is_recorded(
    client, media, django_capture_on_commit_callbacks
):
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    code = send_code(client, token, django_capture_on_commit_callbacks)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(downloads.MAX_CODE_ATTEMPTS):
        client.post(reverse("dsar:download", args=[token]), {"code": wrong})
    client.post(reverse("dsar:download", args=[token]), {"code": code})
    assert refusals(case)[-1] == "too_many_wrong_codes"


def test_a_sixth_code_within_the_hour_is_refused_and_recorded_as_rate_limited(
    client, media, django_capture_on_commit_callbacks
) -> None:
    """Codes are limited to five an hour per link (guessing a six-digit code needs many);
    the sixth request is answered 429 and leaves a refusal on the case, and no email."""
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    for _ in range(5):
        send_code(client, token, django_capture_on_commit_callbacks)
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(reverse("dsar:download", args=[token]), {"send_code": "1"})
    assert refused.status_code == 429
    assert len(mail.outbox) == sent
    assert case.events.filter(action="download_code_sent").count() == 5
    refusal = case.events.get(action="download_code_refused")
    assert refusal.data["reason"] == "rate_limited"
