"""The Mailchimp connector against its sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError, Correction, Identity, OutcomeKind
from connectors.budget import LocalBudgetStore
from connectors.demo_people import (
    ADA,
    BEN,
    CONFIGURED_LISTS,
    EVENTS_LIST,
    FIRST_LIST,
    NORA,
    SECOND_LIST,
)
from connectors.http import RetryPolicy
from connectors.mailchimp.connector import MailchimpConnector, subscriber_hash
from connectors.mailchimp.sandbox import API_KEY, MailchimpSandbox
from connectors.sandbox_base import SandboxControl, SandboxServer

from .conftest import Records, api_calls, controlled, others_than, serve

ADA_ID = Identity(email=ADA.email, name=ADA.name)
NORA_ID = Identity(email=NORA.email)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    yield from serve(MailchimpSandbox(hang_s=5))


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[SandboxControl]:
    yield from controlled(sandbox)


def make_connector(
    sandbox: SandboxServer,
    retry: RetryPolicy,
    *,
    api_key: str = API_KEY,
    list_ids: list[str] | None = None,
) -> MailchimpConnector:
    config: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "allow_private_network": True,
        "list_ids": list(CONFIGURED_LISTS) if list_ids is None else list_ids,
    }
    return MailchimpConnector.from_config(
        config,
        secrets={"DSAR_SECRET_MAILCHIMP_API_KEY": api_key},
        retry=retry,
        budget=LocalBudgetStore(),
    )


@pytest.fixture
def mailchimp(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> MailchimpConnector:
    return make_connector(sandbox, retry)


def test_export_of_ada_holds_her_membership_history_on_every_audience_and_nobody_elses(
    mailchimp: MailchimpConnector, records: Records
) -> None:
    outcome = mailchimp.export(ADA_ID, records)

    assert outcome.found
    assert outcome.counts == {"member": 3, "activity": 36, "tags": 6, "notes": 6, "events": 6}
    assert {member["list_id"] for member in records.of("member")} == {
        FIRST_LIST,
        SECOND_LIST,
        EVENTS_LIST,
    }
    assert records.of("member")[0]["merge_fields"]["LNAME"] == "Lovelace"
    for other in others_than(ADA):
        assert other not in records.text()


def test_export_finds_the_member_whatever_the_case_of_the_address(
    mailchimp: MailchimpConnector, records: Records
) -> None:
    outcome = mailchimp.export(Identity(email="  Ben.Newsletter@Example.ORG "), records)

    # Subscribed to one audience, archived in the other: both hold his data.
    assert outcome.counts["member"] == 2
    assert records.of("member")[0]["email_address"] == BEN.email
    assert {m["status"] for m in records.of("member")} == {"subscribed", "archived"}


def test_export_of_a_person_mailchimp_does_not_know_finds_nothing(
    mailchimp: MailchimpConnector, records: Records
) -> None:
    outcome = mailchimp.export(NORA_ID, records)

    assert not outcome.found
    assert records.items == []


def test_export_of_a_long_activity_history_is_read_a_page_at_a_time(
    mailchimp: MailchimpConnector, records: Records, control: SandboxControl
) -> None:
    outcome = mailchimp.export(Identity(email="hana.heavy@example.com"), records)

    assert outcome.counts["activity"] == 5000
    assert api_calls(control, "/activity-feed") == 5


def test_erase_deletes_the_member_from_every_audience_even_one_the_settings_do_not_name(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    """Issue 11: a member of another audience stayed subscribed while erasure said done."""
    outcome = mailchimp.erase(ADA_ID)

    assert outcome.kind == OutcomeKind.ERASED
    assert outcome.changed == [
        f"list Newsletter ({FIRST_LIST}): member deleted permanently",
        f"list Events ({EVENTS_LIST}): member deleted permanently",
        f"list Product updates ({SECOND_LIST}): member deleted permanently",
    ]
    state = control.state(email=ADA.email)
    assert state["exists"] is False
    assert state["deleted_permanently"] == sorted([FIRST_LIST, SECOND_LIST, EVENTS_LIST])


def test_an_archived_membership_is_found_and_erased(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    outcome = mailchimp.erase(Identity(email=BEN.email))

    assert len(outcome.changed) == 2
    assert control.state(email=BEN.email)["deleted_permanently"] == sorted(
        [FIRST_LIST, SECOND_LIST]
    )


def test_erase_of_unknown_person_succeeds_with_nothing_found(
    mailchimp: MailchimpConnector,
) -> None:
    outcome = mailchimp.erase(NORA_ID)

    assert not outcome.found
    assert outcome.summary == "nothing found"


def test_erasing_twice_deletes_each_membership_once(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    mailchimp.erase(ADA_ID)
    second = mailchimp.erase(ADA_ID)

    assert not second.found
    assert api_calls(control, "/actions/delete-permanent", status=204) == 3


def test_restrict_stops_mailings_on_every_audience_despite_a_required_merge_field(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    """Issue 11: Events requires ADDRESS, which Ada never gave; without
    skip_merge_validation Mailchimp refuses every update of her membership there."""
    first = mailchimp.restrict(ADA_ID, reason="DSAR-2026-000002")
    second = mailchimp.restrict(ADA_ID, reason="DSAR-2026-000002")

    assert first.kind == OutcomeKind.RESTRICTED
    assert first.unsubscribed_from == ["Newsletter", "Events", "Product updates"]
    assert len(first.changed) == 6
    assert second.summary == "Already restricted"
    assert second.unsubscribed_from == []
    for membership in control.state(email=ADA.email)["lists"].values():
        assert membership["status"] == "unsubscribed"
        assert "processing-restricted" in membership["tags"]
    writes = [c for c in control.calls() if c["method"] in ("PATCH", "POST")]
    assert len(writes) == 6


def test_rectify_corrects_merge_fields_and_names_the_fields_mailchimp_lacks(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    changes = {"last_name": "King", "company": "Analytical Engines plc", "country": "UK"}

    outcome = mailchimp.rectify(ADA_ID, changes=changes)
    again = mailchimp.rectify(ADA_ID, changes=changes)

    assert outcome.changed == [
        f"list Newsletter ({FIRST_LIST}): COMPANY, LNAME corrected",
        f"list Events ({EVENTS_LIST}): COMPANY, LNAME corrected",
        f"list Product updates ({SECOND_LIST}): COMPANY, LNAME corrected",
    ]
    assert outcome.corrections == [
        Correction("last_name", "Lovelace", "King"),
        Correction("company", "Analytical Engines Ltd", "Analytical Engines plc"),
    ]
    assert outcome.not_held_fields == ["country"]
    for membership in control.state(email=ADA.email)["lists"].values():
        assert membership["merge_fields"]["LNAME"] == "King"
    assert again.changed == []


def test_rectify_of_the_address_moves_the_member_to_the_new_one(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    outcome = mailchimp.rectify(ADA_ID, changes={"email": "ada.king@example.com"})

    assert outcome.changed == [
        f"list Newsletter ({FIRST_LIST}): email corrected",
        f"list Events ({EVENTS_LIST}): email corrected",
        f"list Product updates ({SECOND_LIST}): email corrected",
    ]
    assert outcome.corrections == [Correction("email", ADA.email, "ada.king@example.com")]
    assert control.state(email="ada.king@example.com")["exists"]
    assert not control.state(email=ADA.email)["exists"]


def test_object_unsubscribes_from_every_list_once(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    outcome = mailchimp.object(Identity(email=BEN.email))
    again = mailchimp.object(Identity(email=BEN.email))

    assert outcome.kind == OutcomeKind.UNSUBSCRIBED
    assert outcome.changed == [f"list Newsletter ({FIRST_LIST}): unsubscribed"]
    assert outcome.unsubscribed_from == ["Newsletter"]
    assert again.kind == OutcomeKind.UNSUBSCRIBED
    assert again.summary == "Already unsubscribed"
    assert control.state(email=BEN.email)["lists"][FIRST_LIST]["status"] == "unsubscribed"
    assert [c["method"] for c in control.calls()].count("PATCH") == 1


def test_check_names_a_configured_list_that_does_not_exist_and_required_merge_fields(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    connector = make_connector(sandbox, retry, list_ids=[FIRST_LIST, "0000000000"])

    report = connector.check()

    assert not report.ok
    messages = {item.name: item.message for item in report.items}
    assert messages["list 0000000000"] == (
        "Mailchimp has no audience 0000000000: remove it from list_ids"
    )
    assert messages["audience Events"] == "requires ADDRESS; updates skip that validation"


def test_mailchimp_refuses_to_resubscribe_through_the_api_only_the_persons_opt_in_does(
    sandbox: SandboxServer, mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    mailchimp.object(Identity(email=BEN.email))
    url = f"{sandbox.base_url}/lists/{FIRST_LIST}/members/{subscriber_hash(BEN.email)}"

    refused = httpx.patch(url, auth=("any", API_KEY), json={"status": "subscribed"})
    pending = httpx.patch(url, auth=("any", API_KEY), json={"status": "pending"})
    control.act("confirm_opt_in", email=BEN.email, list_id=FIRST_LIST)

    assert refused.status_code == 400
    assert refused.json()["title"] == "Member In Compliance State"
    assert pending.status_code == 200
    membership = control.state(email=BEN.email)["lists"][FIRST_LIST]
    assert (membership["status"], membership["subscribed_via"]) == ("subscribed", "double_opt_in")


def test_subscriptions_tell_an_import_from_the_persons_own_double_opt_in(
    sandbox: SandboxServer, mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    ben = Identity(email=BEN.email)
    mailchimp.object(ben)
    url = f"{sandbox.base_url}/lists/{FIRST_LIST}/members/{subscriber_hash(BEN.email)}"
    httpx.patch(url, auth=("any", API_KEY), json={"status": "pending"})
    control.act("confirm_opt_in", email=BEN.email, list_id=FIRST_LIST)
    control.act("import_member", email=BEN.email, list_id=FIRST_LIST)  # subscribed: unchanged
    control.act("import_member", email=BEN.email, list_id=SECOND_LIST)  # archived: restored
    control.act("import_member", email=BEN.email, list_id=EVENTS_LIST)  # a new membership

    found = {sub.key: sub for sub in mailchimp.subscriptions(ben)}

    assert set(found) == {FIRST_LIST, SECOND_LIST, EVENTS_LIST}
    assert found[FIRST_LIST].by_person is True and found[FIRST_LIST].since is not None
    assert "opt-in confirmed from 198.51.100.23" in found[FIRST_LIST].how
    for list_id in (SECOND_LIST, EVENTS_LIST):
        assert found[list_id].by_person is False
        assert found[list_id].how == "source Import; no opt-in confirmed by the person"


def test_unsubscribe_ends_only_the_audiences_it_names(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    outcome = mailchimp.unsubscribe(ADA_ID, keys={SECOND_LIST})

    lists = control.state(email=ADA.email)["lists"]
    assert outcome.kind == OutcomeKind.UNSUBSCRIBED and outcome.unsubscribed_from == [
        "Product updates"
    ]
    assert lists[SECOND_LIST]["status"] == "unsubscribed"
    assert lists[FIRST_LIST]["status"] == lists[EVENTS_LIST]["status"] == "subscribed"


def test_an_import_skips_an_unsubscribed_member_and_an_address_deleted_permanently(
    mailchimp: MailchimpConnector, control: SandboxControl
) -> None:
    mailchimp.object(Identity(email=BEN.email))
    mailchimp.erase(ADA_ID)

    unsubscribed = control.act("import_member", email=BEN.email, list_id=FIRST_LIST)
    deleted = control.act("import_member", email=ADA.email, list_id=FIRST_LIST)

    assert unsubscribed == {
        "imported": False,
        "reason": "unsubscribed: the import skips the member",
    }
    assert deleted["imported"] is False and "deleted permanently" in deleted["reason"]


def test_an_update_leaving_a_required_merge_field_empty_is_refused_without_the_skip(
    sandbox: SandboxServer, control: SandboxControl
) -> None:
    url = f"{sandbox.base_url}/lists/{EVENTS_LIST}/members/{subscriber_hash(ADA.email)}"

    refused = httpx.patch(url, auth=("any", API_KEY), json={"status": "unsubscribed"})
    skipped = httpx.patch(
        url,
        auth=("any", API_KEY),
        params={"skip_merge_validation": "true"},
        json={"status": "unsubscribed"},
    )

    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"field": "ADDRESS", "message": "Please enter a value"}]
    assert skipped.status_code == 200


def test_a_rate_limited_call_is_tried_again_and_succeeds(
    mailchimp: MailchimpConnector, control: SandboxControl, records: Records, sleeps: list[float]
) -> None:
    control.configure(fail_next=1, fail_modes=["429"])

    outcome = mailchimp.export(ADA_ID, records)

    assert outcome.found
    assert [call["status"] for call in control.calls()[:2]] == [429, 200]
    assert sleeps == [0.5]


def test_more_than_ten_simultaneous_connections_get_429_without_rate_limit_headers(
    sandbox: SandboxServer, control: SandboxControl
) -> None:
    # Long enough that all twelve are in progress together, even on a busy machine.
    control.configure(latency_s=1.0)
    url = f"{sandbox.base_url}/lists/{FIRST_LIST}"

    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda _: httpx.get(url, auth=("any", API_KEY)), range(12)))

    limited = [reply for reply in replies if reply.status_code == 429]
    assert len(limited) == 2
    assert limited[0].json()["title"] == "Too Many Requests"
    assert not any(name.lower().startswith("x-ratelimit") for name in limited[0].headers)


def test_an_unknown_member_is_a_404_problem_document(sandbox: SandboxServer) -> None:
    reply = httpx.get(
        f"{sandbox.base_url}/lists/{FIRST_LIST}/members/{'0' * 32}", auth=("any", API_KEY)
    )

    assert reply.status_code == 404
    assert set(reply.json()) == {"type", "title", "status", "detail", "instance"}


def test_a_wrong_api_key_is_a_final_error_naming_mailchimp_and_the_variable(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    with pytest.raises(ConnectorError) as caught:
        make_connector(sandbox, retry, api_key="revoked-us21").erase(ADA_ID)

    assert not caught.value.retryable
    assert str(caught.value).startswith("Mailchimp rejected the credentials (HTTP 401)")
    assert str(caught.value).endswith("check the API key in DSAR_SECRET_MAILCHIMP_API_KEY")
    assert len(control.calls()) == 1


@pytest.mark.parametrize("mode", ["truncated", "shape"])
def test_a_malformed_reply_is_a_final_error_naming_mailchimp(
    mailchimp: MailchimpConnector, control: SandboxControl, records: Records, mode: str
) -> None:
    control.configure(malformed_rate=1.0, malformed_modes=[mode])

    with pytest.raises(ConnectorError) as caught:
        mailchimp.export(ADA_ID, records)

    assert not caught.value.retryable
    assert str(caught.value).startswith("Mailchimp sent a malformed reply to the member search")


def test_settings_say_which_setting_or_secret_is_missing() -> None:
    with pytest.raises(
        ConnectorError, match="set environment variable DSAR_SECRET_MAILCHIMP_API_KEY"
    ):
        MailchimpConnector.from_config(
            {"base_url": "https://us21.api.mailchimp.com/3.0"}, secrets={}
        )
    with pytest.raises(ConnectorError, match="'list_ids' must be a list of texts"):
        MailchimpConnector.from_config(
            {"base_url": "https://us21.api.mailchimp.com/3.0", "list_ids": "a1b2"},
            secrets={"DSAR_SECRET_MAILCHIMP_API_KEY": "k"},
        )
