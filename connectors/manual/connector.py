"""The manual connector, for systems with no API (business cards, HR files, the email archive).

It carries out nothing itself: ``supports`` is empty, so the app turns every action into a
manual task for the named team, with the instructions its settings give for that action.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from connectors.base import Action, Connector
from connectors.settings import SettingsReader

SYSTEM = "Manual system"


@dataclass(frozen=True)
class ManualSettings:
    team: str
    instructions: dict[str, str]
    # Where the team hears of a new task (empty: the privacy team's address).
    team_email: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        read = SettingsReader(SYSTEM, config, secrets=secrets)
        instructions = read.text_mapping("instructions", {})
        unknown = sorted(set(instructions) - set(Action))
        if unknown:
            raise read.error(
                f"{SYSTEM} setting 'instructions' names unknown actions: {', '.join(unknown)}; "
                f"actions are {', '.join(Action)}"
            )
        team_email = config.get("team_email", "")
        if not isinstance(team_email, str) or (team_email and "@" not in team_email):
            raise read.error(f"{SYSTEM} setting 'team_email' must be an email address")
        return cls(
            team=read.text("team", "Privacy team"),
            instructions=instructions,
            team_email=team_email.strip(),
        )


class ManualConnector(Connector):
    key = "manual"
    display_name = SYSTEM
    supports: frozenset[Action] = frozenset()

    def __init__(self, settings: ManualSettings) -> None:
        self.settings = settings

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        return cls(ManualSettings.from_config(config, secrets=secrets))

    @property
    def team(self) -> str:
        return self.settings.team

    @property
    def team_email(self) -> str:
        return self.settings.team_email

    def instructions_for(self, action: Action) -> str:
        """What the team should do for ``action``: the configured text, or a general one."""
        configured = self.settings.instructions.get(action)
        if configured:
            return configured
        return (
            f"Carry out '{action}' for this request by hand in this system, then record what "
            "you found or did."
        )
