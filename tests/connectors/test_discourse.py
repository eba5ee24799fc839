"""The Discourse connector against its sandbox, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from connectors.base import Action, ConnectorError, Identity, OutcomeKind, RateLimited
from connectors.budget import LocalBudgetStore
from connectors.demo_people import ADA, ADA_SECONDARY, BEN, HANA, NORA
from connectors.discourse.connector import DiscourseConnector
from connectors.discourse.sandbox import API_KEY, DiscourseSandbox
from connectors.http import RetryPolicy
from connectors.sandbox_base import SandboxControl, SandboxServer

from .conftest import Checkpoints, Records, api_calls, controlled, others_than, serve

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
    time_scale: float = 1.0,
    budget: LocalBudgetStore | None = None,
) -> DiscourseConnector:
    config = {
        "base_url": sandbox.base_url,
        "allow_private_network": True,
        "api_username": "system",
        "erase_mode": erase_mode,
        "time_scale": time_scale,
    }
    return DiscourseConnector.from_config(
        config,
        secrets={"DSAR_SECRET_DISCOURSE_API_KEY": api_key},
        retry=retry,
        budget=budget or LocalBudgetStore(),
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
    assert outcome.counts == {"profile": 1, "posts": 45, "private_messages": 6}
    assert records.of("profile")[0]["username"] == "ada_lovelace"
    assert len({post["post_id"] for post in records.of("posts")}) == 45
    # 51 posts and messages: pages of 30, 21, then an empty page that ends the list.
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
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    control.configure(rate_limit=None)
    # Lifts the connector's own budget too: this test is about memory, not time.
    discourse = make_connector(sandbox, retry, time_scale=1e6)
    counted: dict[str, int] = {}

    class Counter:
        """Keeps counts only: the export must not need memory per post."""

        def write(self, category: str, record: object) -> None:
            counted[category] = counted.get(category, 0) + 1

    outcome = discourse.export(Identity(email=HANA.email), Counter())

    assert outcome.counts == {"profile": 1, "posts": 30_000, "private_messages": 300} == counted


def test_erase_anonymizes_the_user_and_says_what_remains(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    outcome = discourse.erase(ADA_ID)

    assert outcome.kind == OutcomeKind.ANONYMISED
    (change,) = outcome.changed
    assert change.startswith("user 2 anonymised (now anon")
    assert outcome.remains == ["posts", "private_messages", "anonymous_profile"]
    assert control.state(email=ADA.email) == {"exists": False, "deleted": False}
    anonymous = control.state(username=change.split("now ")[1].split(")")[0])
    assert anonymous["post_count"] == 45
    assert anonymous["secondary_emails"] == []


def test_erase_in_delete_mode_deletes_a_user_discourse_allows_to_delete(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    # Her first post is younger than the limit, so the guardian allows deleting her.
    control.act("site_settings", delete_user_max_post_age=100_000)

    outcome = make_connector(sandbox, retry, erase_mode="delete").erase(ADA_ID)

    assert outcome.kind == OutcomeKind.ERASED
    assert outcome.changed == ["user 2 deleted with their posts"]
    assert control.state(username="ada_lovelace")["deleted"] is True


def test_a_refused_deletion_falls_back_to_anonymising_and_says_why(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    # Ada has 51 posts, the first from 2024: Discourse refuses to delete her.
    outcome = make_connector(sandbox, retry, erase_mode="delete").erase(ADA_ID)

    assert outcome.kind == OutcomeKind.ANONYMISED
    assert "delete_user_max_post_age" in outcome.summary
    assert outcome.summary.endswith("anonymised instead, as Discourse offers")
    assert outcome.remains == ["posts", "private_messages", "anonymous_profile"]
    assert control.state(email=ADA.email)["exists"] is False
    assert api_calls(control, "/anonymize.json") == 1


def test_a_staff_account_is_refused_with_the_fix_for_staff(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    control.act("update_user", username="ada_lovelace", moderator=True)

    outcome = discourse.erase(ADA_ID)

    assert outcome.kind == OutcomeKind.REFUSED
    assert "revoke the user's admin or moderator role" in outcome.refusal
    assert control.state(email=ADA.email)["anonymized"] is False
    assert api_calls(control, "/anonymize.json") == 0


def test_an_address_held_as_a_secondary_email_finds_the_user(
    discourse: DiscourseConnector, records: Records
) -> None:
    outcome = discourse.export(Identity(email=ADA_SECONDARY), records)

    assert outcome.counts["posts"] == 45
    assert records.of("profile")[0]["username"] == "ada_lovelace"


def test_a_forum_user_name_hint_never_finds_a_user_the_address_does_not(
    discourse: DiscourseConnector, records: Records
) -> None:
    hinted = Identity(email=NORA.email, forum_username="ada_lovelace")

    assert not discourse.export(hinted, records).found
    assert records.items == []


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


def test_restrict_suspends_the_user_with_the_reason(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    outcome = discourse.restrict(ADA_ID, reason="DSAR-2026-000003 (Art. 18 GDPR)")

    assert outcome.kind == OutcomeKind.RESTRICTED
    assert outcome.changed == ["user 2 suspended"]
    state = control.state(email=ADA.email)
    assert state["suspended"] is True
    assert state["suspend_reason"] == "DSAR-2026-000003 (Art. 18 GDPR)"


def test_an_already_suspended_user_is_restricted_not_a_failure(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    control.act("update_user", username="ada_lovelace", suspended_days=7)

    outcome = discourse.restrict(ADA_ID, reason="DSAR-2026-000003 (Art. 18 GDPR)")

    assert outcome.kind == OutcomeKind.RESTRICTED
    assert outcome.changed == []
    assert "already suspended until" in outcome.summary
    assert "extended by hand" in outcome.summary
    assert api_calls(control, "/suspend.json", status=409) == 1


def test_restricting_twice_suspends_once(
    discourse: DiscourseConnector, control: SandboxControl
) -> None:
    discourse.restrict(ADA_ID, reason="DSAR-2026-000003")
    second = discourse.restrict(ADA_ID, reason="DSAR-2026-000003")

    assert second.kind == OutcomeKind.RESTRICTED
    assert second.summary.startswith("Already suspended")
    assert api_calls(control, "/suspend.json", status=200) == 1


def test_an_objection_finds_the_person_held_but_not_used_for_marketing(
    discourse: DiscourseConnector,
) -> None:
    assert discourse.object(ADA_ID).kind == OutcomeKind.NOT_USED
    assert discourse.object(NORA_ID).kind == OutcomeKind.NOT_HELD


def test_rectify_is_left_to_people(discourse: DiscourseConnector) -> None:
    assert Action.RECTIFY not in discourse.supports
    with pytest.raises(NotImplementedError):
        discourse.rectify(ADA_ID, changes={"name": "Ada King"})


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


def test_a_long_rate_limit_wait_goes_back_to_the_caller_as_only_waiting(
    discourse: DiscourseConnector, control: SandboxControl, records: Records, sleeps: list[float]
) -> None:
    control.configure(rate_limit={"requests": 2, "window_s": 60})

    with pytest.raises(RateLimited) as caught:
        discourse.export(ADA_ID, records)

    assert caught.value.retryable and caught.value.waiting_only
    assert caught.value.retry_after > 30
    assert sleeps == []


def test_the_heavy_user_export_resumes_from_its_cursor_after_each_rate_limit_wait(
    sandbox: SandboxServer, control: SandboxControl
) -> None:
    """Issue 11: 30,300 posts at 60 requests a minute can never be read in one attempt; each
    attempt must continue where the last checkpoint left off, writing nothing twice."""
    scale = 300.0  # 60 requests per 0.2 s
    control.configure(time_scale=scale)
    # No wait sat out in-process: every full window ends an attempt.
    retry = RetryPolicy(tries=3, max_wait_s=0.0)
    connector = make_connector(sandbox, retry, time_scale=scale)
    saved = Checkpoints()
    attempts = 0
    while True:
        attempts += 1
        try:
            outcome = connector.export(Identity(email=HANA.email), saved, saved)
        except RateLimited as waiting:
            saved.abandon()
            time.sleep(waiting.retry_after)
            continue
        saved.finish()
        break

    assert attempts > 10
    assert outcome.counts == {"profile": 1, "posts": 30_000, "private_messages": 300}
    ids = [post["post_id"] for post in saved.of("posts") + saved.of("private_messages")]
    assert len(ids) == len(set(ids)) == 30_300


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


def test_a_permission_refusal_is_told_apart_from_wrong_credentials(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    control.act("update_user", username="ada_lovelace", moderator=True)

    with pytest.raises(ConnectorError) as caught:
        make_connector(sandbox, retry).restrict(ADA_ID, reason="DSAR-2026-000004")

    message = str(caught.value)
    assert message.startswith("Discourse refused permission for the suspension (HTTP 403)")
    assert "Scope 'Global'" in message
    assert "rejected the credentials" not in message


def test_check_confirms_the_key_acts_as_an_admin(discourse: DiscourseConnector) -> None:
    report = discourse.check()

    assert report.ok
    assert [item.name for item in report.items] == ["credentials", "admin", "scopes"]


def test_check_with_a_wrong_key_says_which_variable_to_fix(
    sandbox: SandboxServer, control: SandboxControl, retry: RetryPolicy
) -> None:
    report = make_connector(sandbox, retry, api_key="revoked").check()

    assert not report.ok
    assert "DSAR_SECRET_DISCOURSE_API_KEY" in report.items[0].message


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
