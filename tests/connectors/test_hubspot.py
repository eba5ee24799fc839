"""The HubSpot connector against its sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.base import ConnectorError, Correction, Identity, OutcomeKind
from connectors.budget import LocalBudgetStore
from connectors.demo_people import ADA, ADA_SECONDARY, HANA, NORA, OLGA
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
    sandbox: SandboxServer,
    retry: RetryPolicy,
    *,
    token: str = TOKEN,
    timeout_s: float = 5,
    api_version: str = "v3",
) -> HubSpotConnector:
    config = {
        "base_url": sandbox.base_url,
        "allow_private_network": True,
        "timeout_s": timeout_s,
        "api_version": api_version,
    }
    return HubSpotConnector.from_config(
        config,
        secrets={"DSAR_SECRET_HUBSPOT_TOKEN": token},
        retry=retry,
        budget=LocalBudgetStore(),
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
    assert outcome.counts == {
        "contact": 1,
        "property_history": 18,
        "notes": 3,
        "emails": 2,
        "calls": 1,
        "meetings": 1,
        "tasks": 1,
        "form_submissions": 2,
    }
    (contact,) = records.of("contact")
    assert contact["properties"]["lastname"] == "Lovelace"
    assert contact["properties"]["company"] == "Analytical Engines Ltd"
    assert {"property": "jobtitle", "value": "Mathematician"}.items() <= (
        next(r for r in records.of("property_history") if r["property"] == "jobtitle").items()
    )
    bodies = [note["hs_note_body"] for note in records.of("notes")]
    assert any("Sent the quote for 25 seats." in body for body in bodies)
    assert records.of("emails")[0]["hs_email_subject"] == "Re: your renewal (1)"
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
    assert outcome.counts["emails"] + outcome.counts["calls"] == 300
    assert outcome.counts["form_submissions"] == 40
    # 500 notes are read 100 at a time, not one request each.
    assert api_calls(control, "/notes/batch/read") == 5


def test_erase_deletes_the_contact_through_gdpr_delete(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    outcome = hubspot.erase(ADA_ID)

    assert outcome.kind == OutcomeKind.ERASED
    assert outcome.changed == ["contact 1001 deleted with its engagements and property history"]
    assert ADA.email not in " ".join(outcome.changed) + outcome.summary
    state = control.state(email=ADA.email)
    assert state == {"exists": False, "blocklisted": True}


def test_an_address_held_as_additional_email_is_found_exported_and_erased_by_id(
    hubspot: HubSpotConnector, control: SandboxControl, records: Records
) -> None:
    """Issue 11: hs_additional_emails was not searched, and a GDPR delete by email deleted
    nothing and blocklisted the secondary address."""
    exported = hubspot.export(Identity(email=ADA_SECONDARY), records)
    erased = hubspot.erase(Identity(email=ADA_SECONDARY))

    assert exported.counts["contact"] == 1
    assert erased.kind == OutcomeKind.ERASED
    assert control.state(email=ADA.email)["exists"] is False


def test_an_archived_contact_is_found_and_erased(
    hubspot: HubSpotConnector, control: SandboxControl, records: Records
) -> None:
    """Issue 11: archived contacts (restorable for 90 days) were never searched."""
    exported = hubspot.export(Identity(email=OLGA.email), records)
    erased = hubspot.erase(Identity(email=OLGA.email))

    assert exported.counts == {"contact": 1, "property_history": 9}
    assert records.of("contact")[0]["archived"] is True
    assert erased.changed == [
        "contact 1005 (archived) deleted with its engagements and property history"
    ]
    assert control.state(email=OLGA.email)["exists"] is False


def test_reading_a_contact_names_its_properties_in_a_body_not_a_414_query_string(
    hubspot: HubSpotConnector, control: SandboxControl, records: Records
) -> None:
    """Issue 11: every property name twice in the query string passed HubSpot's URL limit."""
    hubspot.export(ADA_ID, records)

    assert not [call for call in control.calls() if call["status"] == 414]
    assert len(records.of("contact")[0]["properties"]) > 10


def test_the_date_versioned_paths_reach_the_same_data(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy, records: Records
) -> None:
    outcome = make_connector(sandbox, retry, api_version="2026-03").export(ADA_ID, records)

    assert outcome.counts["calls"] == 1
    assert any(call["path"].startswith("/crm/objects/2026-03/") for call in control.calls())
    assert not any(call["path"].startswith("/crm/v") for call in control.calls())


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


def test_restrict_creates_its_properties_flags_the_contact_and_stops_marketing_once(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    """Issue 11: the two custom properties do not exist in a real portal (HTTP 400), and the
    person stayed subscribed to marketing."""
    first = hubspot.restrict(ADA_ID, reason="DSAR-2026-000001 (Art. 18 GDPR)")
    second = hubspot.restrict(ADA_ID, reason="DSAR-2026-000001 (Art. 18 GDPR)")

    assert first.kind == OutcomeKind.RESTRICTED
    assert first.changed[0] == "contact 1001 marked as restricted (dsar_processing_restricted)"
    assert first.unsubscribed_from == ["Newsletter", "Product updates"]
    assert api_calls(control, "/properties/contacts", status=201) == 2
    assert second.found and second.changed == []
    assert second.summary == "Already restricted"
    state = control.state(email=ADA.email)
    assert state["restricted"] is True
    assert state["restriction_reason"] == "DSAR-2026-000001 (Art. 18 GDPR)"
    assert set(state["subscriptions"].values()) == {"NOT_SUBSCRIBED"}
    assert api_calls(control, "/contacts/1001") == 1


def test_rectify_corrects_mapped_properties_and_names_the_fields_hubspot_lacks(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    changes = {"first_name": "Augusta Ada", "job_title": "Countess", "name": "Augusta Ada King"}

    outcome = hubspot.rectify(ADA_ID, changes=changes)
    again = hubspot.rectify(ADA_ID, changes=changes)

    assert outcome.changed == ["contact 1001: firstname, jobtitle corrected"]
    assert outcome.corrections == [
        Correction("first_name", "Ada", "Augusta Ada"),
        Correction("job_title", "Mathematician", "Countess"),
    ]
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

    assert outcome.kind == OutcomeKind.UNSUBSCRIBED
    assert outcome.unsubscribed_from == ["Newsletter", "Product updates"]
    state = control.state(email=ADA.email)
    assert set(state["subscriptions"].values()) == {"NOT_SUBSCRIBED"}
    assert {basis["legalBasis"] for basis in state["unsubscribe_legal_basis"].values()} == {
        "LEGITIMATE_INTEREST_OTHER"
    }
    assert again.summary == "Already unsubscribed"
    assert api_calls(control, "/unsubscribe") == 2


def test_object_opts_the_address_out_of_all_email_which_no_v3_status_shows_as_subscribed(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    before = hubspot.subscriptions(ADA_ID)
    outcome = hubspot.object(ADA_ID)
    again = hubspot.object(ADA_ID)

    assert {(sub.name, sub.by_person) for sub in before} == {
        ("Newsletter", None),
        ("Product updates", None),
    }
    assert "opted out of all email" in outcome.summary
    assert control.state(email=ADA.email)["opted_out_of_all_email"] is True
    assert hubspot.subscriptions(ADA_ID) == []
    assert again.changed == [] and again.summary == "Already unsubscribed"
    opt_outs = [c["method"] for c in control.calls() if c["path"].endswith("/unsubscribe-all")]
    assert opt_outs.count("POST") == 1


def test_unsubscribe_ends_only_the_subscription_types_it_names(
    hubspot: HubSpotConnector, control: SandboxControl
) -> None:
    outcome = hubspot.unsubscribe(ADA_ID, keys={"5491002"})

    assert outcome.unsubscribed_from == ["Product updates"]
    assert control.state(email=ADA.email)["unsubscribe_legal_basis"].keys() == {"5491002"}


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
    url = f"{sandbox.base_url}/crm/v3/properties/contacts/email"

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
    with pytest.raises(ConnectorError, match="'api_version' must be v3 or a date"):
        HubSpotConnector.from_config(
            {"base_url": "https://api.hubapi.com", "api_version": "v9"},
            secrets={"DSAR_SECRET_HUBSPOT_TOKEN": "t"},
        )


def test_check_creates_the_custom_properties_and_then_finds_them(
    hubspot: HubSpotConnector,
) -> None:
    first = hubspot.check()
    second = hubspot.check()

    assert first.ok and second.ok
    created = {item.name: item.created for item in first.items}
    assert created["property dsar_processing_restricted"] is True
    assert not any(item.created for item in second.items)


def test_the_sandbox_answers_414_to_a_query_string_naming_every_property(
    sandbox: SandboxServer, control: SandboxControl
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    names = ",".join(
        item["name"]
        for item in httpx.get(
            f"{sandbox.base_url}/crm/v3/properties/contacts", headers=headers
        ).json()["results"]
    )

    reply = httpx.get(
        f"{sandbox.base_url}/crm/v3/objects/contacts/1001",
        params={"properties": names, "propertiesWithHistory": names},
        headers=headers,
    )

    assert reply.status_code == 414
