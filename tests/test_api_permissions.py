"""Every API route, tried with every role and every scope: the key's scope and its account's
role both decide, as in the admin (an auditor reads, a handler acts, an approver decides, an
account without a role reads nothing). Every refusal on a case leaves an event on it; creating
needs a role that may create; asserting an identity needs a trusted key of a staff role."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar.api.auth import create_token
from dsar.models import Artifact, Case, CaseStatus
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

READ, CREATE, ACT = "read_cases", "create_cases", "act_on_cases"

# What each role may do, written out here rather than read from dsar.roles, so that a change
# there shows up as a failing test.
ROLE_POWERS: dict[str, set[str]] = {
    "none": set(),
    "auditor": {"view"},
    "handler": {"view", "create", "work"},
    "approver": {"view", "create", "work", "decide"},
}
SCOPE_SETS = {"read": [READ], "create": [CREATE], "act": [ACT], "all": [READ, CREATE, ACT]}


def opendsr_body() -> dict[str, Any]:
    return {
        "regulation": "gdpr",
        "subject_request_id": str(uuid.uuid4()),
        "subject_request_type": "access",
        "subject_identities": [
            {"identity_type": "email", "identity_value": "p@example.com", "identity_format": "raw"}
        ],
        "submitted_time": "2026-03-01T10:00:00Z",
        "api_version": "2.0",
    }


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    url: Callable[[Case], str]
    scope: str
    powers: frozenset[str]
    success: int
    body: Callable[[], dict[str, Any]] = dict
    on_case: bool = True


def v1(name: str, *args: str) -> Callable[[Case], str]:
    return lambda case: reverse(name, args=[case.reference, *args])


def opendsr(name: str) -> Callable[[Case], str]:
    return lambda case: reverse(name, args=[str(case.external_id)])


ROUTES = [
    Route("v1 list", "get", lambda c: reverse("api-cases"), READ, frozenset({"view"}), 200,
          on_case=False),
    Route("v1 create", "post", lambda c: reverse("api-cases"), CREATE, frozenset({"create"}), 201,
          lambda: {"type": "access", "email": "p@example.com", "name": "P"}, on_case=False),
    Route("v1 read", "get", v1("api-case"), READ, frozenset({"view"}), 200),
    Route("v1 approve", "post", v1("api-case-action", "approve"), ACT,
          frozenset({"view", "decide"}), 200),
    Route("v1 cancel", "post", v1("api-case-action", "cancel"), ACT,
          frozenset({"view", "work"}), 200,
          lambda: {"values": {"reason": "Withdrawn by email of 3 March."}}),
    Route("v1 file", "get", v1("api-case-file", "export_zip"), READ, frozenset({"view"}), 200),
    Route("opendsr discovery", "get", lambda c: reverse("opendsr-discovery"), READ, frozenset(),
          200, on_case=False),
    Route("opendsr create", "post", lambda c: reverse("opendsr-requests"), CREATE,
          frozenset({"create"}), 201, opendsr_body, on_case=False),
    Route("opendsr read", "get", opendsr("opendsr-request"), READ, frozenset({"view"}), 200),
    Route("opendsr cancel", "delete", opendsr("opendsr-request"), ACT,
          frozenset({"view", "work"}), 202),
    Route("opengdpr create", "post", lambda c: reverse("opendsr-opengdpr-requests"), CREATE,
          frozenset({"create"}), 201, opendsr_body, on_case=False),
    Route("opengdpr read", "get", opendsr("opendsr-opengdpr-request"), READ,
          frozenset({"view"}), 200),
    Route("opengdpr cancel", "delete", opendsr("opendsr-opengdpr-request"), ACT,
          frozenset({"view", "work"}), 202),
]  # fmt: skip


def account(role: str, *, staff: bool = False) -> Any:
    user = get_user_model().objects.create_user(f"{role}-account", is_staff=staff)
    if role != "none":
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def case(settings, tmp_path) -> Case:
    settings.MEDIA_ROOT = tmp_path
    case = CaseFactory(status=CaseStatus.IN_REVIEW, type="access", external_id=uuid.uuid4())
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


@pytest.mark.parametrize("scopes", SCOPE_SETS)
@pytest.mark.parametrize("role", ROLE_POWERS)
@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_every_route_answers_only_a_key_with_its_scope_and_a_role_with_the_power(
    route: Route, role: str, scopes: str, case: Case, django_capture_on_commit_callbacks
) -> None:
    _token, key = create_token(name="integration", user=account(role), scopes=SCOPE_SETS[scopes])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    events_before = case.events.count()
    cases_before = Case.objects.count()

    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(client, route.method)(
            route.url(case), route.body(), content_type="application/json"
        )

    has_scope = route.scope in SCOPE_SETS[scopes]
    may = route.powers <= ROLE_POWERS[role]
    if has_scope and may:
        assert response.status_code == route.success, response.content
        return
    assert response.status_code == 403, response.content
    message = response.json()["error"]["message"]
    assert (route.scope in message) if not has_scope else ("lacks the permission" in message)
    assert Case.objects.count() == cases_before  # nothing created
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW  # nothing done
    if route.on_case:
        refusal = case.events.get(action="api_refused")
        assert case.events.count() == events_before + 1
        assert refusal.actor == "api:integration" and refusal.data["status"] == 403
        assert "Bearer" not in str(refusal.data) and key not in str(refusal.data)


def test_a_key_whose_account_lacks_view_case_reads_nothing(case: Case) -> None:
    _token, key = create_token(name="bare", user=account("none"), scopes=[READ])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    for url in (reverse("api-cases"), reverse("api-case", args=[case.reference])):
        response = client.get(url)
        assert response.status_code == 403
        assert case.email not in response.content.decode()


@pytest.mark.parametrize("role", ["auditor", "none"])
def test_an_auditors_key_and_a_roleless_key_cannot_create_cases(role: str) -> None:
    _token, key = create_token(name="reader", user=account(role), scopes=[READ, CREATE])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"type": "access", "email": "p@example.com", "name": "P"}
    assert (
        client.post(reverse("api-cases"), body, content_type="application/json").status_code == 403
    )
    opendsr_create = client.post(
        reverse("opendsr-requests"), opendsr_body(), content_type="application/json"
    )
    assert opendsr_create.status_code == 403
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    ("role", "staff"),
    # An approver's account that is not staff; a staff account that may create but not assert.
    [("approver", False), ("none", True)],
)
def test_a_non_staff_or_powerless_trusted_key_cannot_assert_identity(role: str, staff: bool):
    user = account(role, staff=staff)
    if role == "none":
        user.user_permissions.add(
            *Group.objects.get(name="handler").permissions.exclude(codename="assert_identity")
        )
    _token, key = create_token(name="sso", user=user, scopes=[READ, CREATE], trusted_identity=True)
    body = {"type": "access", "email": "p@example.com", "name": "P", "identity_verified": True}
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        reverse("api-cases"), body, content_type="application/json"
    )
    assert response.status_code == 403
    assert "may not assert verified identities" in response.json()["error"]["message"]
    assert not Case.objects.filter(verified_at__isnull=False).exists()


def test_a_staff_handlers_trusted_key_asserts_identity_and_the_case_names_the_key(
    django_capture_on_commit_callbacks,
) -> None:
    token, key = create_token(
        name="sso", user=account("handler", staff=True), scopes=[CREATE], trusted_identity=True
    )
    body = {"type": "access", "email": "p@example.com", "name": "P", "identity_verified": True}
    with django_capture_on_commit_callbacks(execute=False):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
            reverse("api-cases"), body, content_type="application/json"
        )
    assert response.status_code == 201
    case = Case.objects.get()
    assert case.verified_at is not None
    assert case.verification_method == f"asserted by API key sso ({token.prefix}…)"
    assert case.events.filter(action="identity_asserted", actor="api:sso").exists()


def test_revoking_tokens_in_the_admin_needs_the_change_permission(client) -> None:
    from django.contrib.auth.models import Permission

    from dsar.admin.api import ApiTokenAdmin
    from dsar.models import ApiToken

    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    token, _key = create_token(name="portal", user=viewer, scopes=[READ])
    client.force_login(viewer)
    url = reverse("admin:dsar_apitoken_changelist")
    assert 'value="revoke"' not in client.get(url).content.decode()
    client.post(url, {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is None
    assert list(ApiTokenAdmin.revoke.allowed_permissions) == ["change"]  # type: ignore[attr-defined]
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1
