"""The sandboxes checked by other people's code: every route the connectors use, driven by the
vendors' own Python clients (``hubspot-api-client``, ``mailchimp-marketing``, ``pydiscourse``),
and the Discourse sandbox's replies validated against Discourse's published OpenAPI document.

A sandbox written by the same hands as its connector proves nothing by agreeing with it; these
clients are generated from (or written against) the real APIs, so a reply they cannot parse, a
route they call differently, or a shape the vendor's document refuses is a sandbox bug.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import mailchimp_marketing
import pytest
from hubspot import HubSpot
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.crm.contacts import (
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicGdprDeleteInput,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
    SimplePublicObjectInput,
)
from hubspot.crm.objects import BatchReadInputSimplePublicObjectId as EngagementBatchRead
from hubspot.crm.objects import SimplePublicObjectId as EngagementId
from hubspot.crm.properties import PropertyCreate
from pydiscourse import DiscourseClient
from pydiscourse.exceptions import DiscourseClientError

from connectors.demo_people import ADA, ADA_SECONDARY, EVENTS_LIST, FIRST_LIST, OLGA
from connectors.discourse import sandbox as discourse_sandbox
from connectors.hubspot import sandbox as hubspot_sandbox
from connectors.mailchimp import sandbox as mailchimp_sandbox
from connectors.mailchimp.connector import subscriber_hash
from connectors.sandbox_base import SandboxServer

from .conftest import serve

ROOT = Path(__file__).resolve().parents[2]


# --- HubSpot: hubspot-api-client ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hubspot_server() -> Iterator[SandboxServer]:
    yield from serve(hubspot_sandbox.HubSpotSandbox(rate_limit=None, class_rate_limits={}))


@pytest.fixture
def hubspot(hubspot_server: SandboxServer) -> HubSpot:
    hubspot_server.reset()
    # The client's Configuration.host points its generated APIs at the sandbox (they call the
    # legacy paths); base_url does the same for its generic api_request.
    url = hubspot_server.base_url
    return HubSpot(access_token=hubspot_sandbox.TOKEN, host=url, base_url=url)


def test_hubspot_contact_search_by_primary_or_additional_email_parses_into_the_clients_model(
    hubspot: HubSpot,
) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="email", operator="EQ", value=ADA.email)]),
            FilterGroup(
                filters=[
                    Filter(
                        property_name="hs_additional_emails",
                        operator="CONTAINS_TOKEN",
                        value=ADA_SECONDARY,
                    )
                ]
            ),
        ],
        properties=["email", "hs_additional_emails"],
        limit=10,
    )

    found = hubspot.crm.contacts.search_api.do_search(public_object_search_request=request)

    assert found.total == 1
    assert found.results[0].properties["hs_additional_emails"] == ADA_SECONDARY


def test_hubspot_batch_read_with_history_and_archived_contacts_parse(hubspot: HubSpot) -> None:
    names = ["email", "lastname", "city"]
    live = hubspot.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            properties=names, properties_with_history=names, inputs=[SimplePublicObjectId("1001")]
        )
    )
    archived = hubspot.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            id_property="email",
            properties=names,
            properties_with_history=[],
            inputs=[SimplePublicObjectId(OLGA.email), SimplePublicObjectId("nobody@example.com")],
        ),
        archived=True,
    )

    assert live.results[0].properties_with_history["lastname"][0].value == "Lovelace"
    assert archived.results[0].archived is True
    # 207 with the ids not found, as the client's "with errors" model.
    assert archived.errors[0].context["ids"] == ["nobody@example.com"]


def test_hubspot_properties_list_read_and_create_parse(hubspot: HubSpot) -> None:
    listed = hubspot.crm.properties.core_api.get_all(object_type="contacts")
    created = hubspot.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(
            name="dsar_processing_restricted",
            label="Processing restricted (GDPR)",
            type="enumeration",
            field_type="booleancheckbox",
            group_name="contactinformation",
            options=[{"label": "Yes", "value": "true", "displayOrder": 0}],
        ),
    )
    read = hubspot.crm.properties.core_api.get_by_name(
        object_type="contacts", property_name="dsar_processing_restricted"
    )

    assert len(listed.results) > 300
    assert created.name == read.name == "dsar_processing_restricted"


@pytest.mark.parametrize("kind", ["notes", "emails", "calls", "meetings", "tasks"])
def test_hubspot_engagement_associations_and_batch_reads_parse(hubspot: HubSpot, kind: str) -> None:
    links = hubspot.crm.associations.v4.basic_api.get_page(
        object_type="contacts", object_id="1001", to_object_type=kind, limit=500
    )
    ids = [EngagementId(str(link.to_object_id)) for link in links.results]
    read = getattr(hubspot.crm.objects, kind).batch_api.read(
        batch_read_input_simple_public_object_id=EngagementBatchRead(
            properties=["hs_timestamp"], properties_with_history=[], inputs=ids
        )
    )

    assert len(read.results) == len(ids) > 0


def test_hubspot_update_and_gdpr_delete_by_id(hubspot: HubSpot) -> None:
    updated = hubspot.crm.contacts.basic_api.update(
        contact_id="1001",
        simple_public_object_input=SimplePublicObjectInput(properties={"jobtitle": "Countess"}),
    )
    hubspot.crm.contacts.basic_api.purge(
        public_gdpr_delete_input=PublicGdprDeleteInput(object_id="1001")
    )

    assert updated.properties["jobtitle"] == "Countess"
    with pytest.raises(Exception, match="404"):
        hubspot.crm.contacts.basic_api.get_by_id(contact_id="1001")


def test_hubspot_communication_preferences_parse(hubspot: HubSpot) -> None:
    definitions = hubspot.communication_preferences.definition_api.get_page()
    status = hubspot.communication_preferences.status_api.get_email_status(email_address=ADA.email)
    unsubscribed = hubspot.communication_preferences.status_api.unsubscribe(
        public_update_subscription_status_request=PublicUpdateSubscriptionStatusRequest(
            email_address=ADA.email,
            subscription_id="5491001",
            legal_basis="LEGITIMATE_INTEREST_OTHER",
            legal_basis_explanation="Objection (Art. 21 GDPR)",
        )
    )

    assert {d.id for d in definitions.subscription_definitions} == {"5491001", "5491002"}
    assert {s.status for s in status.subscription_statuses} == {"SUBSCRIBED"}
    assert unsubscribed.status == "NOT_SUBSCRIBED"


def test_hubspot_forms_list_parses_and_submissions_are_read_raw(
    hubspot: HubSpot, hubspot_server: SandboxServer
) -> None:
    forms = hubspot.marketing.forms.forms_api.get_page()
    # hubspot-api-client has no Forms submissions API (/form-integrations/v1/...): it only
    # covers the v3 forms definitions. Its generic api_request is what remains, so the
    # submissions page is checked for the fields the connector reads.
    guid = forms.results[0].id
    reply = hubspot.api_request(
        {"method": "GET", "path": f"/form-integrations/v1/submissions/forms/{guid}?limit=50"}
    )
    page = reply.json()

    assert len(forms.results) == 2
    assert {"submittedAt", "values", "pageUrl"} <= set(page["results"][0])


def test_hubspot_serves_both_path_families_from_one_handler(
    hubspot_server: SandboxServer,
) -> None:
    hubspot_server.reset()
    headers = {"Authorization": f"Bearer {hubspot_sandbox.TOKEN}"}
    pairs = [
        ("/crm/v3/properties/contacts/email", "/crm/properties/2026-03/contacts/email"),
        (
            "/crm/v4/objects/contacts/1001/associations/calls",
            "/crm/objects/2026-03/contacts/1001/associations/calls",
        ),
    ]
    for legacy, dated in pairs:
        old = httpx.get(hubspot_server.base_url + legacy, headers=headers)
        new = httpx.get(hubspot_server.base_url + dated, headers=headers)
        assert old.status_code == new.status_code == 200
        assert old.json() == new.json()


# --- Mailchimp: mailchimp-marketing -------------------------------------------------------------


@pytest.fixture(scope="module")
def mailchimp_server() -> Iterator[SandboxServer]:
    yield from serve(mailchimp_sandbox.MailchimpSandbox())


@pytest.fixture
def mailchimp(mailchimp_server: SandboxServer) -> Any:
    mailchimp_server.reset()
    client = mailchimp_marketing.Client()
    client.set_config({"api_key": mailchimp_sandbox.API_KEY, "server": "us21"})
    # The configuration's host points the client at the sandbox.
    client.api_client.host = mailchimp_server.base_url
    return client


def test_mailchimp_ping_lists_and_merge_fields(mailchimp: Any) -> None:
    assert mailchimp.ping.get()["health_status"] == "Everything's Chimpy!"
    lists = mailchimp.lists.get_all_lists(count=1000)
    named = mailchimp.lists.get_list(FIRST_LIST, fields=["id", "name"])
    fields = mailchimp.lists.get_list_merge_fields(EVENTS_LIST, count=1000)

    assert lists["total_items"] == 3
    assert named["name"] == "Newsletter"
    assert [f["tag"] for f in fields["merge_fields"] if f["required"]] == ["ADDRESS"]


def test_mailchimp_account_wide_member_search(mailchimp: Any) -> None:
    found = mailchimp.searchMembers.search(ADA.email)

    assert {m["list_id"] for m in found["exact_matches"]["members"]} == {
        "a1b2c3d4e5",
        "f6e5d4c3b2",
        EVENTS_LIST,
    }


def test_mailchimp_member_and_its_histories(mailchimp: Any) -> None:
    member_hash = subscriber_hash(ADA.email)
    member = mailchimp.lists.get_list_member(FIRST_LIST, member_hash)
    feed = mailchimp.lists.get_list_member_activity_feed(FIRST_LIST, member_hash, count=1000)
    tags = mailchimp.lists.get_list_member_tags(FIRST_LIST, member_hash, count=1000)
    notes = mailchimp.lists.get_list_member_notes(FIRST_LIST, member_hash, count=1000)
    events = mailchimp.lists.get_list_member_events(FIRST_LIST, member_hash, count=1000)

    assert member["email_address"] == ADA.email
    assert len(feed["activity"]) == feed["total_items"] == 12
    assert {len(tags["tags"]), len(notes["notes"]), len(events["events"])} == {2}


def test_mailchimp_updates_with_skip_merge_validation_tags_and_permanent_deletion(
    mailchimp: Any, mailchimp_server: SandboxServer
) -> None:
    member_hash = subscriber_hash(ADA.email)
    updated = mailchimp.lists.update_list_member(
        EVENTS_LIST, member_hash, {"status": "unsubscribed"}, skip_merge_validation=True
    )
    mailchimp.lists.update_list_member_tags(
        EVENTS_LIST, member_hash, {"tags": [{"name": "processing-restricted", "status": "active"}]}
    )
    mailchimp.lists.delete_list_member_permanent(EVENTS_LIST, member_hash)

    assert updated["status"] == "unsubscribed"
    assert mailchimp_server.state({"email": ADA.email})["deleted_permanently"] == [EVENTS_LIST]


def test_mailchimp_refusals_reach_the_client_as_its_api_errors(mailchimp: Any) -> None:
    member_hash = subscriber_hash(ADA.email)
    with pytest.raises(mailchimp_marketing.api_client.ApiClientError) as required:
        mailchimp.lists.update_list_member(EVENTS_LIST, member_hash, {"status": "unsubscribed"})
    mailchimp.lists.update_list_member(
        FIRST_LIST, member_hash, {"status": "unsubscribed"}, skip_merge_validation=True
    )
    with pytest.raises(mailchimp_marketing.api_client.ApiClientError) as compliance:
        mailchimp.lists.update_list_member(FIRST_LIST, member_hash, {"status": "subscribed"})

    # The client hands over the problem document already decoded.
    assert required.value.text["detail"] == "Your merge fields were invalid."
    assert compliance.value.text["title"] == "Member In Compliance State"


# --- Discourse: pydiscourse and the OpenAPI document -------------------------------------------


def discourse_document() -> dict[str, Any]:
    """Discourse's API document, from ``shared/reference/vendor`` next to the repository (or
    any folder above it)."""
    name = Path("shared/reference/vendor/discourse-openapi.json")
    for folder in [ROOT, *ROOT.parents]:
        if (folder / name).is_file():
            document: dict[str, Any] = json.loads((folder / name).read_text())
            return document
    pytest.skip(
        f"Discourse's OpenAPI document ({name}) is not on this machine: it sits in the shared "
        "folder beside the repository on developer machines and in CI"
    )


# Where the document differs from what Discourse answers, each change with its reason in
# Discourse's own source (discourse/discourse).
Deviation = tuple[str, Callable[[dict[str, Any]], None]]


def _list_items(doc: dict[str, Any]) -> dict[str, Any]:
    op = doc["paths"]["/admin/users/list/{flag}.json"]["get"]
    schema: dict[str, Any] = op["responses"]["200"]["content"]["application/json"]["schema"]
    return schema


def _drop_min_items(doc: dict[str, Any]) -> None:
    _list_items(doc).pop("minItems", None)


def _add_filter(doc: dict[str, Any]) -> None:
    doc["paths"]["/admin/users/list/{flag}.json"]["get"]["parameters"].append(
        {"name": "filter", "in": "query", "schema": {"type": "string"}}
    )


def _action_types(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/user_actions.json"]["get"]
    items = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"][
        "user_actions"
    ]["items"]
    items["properties"]["post_id"] = {"type": ["integer", "null"]}
    items["properties"]["hidden"] = {"type": ["boolean", "null"]}
    items["properties"]["post_type"] = {"type": ["integer", "null"]}
    items["properties"]["reply_to_post_number"] = {"type": ["integer", "null"]}


def _detail_fields(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/admin/users/{id}.json"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    for name, kind in (
        ("email", "string"),
        ("secondary_emails", "array"),
        ("suspended_at", ["string", "null"]),
        ("suspended_till", ["string", "null"]),
        ("suspend_reason", ["string", "null"]),
    ):
        schema["properties"][name] = {"type": kind}


DEVIATIONS: list[Deviation] = [
    (
        "The user list may be empty: AdminUserIndexQuery#find_users returns an empty relation "
        "when nothing matches (lib/admin_user_index_query.rb), rendered as [] by "
        "Admin::UsersController#index; the document's minItems: 1 is wrong.",
        _drop_min_items,
    ),
    (
        "The user list takes filter=: AdminUserIndexQuery#filter_by_search passes "
        "params[:filter] to User.filter_by_username_or_email, which matches an address exactly "
        "among all of a user's emails (secondary ones too) before falling back to a substring "
        "search; the document lists only email=, which matches primary addresses.",
        _add_filter,
    ),
    (
        "User actions carry post_id, post_type (integers), hidden (a boolean) and "
        "reply_to_post_number: UserActionSerializer (app/serializers/user_action_serializer.rb) "
        "serialises the posts columns UserAction.stream selects; the document types them as "
        "strings and omits reply_to_post_number under additionalProperties: false.",
        _action_types,
    ),
    (
        "The admin user detail includes email and secondary_emails for staff who may see them "
        "(AdminUserListSerializer, include_email?/include_secondary_emails?), suspended_at and "
        "suspended_till (AdminUserListSerializer) and suspend_reason "
        "(AdminDetailedUserSerializer); the document's additionalProperties: false leaves "
        "them out.",
        _detail_fields,
    ),
]
# Not validated, with the reason:
# - Refusals (403 invalid_access, 404, 409 already suspended, 429 rate_limit): the document
#   describes 200 replies only, while ApplicationController renders Discourse::InvalidAccess and
#   NotFound with render_json_error, Admin::UsersController#suspend answers 409 on
#   on_failed_policy(:not_suspended_already) and the rate limiter 429 with extras.wait_seconds.
#   Their shape is asserted in test_discourse.py instead.
# - GET /session/current.json is not in the document (SessionController#current); pydiscourse
#   has no method for it either, so it is driven through pydiscourse's generic _get.


@pytest.fixture(scope="module")
def discourse_server() -> Iterator[SandboxServer]:
    yield from serve(discourse_sandbox.DiscourseSandbox(rate_limit=None))


@pytest.fixture
def pydiscourse(discourse_server: SandboxServer) -> DiscourseClient:
    discourse_server.reset()
    return DiscourseClient(
        discourse_server.base_url,
        api_username=discourse_sandbox.API_USERNAME,
        api_key=discourse_sandbox.API_KEY,
    )


@pytest.fixture(scope="module")
def openapi() -> Any:
    from openapi_core import OpenAPI

    document = copy.deepcopy(discourse_document())
    for _why, change in DEVIATIONS:
        change(document)
    return OpenAPI.from_dict(document)


def validated(openapi: Any, server: SandboxServer, method: str, path: str, **query: str) -> Any:
    """The sandbox's reply to one call, after openapi-core found it valid for the document."""
    from openapi_core.testing import MockRequest, MockResponse

    headers = {
        "Api-Key": discourse_sandbox.API_KEY,
        "Api-Username": discourse_sandbox.API_USERNAME,
    }
    reply = httpx.request(method, server.base_url + path, params=query, headers=headers)
    # The document's server is https://{defaultHost}; the request is matched as if made there.
    request = MockRequest("https://discourse.example.com", method, path, args=query)
    response = MockResponse(reply.content, status_code=reply.status_code)
    openapi.validate_response(request, response)
    return reply.json()


def test_discourse_user_list_by_filter_finds_a_secondary_address_and_matches_the_document(
    pydiscourse: DiscourseClient, openapi: Any, discourse_server: SandboxServer
) -> None:
    users = pydiscourse.list_users("active", filter=ADA_SECONDARY, show_emails="true")
    empty = validated(
        openapi,
        discourse_server,
        "GET",
        "/admin/users/list/active.json",
        filter="nobody-at-all@example.com",
        show_emails="true",
    )
    found = validated(
        openapi,
        discourse_server,
        "GET",
        "/admin/users/list/active.json",
        filter=ADA.email,
        show_emails="true",
    )

    assert [u["username"] for u in users] == ["ada_lovelace"]
    assert empty == []
    assert found[0]["secondary_emails"] == [ADA_SECONDARY]


def test_discourse_user_detail_and_actions_match_the_document(
    pydiscourse: DiscourseClient, openapi: Any, discourse_server: SandboxServer
) -> None:
    detail = pydiscourse.user_by_id(2)
    actions = pydiscourse.user_actions("ada_lovelace", "4,5,12", offset=0)
    validated(openapi, discourse_server, "GET", "/admin/users/2.json")
    validated(
        openapi,
        discourse_server,
        "GET",
        "/user_actions.json",
        username="ada_lovelace",
        filter="4,5,12",
        offset="30",
    )

    assert detail["can_be_deleted"] is False
    assert len(actions) == 30
    assert 12 in {action["action_type"] for action in actions}


def test_discourse_anonymize_suspend_and_delete_through_pydiscourse(
    pydiscourse: DiscourseClient, discourse_server: SandboxServer
) -> None:
    discourse_server.actions()["site_settings"]({"delete_user_max_post_age": 100_000})
    suspended = pydiscourse.suspend(4, 365_000, "DSAR-2026-000009 (Art. 18 GDPR)")
    anonymised = pydiscourse.anonymize(2)
    deleted = pydiscourse.delete_user(5, delete_posts="true")

    assert suspended["suspension"]["suspend_reason"] == "DSAR-2026-000009 (Art. 18 GDPR)"
    assert anonymised["success"] == "OK"
    assert deleted == {"deleted": True}
    # A second suspension is refused with 409, which pydiscourse raises as a client error.
    with pytest.raises(DiscourseClientError):
        pydiscourse.suspend(4, 1, "again")


def test_discourse_session_is_read_through_pydiscourses_generic_get(
    pydiscourse: DiscourseClient,
) -> None:
    assert pydiscourse._get("/session/current.json")["current_user"]["admin"] is True
