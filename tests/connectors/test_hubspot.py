"""The HubSpot connector against its sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.base import ConnectorError, Identity
from connectors.demo_people import ADA, CRM_SUBSCRIPTIONS, HANA, NORA
from connectors.http import RetryPolicy
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.sandbox import TOKEN, HubSpotSandbox
from connectors.sandbox_base import SandboxControl, SandboxServer

from .conftest import Records, api_calls, controlled, others_than, serve

ADA_ID = Identity(email=ADA.email, name=ADA.name)
NORA_ID = Identity(email=NORA.email)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    yield from serve(HubSpotSandbox(hang_s=5))


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[SandboxControl]:
    yield from controlled(sandbox)


def make_connector(
    sandbox: SandboxServer, retry: RetryPolicy, *, token: str = TOKEN, timeout_s: float = 5
) -> HubSpotConnector:
    config = {
        "base_url": sandbox.base_url,
        "allow_private_network": True,
        "subscription_ids": list(CRM_SUBSCRIPTIONS),
        "timeout_s": timeout_s,
    }
    return HubSpotConnector.from_config(
        config, secrets={"DSAR_SECRET_HUBSPOT_TOKEN": token}, retry=retry
    )


@pytest.fixture
def hubspot(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> HubSpotConnector:
    return make_connector(sandbox, retry)


def test_export_of_ada_holds_her_contact_history_and_notes_and_nobody_elses(
    hubspot: HubSpotConnector, records: Records
) -> None:
    outcome = hubspot.export(ADA_ID, records)

    assert outcome.found
    assert outcome.counts == {"contact": 1, "property_history": 17, "notes": 3}
    (contact,) = records.of("contact")
    assert contact["properties"]["lastname"] == "Lovelace"
    assert contact["properties"]["company"] == "Analytical Engines Ltd"
    assert {"property": "jobtitle", "value": "Mathematician"}.items() <= (
        next(r for r in records.of("property_history") if r["property"] == "jobtitle").items()
    )
    assert any("Sent the quote for 25 seats." in note["body"] for note in records.of("notes"))
    for other in others_than(ADA):
        assert other not in records.text()


def test_export_of_a_person_hubspot_does_not_know_finds_nothing(
    hubspot: HubSpotConnector, records: Records
) -> None:
    outcome = hubspot.export(NORA_ID, records)

    assert not outcome.found
    assert outcome.counts == {}
    assert records.items == []


def test_export_of_the_heavy_user_streams_every_history_entry_and_note(
    hubspot: HubSpotConnector, records: Records, control: SandboxControl
) -> None:
    outcome = hubspot.export(Identity(email=HANA.email), records)

    assert outcome.counts["notes"] == 500
    assert outcome.counts["property_history"] > 5000
    # 500 notes are read 100 at a time, not one request each.
    assert api_calls(control, "/notes/batch/read") == 5


def test_erase_deletes_the_contact_through_gdpr_delete(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    outcome = hubspot.erase(ADA_ID)

    assert outcome.found
    assert outcome.changed == ["contact 1001 deleted with its notes and property history"]
    assert ADA.email not in " ".join(outcome.changed) + outcome.summary
    state = control.state(email=ADA.email)
    assert state == {"exists": False, "blocklisted": True}


def test_erase_of_unknown_person_succeeds_with_nothing_found_and_blocklists_nobody(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    outcome = hubspot.erase(NORA_ID)

    assert not outcome.found
    assert outcome.summary == "nothing found"
    assert api_calls(control, "/gdpr-delete") == 0
    assert control.state(email=NORA.email)["blocklisted"] is False


def test_erasing_twice_deletes_once(hubspot: HubSpotConnector, control: SandboxControl) -> None:
    hubspot.erase(ADA_ID)
    second = hubspot.erase(ADA_ID)

    assert not second.found
    assert second.summary == "nothing found"
    assert api_calls(control, "/gdpr-delete") == 1


def test_restrict_flags_the_contact_with_the_reason_once(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    first = hubspot.restrict(ADA_ID, reason="DSAR-2026-000001 (Art. 18 GDPR)")
    second = hubspot.restrict(ADA_ID, reason="DSAR-2026-000001 (Art. 18 GDPR)")

    assert first.changed == ["contact 1001 marked as restricted (dsar_processing_restricted)"]
    assert second.found and second.changed == []
    assert second.summary == "Already restricted"
    state = control.state(email=ADA.email)
    assert state["restricted"] is True
    assert state["restriction_reason"] == "DSAR-2026-000001 (Art. 18 GDPR)"
    assert api_calls(control, "/contacts/1001") == 1


def test_rectify_corrects_mapped_properties_and_names_the_fields_hubspot_lacks(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    changes = {"first_name": "Augusta Ada", "job_title": "Countess", "name": "Augusta Ada King"}

    outcome = hubspot.rectify(ADA_ID, changes=changes)
    again = hubspot.rectify(ADA_ID, changes=changes)

    assert outcome.changed == ["contact 1001: firstname, jobtitle corrected"]
    assert outcome.not_held_fields == ["name"]
    assert "Augusta" not in " ".join(outcome.changed)
    properties = control.state(email=ADA.email)["properties"]
    assert (properties["firstname"], properties["jobtitle"]) == ("Augusta Ada", "Countess")
    assert again.changed == []
    assert again.summary == "Already correct; HubSpot holds no name"


def test_object_unsubscribes_from_every_configured_subscription_with_a_legal_basis(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    outcome = hubspot.object(ADA_ID)
    again = hubspot.object(ADA_ID)

    assert len(outcome.changed) == 2
    state = control.state(email=ADA.email)
    assert set(state["subscriptions"].values()) == {"NOT_SUBSCRIBED"}
    assert {basis["legalBasis"] for basis in state["unsubscribe_legal_basis"].values()} == {
        "LEGITIMATE_INTEREST_OTHER"
    }
    assert again.summary == "Already unsubscribed"
    assert api_calls(control, "/unsubscribe") == 2


def test_object_for_unknown_person_finds_nothing(hubspot: HubSpotConnector) -> None:
    assert hubspot.object(NORA_ID).summary == "nothing found"


def test_a_rate_limited_call_is_tried_again_and_succeeds(
    hubspot: HubSpotConnector, control: SandboxControl, records: Records, sleeps: list[float]
) -> None:
    control.configure(fail_next=1, fail_modes=["429"])

    outcome = hubspot.export(ADA_ID, records)

    assert outcome.found
    assert [call["status"] for call in control.calls()[:2]] == [429, 200]
    assert len(sleeps) == 1


def test_over_the_rate_limit_hubspot_answers_429_with_its_rate_limit_headers(
    sandbox: SandboxServer, control: SandboxControl
) -> None:
    control.configure(rate_limit={"requests": 1, "window_s": 60})
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{sandbox.base_url}/crm/v3/properties/contacts"

    assert httpx.get(url, headers=headers).status_code == 200
    limited = httpx.get(url, headers=headers)

    assert limited.status_code == 429
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "1"
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.json()["errorType"] == "RATE_LIMIT"


def test_a_rate_limit_that_outlasts_the_tries_is_a_passing_error(
    hubspot: HubSpotConnector, control: SandboxControl, records: Records
) -> None:
    control.configure(rate_limit={"requests": 1, "window_s": 60})

    with pytest.raises(ConnectorError) as caught:
        hubspot.export(ADA_ID, records)

    assert caught.value.retryable
    assert "HubSpot is rate limiting us (HTTP 429)" in str(caught.value)


def test_a_server_that_hangs_times_out_and_the_next_try_succeeds(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy, records: Records
) -> None:
    control.configure(fail_next=1, fail_modes=["timeout"])

    outcome = make_connector(sandbox, retry, timeout_s=0.3).export(ADA_ID, records)

    assert outcome.found
    assert control.calls()[0]["status"] is None


def test_a_wrong_token_is_a_final_error_naming_hubspot_and_the_variable(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    with pytest.raises(ConnectorError) as caught:
        make_connector(sandbox, retry, token="stale-token").erase(ADA_ID)

    assert not caught.value.retryable
    message = str(caught.value)
    assert message.startswith("HubSpot rejected the credentials (HTTP 401)")
    assert message.endswith("check the private-app token in DSAR_SECRET_HUBSPOT_TOKEN")
    assert len(control.calls()) == 1
    assert control.state(email=ADA.email)["exists"]


@pytest.mark.parametrize("mode", ["truncated", "shape"])
def test_a_malformed_reply_is_a_final_error_naming_hubspot(
    hubspot: HubSpotConnector, control: SandboxControl, records: Records, mode: str
) -> None:
    control.configure(malformed_rate=1.0, malformed_modes=[mode])

    with pytest.raises(ConnectorError) as caught:
        hubspot.export(ADA_ID, records)

    assert not caught.value.retryable
    assert str(caught.value).startswith("HubSpot sent a malformed reply to the contact search")


def test_settings_say_which_setting_or_secret_is_missing() -> None:
    with pytest.raises(
        ConnectorError,
        match="HubSpot token is not set: set environment variable DSAR_SECRET_HUBSPOT_TOKEN",
    ):
        HubSpotConnector.from_config({"base_url": "https://api.hubapi.com"}, secrets={})
    with pytest.raises(ConnectorError, match="HubSpot setting 'base_url' is missing"):
        HubSpotConnector.from_config({}, secrets={"DSAR_SECRET_HUBSPOT_TOKEN": "t"})
    with pytest.raises(ConnectorError, match="'subscription_ids' is missing"):
        HubSpotConnector.from_config(
            {"base_url": "https://api.hubapi.com"}, secrets={"DSAR_SECRET_HUBSPOT_TOKEN": "t"}
        )
