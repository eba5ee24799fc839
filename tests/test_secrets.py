"""Connector secrets by allow-list: a data system can name only DSAR_SECRET_… variables (or
ones the operator listed), and a secret goes only where its system's checked settings say."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from connectors.base import ConnectorError
from connectors.settings import ConnectorSecrets, SecretPolicy
from dsar.models import CaseStatus, DataSystem, RunStatus
from dsar.runs import connector_for
from dsar.tasks import run_system_task
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory

pytestmark = pytest.mark.django_db

PRODUCT_SECRETS = ["SECRET_KEY", "DATABASE_URL", "POSTMARK_SERVER_TOKEN"]


def system_form(**config_changes: object) -> dict[str, object]:
    config = {"base_url": "https://api.hubapi.com", "token_env": "DSAR_SECRET_HUBSPOT_TOKEN"}
    config.update(config_changes)
    return {
        "key": "crm",
        "name": "CRM",
        "connector": "hubspot",
        "config": json.dumps(config),
        "enabled": "on",
        "max_concurrency": "4",
        "portable_categories": "[]",
    }


@pytest.mark.parametrize("variable", PRODUCT_SECRETS)
def test_a_data_system_naming_a_product_secret_is_refused_on_save(admin_client, variable) -> None:
    response = admin_client.post(
        reverse("admin:dsar_datasystem_add"), system_form(token_env=variable)
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{variable} is not a connector secret" in page
    assert "DSAR_SECRET_" in page
    assert not DataSystem.objects.exists()


@pytest.mark.parametrize("variable", PRODUCT_SECRETS)
def test_a_data_system_naming_a_product_secret_is_refused_at_run(
    monkeypatch, settings, variable
) -> None:
    monkeypatch.setenv(variable, "the-value-that-must-never-leave")
    system = DataSystemFactory(
        connector="hubspot",
        config={"base_url": "https://api.hubapi.com", "token_env": variable},
    )
    with pytest.raises(ConnectorError, match=f"{variable} is not a connector secret"):
        connector_for(system)
    run = SystemRunFactory(system=system, case=CaseFactory(status=CaseStatus.IN_PROGRESS))
    run_system_task(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "is not a connector secret" in run.last_error
    assert "the-value-that-must-never-leave" not in run.last_error


def test_the_secrets_connectors_see_hold_only_allowed_names(monkeypatch, settings) -> None:
    monkeypatch.setenv("SECRET_KEY", "django's own")
    monkeypatch.setenv("DSAR_SECRET_CRM_TOKEN", "the crm's")
    monkeypatch.setenv("LEGACY_ERP_PASSWORD", "the erp's")
    secrets = ConnectorSecrets(
        {"SECRET_KEY": "x", "DSAR_SECRET_CRM_TOKEN": "y", "LEGACY_ERP_PASSWORD": "z"},
        policy=SecretPolicy(names=frozenset({"LEGACY_ERP_PASSWORD"})),
    )
    assert dict(secrets) == {"DSAR_SECRET_CRM_TOKEN": "y", "LEGACY_ERP_PASSWORD": "z"}
    live = settings.CONNECTOR_SECRETS
    assert live.get("DSAR_SECRET_CRM_TOKEN") == "the crm's"
    assert "SECRET_KEY" not in live and "LEGACY_ERP_PASSWORD" not in live
    assert "django's own" not in repr(live)


def test_a_secret_pinned_to_its_host_is_refused_for_another_host(admin_client, settings) -> None:
    policy = SecretPolicy(hosts={"DSAR_SECRET_HUBSPOT_TOKEN": frozenset({"api.hubapi.com"})})
    settings.CONNECTOR_SECRETS = ConnectorSecrets({"DSAR_SECRET_HUBSPOT_TOKEN": "t"}, policy=policy)
    response = admin_client.post(
        reverse("admin:dsar_datasystem_add"), system_form(base_url="https://collector.example")
    )
    assert "may be sent only to api.hubapi.com, not to collector.example" in (
        response.content.decode()
    )
    system = DataSystemFactory(
        connector="hubspot",
        config={"base_url": "https://collector.example", "token_env": "DSAR_SECRET_HUBSPOT_TOKEN"},
    )
    with pytest.raises(ConnectorError, match=r"may be sent only to api\.hubapi\.com"):
        connector_for(system)


def test_a_secret_never_travels_over_plain_http_except_to_an_on_premises_system(
    admin_client,
) -> None:
    refused = admin_client.post(
        reverse("admin:dsar_datasystem_add"), system_form(base_url="http://crm.example.com")
    )
    assert "would travel unencrypted to crm.example.com" in refused.content.decode()
    on_premises = admin_client.post(
        reverse("admin:dsar_datasystem_add"),
        system_form(base_url="http://crm.internal", allow_private_network=True),
    )
    assert on_premises.status_code == 302
    assert DataSystem.objects.get().config["allow_private_network"] is True


def test_staff_see_which_secret_each_system_sends_to_which_host(admin_client) -> None:
    system = DataSystemFactory(
        connector="hubspot",
        config={"base_url": "https://api.hubapi.com", "token_env": "DSAR_SECRET_HUBSPOT_TOKEN"},
    )
    listing = admin_client.get(reverse("admin:dsar_datasystem_changelist")).content.decode()
    assert "DSAR_SECRET_HUBSPOT_TOKEN is sent to api.hubapi.com" in listing
    page = admin_client.get(reverse("admin:dsar_datasystem_change", args=[system.pk]))
    assert "DSAR_SECRET_HUBSPOT_TOKEN is sent to api.hubapi.com" in page.content.decode()


def test_an_on_premises_network_must_be_a_network(admin_client) -> None:
    response = admin_client.post(
        reverse("admin:dsar_datasystem_add"), system_form(allowed_networks=["not-a-network"])
    )
    assert "&#x27;allowed_networks&#x27;:" in response.content.decode()
    assert not DataSystem.objects.exists()
