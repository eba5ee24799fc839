"""Running the sandboxes together, and driving them from outside through their control routes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from connectors.base import Identity
from connectors.demo_people import ADA
from connectors.registry import get_connector_class
from connectors.sandbox_base import SandboxControl
from connectors.sandboxes import (
    SANDBOX_SECRETS,
    sandbox_system_configs,
    start_all,
    stop_all,
)

from .conftest import Records


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    yield start_all()
    stop_all()


def test_the_demo_settings_reach_every_sandbox_and_find_ada(urls: dict[str, str]) -> None:
    configs = sandbox_system_configs(urls)

    for key, config in configs.items():
        connector = get_connector_class(key).from_config(config, secrets=SANDBOX_SECRETS)
        records = Records()
        assert connector.export(Identity(email=ADA.email), records).found, key


def test_another_process_can_inject_faults_read_calls_and_reset(urls: dict[str, str]) -> None:
    with SandboxControl(urls["mailchimp"]) as control:
        control.reset()
        settings = control.configure(latency_s=0.01, fail_rate=1.0, fail_modes=["500"])
        reply = httpx.get(f"{urls['mailchimp']}/lists/a1b2c3d4e5", auth=("x", "wrong"))

        assert settings["fail_rate"] == 1.0
        assert reply.status_code == 401
        assert control.calls() == [
            {"method": "GET", "path": "/3.0/lists/a1b2c3d4e5", "status": 401}
        ]

        control.reset()
        assert control.calls() == []
        assert control.configure()["fail_rate"] == 0.0


def test_bad_fault_settings_are_refused_with_the_reason(urls: dict[str, str]) -> None:
    reply = httpx.post(
        f"{urls['hubspot']}/__sandbox__/config", json={"fail_rate": 2, "fail_modes": ["boom"]}
    )

    assert reply.status_code == 400
    assert "between 0 and 1" in reply.json()["error"]


def test_state_tells_whether_a_person_exists_and_their_flags(urls: dict[str, str]) -> None:
    with SandboxControl(urls["discourse"]) as control:
        control.reset()

        assert control.state(email=ADA.email)["suspended"] is False
        assert control.state(email="nora.nobody@example.com")["exists"] is False


def test_latency_can_be_limited_to_the_calls_a_pattern_finds(urls: dict[str, str]) -> None:
    headers = {
        "Api-Key": SANDBOX_SECRETS["DSAR_SECRET_DISCOURSE_API_KEY"],
        "Api-Username": "system",
    }
    with SandboxControl(urls["discourse"]) as control:
        control.reset()
        control.configure(latency_s=0.3, latency_path_pattern=r"/admin/users/list/")

        slow = httpx.get(f"{urls['discourse']}/admin/users/list/active.json", headers=headers)
        fast = httpx.get(f"{urls['discourse']}/admin/users/2.json", headers=headers)
        control.reset()

    assert slow.elapsed.total_seconds() >= 0.3
    assert fast.elapsed.total_seconds() < 0.3
