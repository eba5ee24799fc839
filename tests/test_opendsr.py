"""The OpenDSR routes and status callbacks: scoped tokens, the checks on a request and its
callback URLs, the status mapping, and a client's whole conversation with a real worker."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar import transitions
from dsar.api.auth import create_token
from dsar.callbacks import (
    opendsr_status,
    status_payload,
    validate_callback_url,
)
from dsar.jobs import run_job
from dsar.models import Artifact, Case, CaseStatus, Event, Job, JobKind, JobState
from tests.conftest import Mailbox
from tests.factories import CaseFactory

READ, CREATE, ACT = "read_cases", "create_cases", "act_on_cases"
ALL_SCOPES = [READ, CREATE, ACT]


# --- Helpers --------------------------------------------------------------------------------


def staff_user(name: str = "crm-integration") -> Any:
    """A staff account allowed to create, read and work cases. The permissions are given
    directly: the role groups come from a data migration, which a transactional test's flush
    removes."""
    user = get_user_model().objects.create_user(name, f"{name}@example.com", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="dsar", codename__in=["add_case", "view_case", "work_case"]
        )
    )
    return user


def api(key: str | None) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}") if key else Client()


@pytest.fixture
def key() -> str:
    _token, raw = create_token(name="crm", user=staff_user(), scopes=ALL_SCOPES)
    return raw


@pytest.fixture
def allow_private(settings: Any) -> None:
    settings.DSAR = {**settings.DSAR, "CALLBACK_ALLOW_PRIVATE": True}


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "regulation": "gdpr",
        "subject_request_id": str(uuid.uuid4()),
        "subject_request_type": "erasure",
        "subject_identities": [
            {
                "identity_type": "email",
                "identity_value": "ada@example.com",
                "identity_format": "raw",
            }
        ],
        "submitted_time": "2026-03-01T10:00:00Z",
        "api_version": "2.0",
        "status_callback_urls": [],
        "extensions": {"name": "Ada Lovelace", "language": "de-DE"},
    }
    body.update(overrides)
    return body


def call(client: Client, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    if method == "post":
        return client.post(url, body, content_type="application/json")
    return getattr(client, method)(url)


class Receiver:
    """A callback receiver on 127.0.0.1: records each POSTed JSON body and answers with the
    next of ``answers`` (then 200)."""

    def __init__(self, answers: list[int]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answers = list(answers)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.bodies.append(body)
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/opendsr/status"

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.bodies) >= count:
                    return list(self.bodies)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.bodies)} callbacks within {timeout}s, not {count}")


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(*answers: int) -> Receiver:
        started.append(Receiver(list(answers)))
        return started[-1]

    yield start
    for one in started:
        one.server.shutdown()
        one.server.server_close()


def wait_for_event(case: Case, action: str, timeout: float = 20) -> Event:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = Event.objects.filter(case=case, action=action).first()
        if event is not None:
            return event
        time.sleep(0.1)
    raise AssertionError(f"no {action} event on {case} within {timeout}s")


# --- Tokens and scopes ----------------------------------------------------------------------


def routes(request_id: uuid.UUID) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    one = reverse("opendsr-request", args=[request_id])
    return [
        ("get", reverse("opendsr-discovery"), READ, None),
        ("post", reverse("opendsr-requests"), CREATE, request_body()),
        ("get", one, READ, None),
        ("delete", one, ACT, None),
        ("post", reverse("opendsr-opengdpr-requests"), CREATE, request_body()),
        ("get", reverse("opendsr-opengdpr-request", args=[request_id]), READ, None),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(6))
def test_each_route_answers_a_token_with_its_scope_and_refuses_every_other(index: int) -> None:
    case = CaseFactory(external_id=uuid.uuid4())
    method, url, scope, body = routes(case.external_id)[index]
    user = staff_user()
    _token, allowed = create_token(name="allowed", user=user, scopes=[scope])
    _token, narrow = create_token(
        name="narrow", user=user, scopes=[s for s in ALL_SCOPES if s != scope]
    )
    revoked_token, revoked = create_token(name="revoked", user=user, scopes=ALL_SCOPES)
    revoked_token.revoked_at = timezone.now()
    revoked_token.save()

    assert call(api(None), method, url, body).status_code == 401
    refused = call(api(revoked), method, url, body)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "This API key was revoked."
    under = call(api(narrow), method, url, body)
    assert under.status_code == 403
    assert scope in under.json()["error"]["message"]
    assert call(api(allowed), method, url, body).status_code in (200, 201, 202)


@pytest.mark.django_db
def test_discovery_names_email_as_the_identity_and_the_supported_request_types(
    key: str, settings: Any
) -> None:
    settings.DSAR = {**settings.DSAR, "CONTROLLER_ID": "acme-gmbh"}
    response = api(key).get(reverse("opendsr-discovery"))
    assert response.json() == {
        "api_version": "2.0",
        "supported_identities": [{"identity_type": "email", "identity_format": "raw"}],
        "supported_subject_request_types": ["access", "portability", "erasure"],
        "controller_id": "acme-gmbh",
    }


# --- Creating a request ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_becomes_a_case_that_the_person_still_confirms_by_email(
    key: str, allow_private: None, django_capture_on_commit_callbacks: Any
) -> None:
    body = request_body(status_callback_urls=["http://127.0.0.1:9/hook"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api(key).post(reverse("opendsr-requests"), body, content_type="application/json")
    assert response.status_code == 201, response.json()
    case = Case.objects.get(external_id=body["subject_request_id"])
    answer = response.json()
    assert answer["subject_request_id"] == body["subject_request_id"]
    assert answer["controller_id"] == "dsar-desk"
    assert dt.datetime.fromisoformat(answer["received_time"]) == case.received_at
    assert (case.type, case.email, case.name, case.language) == (
        "erasure",
        "ada@example.com",
        "Ada Lovelace",
        "de",
    )
    assert case.status == CaseStatus.AWAITING_VERIFICATION
    assert case.callback_urls == ["http://127.0.0.1:9/hook"]
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]


@pytest.mark.django_db
def test_a_request_without_name_or_language_gets_placeholders(key: str) -> None:
    body = request_body(extensions={})
    response = api(key).post(reverse("opendsr-requests"), body, content_type="application/json")
    case = Case.objects.get(external_id=response.json()["subject_request_id"])
    assert (case.name, case.language) == ("(via OpenDSR)", "en")


HASHED_ONLY = [
    {
        "identity_type": "email",
        "identity_value": "5f4dcc3b5aa765d61d8327deb882cf99",
        "identity_format": "md5",
    }
]


LONG_EMAIL = {
    "identity_type": "email",
    "identity_value": "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example",
    "identity_format": "raw",
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"regulation": "ccpa"}, "regulation", "GDPR requests only"),
        ({"subject_request_id": str(uuid.uuid1())}, "subject_request_id", "version 4"),
        ({"subject_request_type": "rectification"}, "subject_request_type", "not a valid"),
        ({"subject_identities": HASHED_ONLY}, "subject_identities", '"raw"'),
        ({"subject_identities": [LONG_EMAIL]}, "subject_identities", "not a valid email"),
        ({"submitted_time": "yesterday"}, "submitted_time", "format"),
        ({"api_version": "3.0"}, "api_version", "not a valid"),
        (
            {"status_callback_urls": ["https://93.184.215.14/ok", "https://127.0.0.1/hook"]},
            "status_callback_urls",
            "status_callback_urls[1]",
        ),
        ({"status_callback_urls": ["http://93.184.215.14/hook"]}, "status_callback_urls", "https"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    key: str, overrides: dict[str, Any], field: str, says: str
) -> None:
    response = api(key).post(
        reverse("opendsr-requests"), request_body(**overrides), content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["message"]
    assert says in str(error["fields"][field])
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_a_private_callback_url_is_refused_at_its_index(key: str) -> None:
    body = request_body(status_callback_urls=["https://93.184.215.14/ok", "https://10.1.2.3/hook"])
    response = api(key).post(reverse("opendsr-requests"), body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]["status_callback_urls"]) == ["1"]


@pytest.mark.django_db
def test_the_same_request_id_twice_is_a_conflict_and_creates_nothing_more(key: str) -> None:
    body = request_body()
    client = api(key)
    first = client.post(reverse("opendsr-requests"), body, content_type="application/json")
    assert first.status_code == 201
    again = client.post(reverse("opendsr-requests"), body, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert "exists already" in again.json()["error"]["message"]
    assert Case.objects.count() == 1


# --- Reading and cancelling -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_request_id_is_not_found(key: str) -> None:
    response = api(key).get(reverse("opendsr-request", args=[uuid.uuid4()]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_the_status_of_a_completed_request_links_to_its_results(key: str) -> None:
    case = CaseFactory(external_id=uuid.uuid4(), status=CaseStatus.COMPLETED)
    Artifact.objects.create(
        case=case,
        kind="export_zip",
        path="x.zip",
        filename="export.zip",
        content_type="application/zip",
        sha256="0" * 64,
        size=1,
        expires_at=timezone.now() + dt.timedelta(days=14),
    )
    status = api(key).get(reverse("opendsr-request", args=[case.external_id])).json()
    assert status["request_status"] == "completed"
    assert status["results_url"].startswith("http://127.0.0.1:8000/status/")
    assert status["results_count"] == 1
    due = dt.datetime.fromisoformat(status["expected_completion_time"])
    assert timezone.localtime(due).date() == case.due_date
    assert timezone.localtime(due).time() == dt.time(23, 59, 59)


@pytest.mark.django_db
def test_a_pending_request_has_no_results_yet(key: str) -> None:
    case = CaseFactory(external_id=uuid.uuid4(), status=CaseStatus.IN_REVIEW)
    status = api(key).get(reverse("opendsr-request", args=[case.external_id])).json()
    assert (status["request_status"], status["results_url"], status["results_count"]) == (
        "pending",
        None,
        0,
    )


@pytest.mark.django_db
def test_a_pending_request_can_be_cancelled(key: str) -> None:
    case = CaseFactory(external_id=uuid.uuid4(), status=CaseStatus.VERIFIED)
    response = api(key).delete(reverse("opendsr-request", args=[case.external_id]))
    assert response.status_code == 202
    assert response.json()["request_status"] == "cancelled"
    case.refresh_from_db()
    assert case.status == CaseStatus.CANCELLED
    assert case.events.get(action="cancelled").actor == "api:crm"


@pytest.mark.django_db
def test_a_request_in_progress_cannot_be_cancelled(key: str) -> None:
    case = CaseFactory(external_id=uuid.uuid4(), status=CaseStatus.IN_PROGRESS)
    response = api(key).delete(reverse("opendsr-request", args=[case.external_id]))
    assert response.status_code == 409
    assert "in_progress" in response.json()["error"]["message"]
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS


# --- Status mapping and callback URLs -------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (CaseStatus.AWAITING_VERIFICATION, "pending"),
        (CaseStatus.VERIFIED, "pending"),
        (CaseStatus.IN_REVIEW, "pending"),
        (CaseStatus.AWAITING_INFORMATION, "pending"),
        (CaseStatus.IN_PROGRESS, "in_progress"),
        (CaseStatus.AWAITING_MANUAL, "in_progress"),
        (CaseStatus.THIRD_PARTY_REVIEW, "in_progress"),
        (CaseStatus.COMPLETED, "completed"),
        (CaseStatus.CANCELLED, "cancelled"),
        (CaseStatus.REJECTED, "cancelled"),
        (CaseStatus.EXPIRED, "cancelled"),
    ],
)
def test_our_statuses_map_onto_opendsrs_four(ours: str, theirs: str) -> None:
    assert opendsr_status(Case(status=ours)) == theirs


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "http://93.184.215.14/hook",
        "https://localhost/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://224.0.0.1/hook",
        "https://0.0.0.0/hook",
        "https://240.0.0.1/hook",
        "https://no-such-host.invalid/hook",
        "https:///hook",
        "https://example.org:99999/hook",
    ],
)
def test_callback_urls_into_private_networks_or_without_tls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        validate_callback_url(url)


def test_a_public_https_callback_url_is_accepted() -> None:
    assert validate_callback_url("https://93.184.215.14/hook") == "https://93.184.215.14/hook"


def test_local_callback_urls_are_accepted_where_allowed(allow_private: None) -> None:
    assert validate_callback_url("http://127.0.0.1:8080/hook")


# --- Callbacks, in-process ------------------------------------------------------------------


def _callback_job(case: Case, status: str) -> Job:
    return Job.objects.create(
        case=case,
        kind=JobKind.CALLBACK,
        key=f"0:{status}",
        args={"url_index": 0, "status": status},
    )


@pytest.mark.django_db
def test_a_busy_receiver_is_tried_again_and_recorded_as_failed_only_after_the_last_try(
    allow_private: None, receiver: Callable[..., Receiver], settings: Any
) -> None:
    down = receiver(503, 503)
    case = CaseFactory(
        external_id=uuid.uuid4(), status=CaseStatus.CANCELLED, callback_urls=[down.url]
    )
    job = _callback_job(case, CaseStatus.CANCELLED)
    assert run_job(job.pk) == JobState.DUE
    job.refresh_from_db()
    assert job.not_before is not None and job.last_error
    assert not case.events.filter(action="callback_failed").exists()
    Job.objects.filter(pk=job.pk).update(
        attempts=settings.DSAR["JOB_MAX_ATTEMPTS"] - 1, not_before=None
    )
    assert run_job(job.pk) == JobState.FAILED
    assert len(down.bodies) == 2
    event = case.events.get(action="callback_failed")
    assert event.data == {"url_index": 0, "status": "cancelled", "error": "gave_up"}


@pytest.mark.django_db
def test_a_receiver_refusing_the_callback_is_not_retried(
    allow_private: None, receiver: Callable[..., Receiver]
) -> None:
    refusing = receiver(404)
    case = CaseFactory(external_id=uuid.uuid4(), callback_urls=[refusing.url])
    assert run_job(_callback_job(case, CaseStatus.VERIFIED).pk) == JobState.DONE
    assert len(refusing.bodies) == 1
    assert case.events.get(action="callback_failed").data["http_status"] == 404


@pytest.mark.django_db
def test_a_callback_url_now_resolving_to_a_private_address_is_not_called(
    receiver: Callable[..., Receiver],
) -> None:
    local = receiver()
    case = CaseFactory(external_id=uuid.uuid4(), callback_urls=[local.url])
    run_job(_callback_job(case, CaseStatus.CANCELLED).pk)
    assert local.bodies == []
    assert case.events.get(action="callback_failed").data["error"] == "url_refused"


@pytest.mark.django_db
def test_a_callback_reports_the_status_the_case_moved_to(allow_private: None) -> None:
    case = CaseFactory(external_id=uuid.uuid4(), status=CaseStatus.COMPLETED)
    assert status_payload(case, status=CaseStatus.IN_PROGRESS)["request_status"] == "in_progress"
    assert status_payload(case, status=CaseStatus.IN_PROGRESS)["results_url"] is None


# --- A client's conversation, with a real worker --------------------------------------------


@pytest.mark.worker
def test_a_client_creates_follows_and_cancels_a_request_and_hears_back(
    celery_worker: Any,
    live_server: Any,
    allow_private: None,
    receiver: Callable[..., Receiver],
    mailbox: Mailbox,
) -> None:
    listening = receiver()
    _token, raw = create_token(name="crm", user=staff_user(), scopes=ALL_SCOPES)
    base = live_server.url + "/api/opendsr/v1/requests/"
    body = request_body(status_callback_urls=[listening.url])
    with httpx.Client(headers={"Authorization": f"Bearer {raw}"}, timeout=10) as client:
        created = client.post(base, json=body)
        assert created.status_code == 201, created.text
        mailbox.wait_for("ada@example.com")  # the person is asked to confirm first
        one = f"{base}{body['subject_request_id']}/"
        assert client.get(one).json()["request_status"] == "pending"
        cancelled = client.delete(one)
        assert cancelled.status_code == 202
        assert cancelled.json()["request_status"] == "cancelled"
    [callback] = listening.wait_for(1)
    assert callback["subject_request_id"] == body["subject_request_id"]
    assert callback["request_status"] == "cancelled"
    case = Case.objects.get(external_id=body["subject_request_id"])
    sent = wait_for_event(case, "callback_sent")
    assert sent.data == {"url_index": 0, "status": "cancelled", "http_status": 200}


@pytest.mark.worker
def test_a_callback_answered_with_500_is_retried_until_it_is_taken(
    celery_worker: Any, allow_private: None, receiver: Callable[..., Receiver]
) -> None:
    flaky = receiver(500)
    case = CaseFactory(external_id=uuid.uuid4(), callback_urls=[flaky.url])
    transitions.cancel_case(case.pk, actor="staff:test")
    bodies = flaky.wait_for(2)
    assert [b["request_status"] for b in bodies] == ["cancelled", "cancelled"]
    sent = wait_for_event(case, "callback_sent")
    assert sent.data["http_status"] == 200
    assert not case.events.filter(action="callback_failed").exists()
