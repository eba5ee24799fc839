"""Checking a data system's connection before cases need it: credentials, scopes, and the
custom properties or fields its connector writes (created where the system's API allows).

The admin's "Check connection" action and ``manage.py check_systems`` call ``check_system``.
"""

from __future__ import annotations

from connectors.base import CheckReport, ConnectorError

from .models import DataSystem
from .runs import connector_for


def check_system(system: DataSystem) -> CheckReport:
    """What the system's connector found; settings it cannot even be built from are a failed
    item, never an exception."""
    try:
        connector = connector_for(system)
    except ConnectorError as error:
        report = CheckReport(system.name)
        report.add("settings", ok=False, message=str(error))
        return report
    try:
        return connector.check()
    except ConnectorError as error:
        report = CheckReport(system.name)
        report.add("connection", ok=False, message=str(error))
        return report


def describe(report: CheckReport) -> str:
    """One line per item, for a message or a terminal."""
    return "; ".join(
        f"{item.name}: {'ok' if item.ok else 'PROBLEM'}"
        f"{' (created)' if item.created else ''} - {item.message}"
        for item in report.items
    )
