"""Which connector class drives each kind of system, by key.

The map holds dotted paths, so a connector's module (and its client libraries) is imported only
when a system of that kind is used. Adding a connector is one module and one line here.
"""

from __future__ import annotations

from importlib import import_module

from .base import Connector, ConnectorError

CONNECTORS: dict[str, str] = {
    "hubspot": "connectors.hubspot.connector.HubSpotConnector",
    "mailchimp": "connectors.mailchimp.connector.MailchimpConnector",
    "discourse": "connectors.discourse.connector.DiscourseConnector",
    "sql": "connectors.sql.connector.SqlConnector",
    "manual": "connectors.manual.connector.ManualConnector",
}


def available_keys() -> list[str]:
    return sorted(CONNECTORS)


def get_connector_class(key: str) -> type[Connector]:
    """The connector class for ``key``; a final ``ConnectorError`` for an unknown key."""
    try:
        dotted = CONNECTORS[key]
    except KeyError:
        known = ", ".join(available_keys())
        raise ConnectorError(
            f"There is no connector '{key}'; known connectors: {known}", retryable=False
        ) from None
    module_name, _, class_name = dotted.rpartition(".")
    connector_class = getattr(import_module(module_name), class_name)
    if not (isinstance(connector_class, type) and issubclass(connector_class, Connector)):
        raise TypeError(f"{dotted} is not a Connector")
    return connector_class
