"""The registry of connectors, the manual connector, and the rule that connectors know nothing
of Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.base import Action, Connector, ConnectorError, Identity
from connectors.manual.connector import ManualConnector
from connectors.registry import CONNECTORS, available_keys, get_connector_class

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_names_a_connector_class_with_that_key() -> None:
    assert available_keys() == ["discourse", "hubspot", "mailchimp", "manual", "sql"]
    for key in available_keys():
        connector_class = get_connector_class(key)
        assert issubclass(connector_class, Connector)
        assert connector_class.key == key
        assert connector_class.display_name


def test_each_connector_declares_what_it_can_do_itself() -> None:
    supports = {key: get_connector_class(key).supports for key in CONNECTORS}

    assert supports["hubspot"] == supports["mailchimp"] == set(Action)
    assert supports["discourse"] == {Action.EXPORT, Action.ERASE, Action.RESTRICT, Action.OBJECT}
    assert supports["sql"] == {Action.EXPORT, Action.ERASE, Action.RESTRICT, Action.RECTIFY}
    assert supports["manual"] == frozenset()


def test_an_unknown_key_is_a_final_error_listing_the_known_ones() -> None:
    with pytest.raises(ConnectorError) as caught:
        get_connector_class("salesforce")

    assert not caught.value.retryable
    assert str(caught.value) == (
        "There is no connector 'salesforce'; known connectors: "
        "discourse, hubspot, mailchimp, manual, sql"
    )


def test_the_manual_connector_hands_every_action_to_the_named_team() -> None:
    connector = get_connector_class("manual").from_config(
        {"team": "HR", "instructions": {"erase": "Shred the application file."}}, secrets={}
    )

    assert isinstance(connector, ManualConnector)
    assert connector.team == "HR"
    assert connector.instructions_for(Action.ERASE) == "Shred the application file."
    assert "by hand" in connector.instructions_for(Action.EXPORT)
    with pytest.raises(NotImplementedError):
        connector.erase(Identity(email="ada.lovelace@example.com"))


def test_manual_instructions_for_an_unknown_action_are_refused() -> None:
    with pytest.raises(ConnectorError, match="names unknown actions: shred"):
        ManualConnector.from_config({"instructions": {"shred": "..."}}, secrets={})


def test_connectors_know_nothing_of_django() -> None:
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "connectors").rglob("*.py")
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "assert not leaked, leaked\n"
    )

    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)
