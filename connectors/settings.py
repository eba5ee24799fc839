"""Reading a connector's plain settings (a JSON object stored by the app) into typed values.

Every problem becomes a final ``ConnectorError`` that names the system and the setting, so staff
can fix the configuration from the message alone. Secrets are never settings: a setting names the
environment variable that holds one, and the caller hands over the environment as ``secrets``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from .base import ConnectorError


class SettingsReader:
    """Typed access to one connector's settings, with errors that say what to fix."""

    def __init__(
        self, system: str, config: Mapping[str, Any], *, secrets: Mapping[str, str]
    ) -> None:
        self.system = system
        if not isinstance(config, Mapping):
            raise self.error(f"{system} settings must be a JSON object")
        self.config = config
        self.secrets = secrets

    def error(self, message: str) -> ConnectorError:
        return ConnectorError(message, retryable=False, system=self.system)

    def text(self, name: str, default: str | None = None) -> str:
        value = self.config.get(name, default)
        if value is None or value == "":
            raise self.error(f"{self.system} setting '{name}' is missing")
        if not isinstance(value, str):
            raise self.error(f"{self.system} setting '{name}' must be text")
        return value

    def choice(self, name: str, choices: Collection[str], default: str) -> str:
        value = self.text(name, default)
        if value not in choices:
            allowed = ", ".join(sorted(choices))
            raise self.error(f"{self.system} setting '{name}' must be one of: {allowed}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.config.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(f"{self.system} setting '{name}' must be a positive number")
        return float(value)

    def text_list(self, name: str, *, required: bool) -> list[str]:
        value = self.config.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"{self.system} setting '{name}' must be a list of texts")
        if required and not value:
            raise self.error(f"{self.system} setting '{name}' is missing")
        return list(value)

    def text_mapping(self, name: str, default: Mapping[str, str]) -> dict[str, str]:
        value = self.config.get(name, default)
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.error(f"{self.system} setting '{name}' must map names to texts")
        return dict(value)

    def base_url(self, name: str = "base_url") -> str:
        value = self.text(name)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.error(f"{self.system} setting '{name}' must be an http(s) URL")
        return value.rstrip("/")

    def secret(self, env_setting: str, *, default_env: str | None, what: str) -> tuple[str, str]:
        """The secret held in the environment variable the settings name, and that name."""
        env_name = self.text(env_setting, default_env)
        value = self.secrets.get(env_name, "")
        if not value:
            raise self.error(
                f"{self.system} {what} is not set: set environment variable {env_name}"
            )
        return value, env_name
