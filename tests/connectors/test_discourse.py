"""The Discourse connector against its sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.base import Action, ConnectorError, Identity
from connectors.demo_people import ADA, BEN, HANA, NORA
from connectors.discourse.connector import DiscourseConnector
from connectors.discourse.sandbox import API_KEY, DiscourseSandbox
from connectors.http import RetryPolicy
from connectors.sandbox_base import SandboxControl, SandboxServer

from .conftest import Records, api_calls, controlled, others_than, serve

ADA_ID = Identity(email=ADA.email, name=ADA.name)
NORA_ID = Identity(email=NORA.email)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    yield from serve(DiscourseSandbox(hang_s=5))


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[SandboxControl]:
    yield from controlled(sandbox)


def make_connector(
    sandbox: SandboxServer,
    retry: RetryPolicy,
    *,
    api_key: str = API_KEY,
    erase_mode: str = "anonymize",
) -> DiscourseConnector:
    config = {
        "base_url": sandbox.base_url,
        "allow_private_network": True,
        "api_username": "system",
        "erase_mode": erase_mode,
    }
    return DiscourseConnector.from_config(
        config, secrets={"DSAR_SECRET_DISCOURSE_API_KEY": api_key}, retry=retry
    )


@pytest.fixture
def discourse(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> DiscourseConnector:
    return make_connector(sandbox, retry)


def test_export_of_ada_pages_through_all_her_posts_and_names_nobody_else(
    discourse: DiscourseConnector, records: Records, control: SandboxControl
) -> None:
    outcome = discourse.export(ADA_ID, records)

    assert outcome.found
    assert outcome.counts == {"profile": 1, "posts": 45}
    assert records.of("profile")[0]["username"] == "ada_lovelace"
    assert len({post["post_id"] for post in records.of("posts")}) == 45
    # Pages of 30, 15, then an empty page that ends the list.
    assert api_calls(control, "/user_actions.json") == 3
    # Her replies sit in other people's topics; their names stay out of her export.
    for other in others_than(ADA):
        assert other not in records.text()


def test_export_of_a_person_the_forum_does_not_know_finds_nothing(
    discourse: DiscourseConnector, records: Records
) -> None:
    assert not discourse.export(Identity(email=BEN.email), records).found
    assert records.items == []


def test_export_of_the_heavy_user_streams_all_30000_posts(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    control.configure(rate_limit=None)
    counted: dict[str, int] = {}

    class Counter:
        """Keeps counts only: the export must not need memory per post."""

        def write(self, category: str, record: object) -> None:
            counted[category] = counted.get(category, 0) + 1

    outcome = discourse.export(Identity(email=HANA.email), Counter())

    assert outcome.counts == {"profile": 1, "posts": 30_000} == counted


def test_erase_anonymizes_the_user_and_keeps_the_posts(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    outcome = discourse.erase(ADA_ID)

    assert outcome.found
    (change,) = outcome.changed
    assert change.startswith("user 2 anonymised (now anon")
    assert outcome.details["kept"] == ["posts, now shown under an anonymous name"]
    assert control.state(email=ADA.email) == {"exists": False}
    anonymous = control.state(username=change.split("now ")[1].split(")")[0])
    assert anonymous["post_count"] == 45


def test_erase_in_delete_mode_deletes_the_user_with_the_posts(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    outcome = make_connector(sandbox, retry, erase_mode="delete").erase(ADA_ID)

    assert outcome.changed == ["user 2 deleted with their posts"]
    assert control.state(username="ada_lovelace") == {"exists": False}


def test_erase_of_unknown_person_succeeds_with_nothing_found(
    discourse: DiscourseConnector,
) -> None:
    outcome = discourse.erase(NORA_ID)

    assert not outcome.found
    assert outcome.summary == "nothing found"


def test_erasing_twice_anonymizes_once(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    discourse.erase(ADA_ID)
    second = discourse.erase(ADA_ID)

    assert not second.found
    assert api_calls(control, "/anonymize.json") == 1


def test_restrict_suspends_the_user_with_the_reason_once(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    first = discourse.restrict(ADA_ID, reason="DSAR-2026-000003 (Art. 18 GDPR)")
    second = discourse.restrict(ADA_ID, reason="DSAR-2026-000003 (Art. 18 GDPR)")

    assert first.changed == ["user 2 suspended"]
    assert second.summary == "Already suspended"
    state = control.state(email=ADA.email)
    assert state["suspended"] is True
    assert state["suspend_reason"] == "DSAR-2026-000003 (Art. 18 GDPR)"
    assert api_calls(control, "/suspend.json") == 1


def test_rectify_and_object_are_left_to_people(discourse: DiscourseConnector) -> None:
    assert discourse.supports == {Action.EXPORT, Action.ERASE, Action.RESTRICT}
    with pytest.raises(NotImplementedError):
        discourse.rectify(ADA_ID, changes={"name": "Ada King"})
    with pytest.raises(NotImplementedError):
        discourse.object(ADA_ID)


def test_a_rate_limited_call_waits_the_seconds_discourse_names_and_succeeds(
    discourse: DiscourseConnector, control: SandboxControl, records: Records, sleeps: list[float]
) -> None:
    control.configure(fail_next=1, fail_modes=["429"], retry_after_s=2)

    outcome = discourse.export(ADA_ID, records)

    assert outcome.found
    assert sleeps == [2.0]


def test_over_the_minute_limit_discourse_answers_429_with_retry_after_and_wait_seconds(
    sandbox: SandboxServer, control: SandboxControl
) -> None:
    control.configure(rate_limit={"requests": 1, "window_s": 60})
    headers = {"Api-Key": API_KEY, "Api-Username": "system"}
    url = f"{sandbox.base_url}/admin/users/2.json"

    assert httpx.get(url, headers=headers).status_code == 200
    limited = httpx.get(url, headers=headers)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    body = limited.json()
    assert body["error_type"] == "rate_limit"
    assert 55 <= body["extras"]["wait_seconds"] <= 60


def test_a_long_rate_limit_wait_goes_back_to_the_caller_without_blocking(
    discourse: DiscourseConnector, control: SandboxControl, records: Records, sleeps: list[float]
) -> None:
    control.configure(rate_limit={"requests": 2, "window_s": 60})

    with pytest.raises(ConnectorError) as caught:
        discourse.export(ADA_ID, records)

    assert caught.value.retryable
    assert caught.value.retry_after is not None and caught.value.retry_after > 30
    assert sleeps == []


def test_a_wrong_api_key_is_a_final_error_naming_discourse_and_the_variable(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    with pytest.raises(ConnectorError) as caught:
        make_connector(sandbox, retry, api_key="revoked").erase(ADA_ID)

    assert not caught.value.retryable
    message = str(caught.value)
    assert message.startswith("Discourse rejected the credentials (HTTP 403)")
    assert "check the API key in DSAR_SECRET_DISCOURSE_API_KEY" in message
    assert len(control.calls()) == 1


@pytest.mark.parametrize("mode", ["truncated", "shape"])
def test_a_malformed_reply_is_a_final_error_naming_discourse(
    discourse: DiscourseConnector, control: SandboxControl, records: Records, mode: str
) -> None:
    control.configure(malformed_rate=1.0, malformed_modes=[mode])

    with pytest.raises(ConnectorError) as caught:
        discourse.export(ADA_ID, records)

    assert not caught.value.retryable
    assert str(caught.value).startswith("Discourse sent a malformed reply to the user search")


def test_settings_refuse_an_unknown_erase_mode() -> None:
    with pytest.raises(ConnectorError, match="'erase_mode' must be one of: anonymize, delete"):
        DiscourseConnector.from_config(
            {"base_url": "https://forum.example.com", "erase_mode": "shred"},
            secrets={"DSAR_SECRET_DISCOURSE_API_KEY": "k"},
        )
