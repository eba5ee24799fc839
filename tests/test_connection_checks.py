"""Checking a data system's connection: the admin action and ``manage.py check_systems``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from tests.conftest import Sandboxes


@pytest.fixture
def secrets(sandboxes: Sandboxes, settings: Any) -> None:
    settings.CONNECTOR_SECRETS = sandboxes.secrets


def test_check_systems_creates_hubspots_properties_and_reports_every_system(
    demo_systems_automated: dict[str, Any], sandboxes: Sandboxes, secrets: None
) -> None:
    out = StringIO()

    call_command("check_systems", stdout=out)

    text = out.getvalue()
    assert "[ok] property dsar_processing_restricted (created): created" in text
    for key in demo_systems_automated:
        assert f"{key}: ok" in text
    assert "dsar_processing_restricted" in sandboxes.hubspot.properties


def test_check_systems_fails_and_names_the_variable_of_a_wrong_key(
    demo_systems_automated: dict[str, Any], sandboxes: Sandboxes, settings: Any
) -> None:
    settings.CONNECTOR_SECRETS = {**sandboxes.secrets, "DSAR_SECRET_DISCOURSE_API_KEY": "revoked"}
    out = StringIO()

    with pytest.raises(CommandError, match="1 system"):
        call_command("check_systems", "discourse", stdout=out)

    assert "DSAR_SECRET_DISCOURSE_API_KEY" in out.getvalue()


def test_the_admin_action_shows_each_systems_check(
    demo_systems_automated: dict[str, Any], secrets: None, client: Client
) -> None:
    admin = User.objects.create_superuser("boss", "boss@example.com", "pw-for-tests-only")
    client.force_login(admin)
    ids = [system.pk for system in demo_systems_automated.values()]

    response = client.post(
        reverse("admin:dsar_datasystem_changelist"),
        {"action": "check_connection", "_selected_action": ids},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == len(ids)
    assert any("property dsar_processing_restricted: ok (created)" in m for m in shown)
