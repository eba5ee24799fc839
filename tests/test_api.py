"""The /api/v1/ REST API: tokens with scopes, the same rules as the form, the same workflow as
the admin, JSON errors, throttling, and an OpenAPI schema that the live server honours."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar.api.auth import TokenRateThrottle, create_token
from dsar.api.pagination import MAX_LIMIT
from dsar.models import ApiToken, Artifact, Case, CaseStatus
from tests.factories import CaseFactory, DataSystemFactory
from tests.support import ROOT

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read_cases", "create_cases", "act_on_cases"]


def account(role: str = "approver", name: str = "integration"):
    user = get_user_model().objects.create_user(name, f"{name}@example.com", is_staff=False)
    user.groups.add(Group.objects.get(name=role))
    return user


def api(key: str | None) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}") if key else Client()


@pytest.fixture
def key() -> str:
    _token, raw = create_token(name="portal", user=account(), scopes=ALL_SCOPES)
    return raw


def routes(case: Case) -> list[tuple[str, str, str, dict]]:
    return [
        ("get", reverse("api-cases"), "read_cases", {}),
        (
            "post",
            reverse("api-cases"),
            "create_cases",
            {"type": "access", "email": "p@example.com", "name": "P"},
        ),
        ("get", reverse("api-case", args=[case.reference]), "read_cases", {}),
        ("post", reverse("api-case-action", args=[case.reference, "approve"]), "act_on_cases", {}),
        ("get", reverse("api-case-file", args=[case.reference, "export_zip"]), "read_cases", {}),
    ]


def call(client: Client, method: str, url: str, body: dict):
    if method == "get":
        return client.get(url)
    return client.post(url, body, content_type="application/json")


@pytest.fixture
def reviewed_case(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = CaseFactory(status=CaseStatus.IN_REVIEW, type="access")
    (tmp_path / "f.zip").write_bytes(b"zip")
    Artifact.objects.create(
        case=case,
        kind="export_zip",
        path="f.zip",
        filename="f.zip",
        content_type="application/zip",
        sha256="0" * 64,
        size=3,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    return case


@pytest.mark.parametrize("index", range(5))
def test_each_route_answers_an_allowed_key_and_refuses_missing_revoked_and_underscoped_ones(
    index: int, reviewed_case, django_capture_on_commit_callbacks
) -> None:
    method, url, scope, body = routes(reviewed_case)[index]
    user = account()
    _full, full_key = create_token(name="full", user=user, scopes=[scope])
    _other, narrow_key = create_token(
        name="narrow", user=user, scopes=[s for s in ALL_SCOPES if s != scope]
    )
    revoked, revoked_key = create_token(name="revoked", user=user, scopes=ALL_SCOPES)
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())

    missing = call(api(None), method, url, body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    assert call(api(revoked_key), method, url, body).status_code == 401
    assert call(api("dsar_made-up"), method, url, body).status_code == 401
    under = call(api(narrow_key), method, url, body)
    assert under.status_code == 403
    assert scope in under.json()["error"]["message"]
    with django_capture_on_commit_callbacks(execute=False):
        allowed = call(api(full_key), method, url, body)
    assert allowed.status_code in (200, 201), allowed.content


def test_a_case_created_through_the_api_is_verified_by_email_like_any_other(
    key: str, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = api(key).post(
            reverse("api-cases"),
            {"type": "erasure", "email": "grace@example.org", "name": "Grace", "language": "de"},
            content_type="application/json",
        )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "awaiting_verification" and body["reference"].startswith("DSAR-")
    assert [m.to for m in mail.outbox] == [["grace@example.org"]]
    assert "Bitte bestätigen" in mail.outbox[0].subject


def test_only_a_trusted_key_may_assert_a_verified_identity_and_the_case_records_it(
    django_capture_on_commit_callbacks,
) -> None:
    user = account()
    user.is_staff = True
    user.save()
    _plain, plain = create_token(name="portal", user=user, scopes=ALL_SCOPES)
    trusted_token, trusted = create_token(
        name="sso-portal", user=user, scopes=ALL_SCOPES, trusted_identity=True
    )
    body = {"type": "access", "email": "ada@example.com", "name": "Ada", "identity_verified": True}
    refused = api(plain).post(reverse("api-cases"), body, content_type="application/json")
    assert refused.status_code == 403 and "may not assert" in refused.json()["error"]["message"]
    assert not Case.objects.exists()

    with django_capture_on_commit_callbacks(execute=False):
        created = api(trusted).post(reverse("api-cases"), body, content_type="application/json")
    assert created.status_code == 201
    case = Case.objects.get()
    assert case.verified_at is not None
    assert case.verification_method == f"asserted by API key sso-portal ({trusted_token.prefix}…)"
    assert case.events.filter(action="identity_asserted", actor="api:sso-portal").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "sell", "email": "a@example.com", "name": "A"}, "type"),
        ({"type": "access", "email": "nope", "name": "A"}, "email"),
        ({"type": "access", "email": "a@example.com", "name": "A\x00"}, "name"),
        ({"type": "access", "email": "a@example.com"}, "name"),
        ({"type": "rectification", "email": "a@example.com", "name": "A"}, "rectification_wrong"),
        (
            {
                "type": "objection",
                "email": "a@example.com",
                "name": "A",
                "objection_scope": "other",
            },
            "objection_reasons",
        ),
    ],
)
def test_bad_input_is_a_json_error_naming_the_field_and_saves_nothing(key, body, field) -> None:
    response = api(key).post(reverse("api-cases"), body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"] and field in error["message"]
    assert not Case.objects.exists()


def test_malformed_json_is_a_clear_error(key) -> None:
    response = api(key).post(reverse("api-cases"), "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_the_list_filters_and_the_detail_shows_systems_and_files(key, reviewed_case) -> None:
    other = CaseFactory(status=CaseStatus.COMPLETED, type="erasure")
    listed = api(key).get(reverse("api-cases"), {"status": "in_review"}).json()
    assert [c["reference"] for c in listed["results"]] == [reviewed_case.reference]
    by_email = api(key).get(reverse("api-cases"), {"email": other.email.upper()}).json()
    assert [c["reference"] for c in by_email["results"]] == [other.reference]
    detail = api(key).get(reverse("api-case", args=[reviewed_case.reference])).json()
    assert detail["deliverables"][0]["kind"] == "export_zip"
    assert detail["systems"] == []
    assert api(key).get(reverse("api-case", args=["DSAR-1999-000001"])).status_code == 404


def test_a_limit_or_offset_beyond_what_the_database_counts_gets_a_page_not_a_500(key) -> None:
    CaseFactory.create_batch(MAX_LIMIT + 1)
    huge = str(2**64)

    too_many = api(key).get(reverse("api-cases"), {"limit": huge})
    too_far = api(key).get(reverse("api-cases"), {"offset": huge})

    assert too_many.status_code == 200
    assert len(too_many.json()["results"]) == MAX_LIMIT == 200
    assert too_many.json()["next"]  # the one left over is on the next page
    assert too_far.status_code == 200
    assert too_far.json()["results"] == []
    assert too_far.json()["count"] == MAX_LIMIT + 1


def test_workflow_actions_follow_the_roles_and_the_rules(reviewed_case) -> None:
    DataSystemFactory()
    _h, handler_key = create_token(
        name="helpdesk", user=account("handler", "hd"), scopes=ALL_SCOPES
    )
    _a, approver_key = create_token(name="lead", user=account("approver", "ld"), scopes=ALL_SCOPES)
    approve = reverse("api-case-action", args=[reviewed_case.reference, "approve"])
    denied = api(handler_key).post(approve, {}, content_type="application/json")
    assert denied.status_code == 403 and "decide_case" in denied.json()["error"]["message"]

    reject = reverse("api-case-action", args=[reviewed_case.reference, "reject"])
    incomplete = api(approver_key).post(
        reject, {"values": {"reason": "excessive"}}, content_type="application/json"
    )
    assert incomplete.status_code == 409 and "note" in incomplete.json()["error"]["message"]
    invalid = api(approver_key).post(
        reject, {"values": {"reason": "bored"}}, content_type="application/json"
    )
    assert invalid.status_code == 400 and "reason" in invalid.json()["error"]["fields"]

    done = api(approver_key).post(approve, {}, content_type="application/json")
    assert done.status_code == 200 and done.json()["status"] == "in_progress"
    again = api(approver_key).post(approve, {}, content_type="application/json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    unknown = reverse("api-case-action", args=[reviewed_case.reference, "delete-everything"])
    assert api(approver_key).post(unknown, {}, content_type="application/json").status_code == 404


def test_cancelling_asks_how_the_person_withdrew(reviewed_case) -> None:
    _h, key = create_token(name="helpdesk", user=account("handler", "hd"), scopes=ALL_SCOPES)
    cancel = reverse("api-case-action", args=[reviewed_case.reference, "cancel"])
    missing = api(key).post(cancel, {}, content_type="application/json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid"
    assert missing.json()["error"]["fields"] == {"reason": "This field is required."}
    reviewed_case.refresh_from_db()
    assert reviewed_case.status == CaseStatus.IN_REVIEW

    done = api(key).post(
        cancel,
        {"values": {"reason": "By email of 3 March to the privacy address."}},
        content_type="application/json",
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    reviewed_case.refresh_from_db()
    assert reviewed_case.details["cancellation_reason"] == (
        "By email of 3 March to the privacy address."
    )


def test_files_come_with_a_permission_check_and_a_log(reviewed_case) -> None:
    _t, key = create_token(name="reader", user=account("auditor", "aud"), scopes=["read_cases"])
    url = reverse("api-case-file", args=[reviewed_case.reference, "export_zip"])
    response = api(key).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"zip"
    assert reviewed_case.events.filter(action="downloaded_by_staff", actor="api:reader").exists()
    nobody = get_user_model().objects.create_user("bare")
    _b, bare_key = create_token(name="bare", user=nobody, scopes=["read_cases"])
    assert api(bare_key).get(url).status_code == 403


def test_each_key_is_throttled_on_its_own(key, monkeypatch) -> None:
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    _other, other_key = create_token(
        name="other", user=account("auditor", "o"), scopes=["read_cases"]
    )
    statuses = [api(key).get(reverse("api-cases")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert api(other_key).get(reverse("api-cases")).status_code == 200


def test_the_openapi_schema_is_valid_and_describes_every_route() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            "/dev/stdout",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for route in (
        "/api/v1/cases/",
        "/api/v1/cases/{reference}/actions/{action}/",
        "/api/v1/cases/{reference}/files/{kind}/",
        "/api/opendsr/v1/requests/",
    ):
        assert route in result.stdout


def test_the_schema_page_is_browsable(client) -> None:
    page = client.get(reverse("api-docs"))
    assert page.status_code == 200 and b"swagger" in page.content.lower()
    assert client.get(reverse("schema")).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_live_api_matches_its_schema_under_generated_requests(live_server, monkeypatch):
    """schemathesis sends generated requests to the live server: no 5xx, every reply as
    documented."""
    _token, key = create_token(name="fuzzer", user=account(), scopes=ALL_SCOPES)
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "100000/min"})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{live_server.url}/api/schema/",
            "--url",
            live_server.url,
            "-H",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error,status_code_conformance,"
            "content_type_conformance,response_schema_conformance",
            "--max-examples",
            "15",
            "--phases",
            "examples,fuzzing",
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
