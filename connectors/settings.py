"""Reading a connector's plain settings (a JSON object stored by the app) into typed values.

Every problem becomes a final ``ConnectorError`` that names the system and the setting, so staff
can fix the configuration from the message alone. Secrets are never settings: a setting whose
name ends in ``_env`` names the environment variable that holds one, and the caller hands over
the allowed part of the environment as ``secrets`` (a ``ConnectorSecrets``).

Only variables on the allow-list are secrets a connector may read: names that start with
``DSAR_SECRET_``, and names the operator lists explicitly (``SecretPolicy.names``). So whoever may
edit a data system cannot have ``SECRET_KEY``, ``DATABASE_URL`` or the email provider's key sent
anywhere. A secret may be pinned to the hosts it may be sent to (``SecretPolicy.hosts``); and a
secret travels over plain ``http://`` only to a system marked ``allow_private_network``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .base import ConnectorError

SECRET_PREFIX = "DSAR_SECRET_"  # noqa: S105  # nosec B105  # a name prefix, not a password
# A setting with a name ending so names the environment variable that holds a secret.
SECRET_SETTING_SUFFIX = "_env"  # noqa: S105  # nosec B105  # a name suffix, not a password


@dataclass(frozen=True)
class SecretPolicy:
    """Which environment variables connectors may read, and where each may be sent."""

    names: frozenset[str] = frozenset()
    hosts: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def allows(self, name: str) -> bool:
        prefixed = name.startswith(SECRET_PREFIX) and len(name) > len(SECRET_PREFIX)
        return prefixed or name in self.names

    def refusal(self, name: str) -> str:
        listed = f" or listed in DSAR_ALLOWED_SECRET_NAMES ({', '.join(sorted(self.names))})"
        return (
            f"{name} is not a connector secret: connectors read only environment variables "
            f"named {SECRET_PREFIX}…{listed if self.names else ''}"
        )


class ConnectorSecrets(Mapping[str, str]):
    """A view of the environment holding only the variables a connector may read, and the
    policy that chose them."""

    def __init__(self, environ: Mapping[str, str], *, policy: SecretPolicy) -> None:
        self.policy = policy
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        if not self.policy.allows(name):
            raise KeyError(name)
        return self._environ[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in list(self._environ) if self.policy.allows(name))

    def __len__(self) -> int:
        return sum(1 for _name in self)

    def __repr__(self) -> str:  # names only, never values
        return f"ConnectorSecrets({sorted(self)})"


def policy_of(secrets: Mapping[str, str]) -> SecretPolicy:
    policy = getattr(secrets, "policy", None)
    return policy if isinstance(policy, SecretPolicy) else SecretPolicy()


def secret_names(config: Mapping[str, Any]) -> dict[str, str]:
    """The secrets a system's settings name: setting → environment variable."""
    return {
        name: value
        for name, value in config.items()
        if name.endswith(SECRET_SETTING_SUFFIX) and isinstance(value, str)
    }


def secret_problems(config: Mapping[str, Any], policy: SecretPolicy) -> list[str]:
    """What is wrong with the secrets a system's settings name and where they would go."""
    problems = []
    base_url = config.get("base_url")
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    for setting, name in secret_names(config).items():
        if not policy.allows(name):
            problems.append(f"'{setting}': {policy.refusal(name)}")
            continue
        if parts is None:
            continue
        pinned = policy.hosts.get(name)
        if pinned and parts.hostname not in pinned:
            problems.append(
                f"'{setting}': {name} may be sent only to {', '.join(sorted(pinned))}, "
                f"not to {parts.hostname}"
            )
        if parts.scheme != "https" and config.get("allow_private_network") is not True:
            problems.append(
                f"'{setting}': {name} would travel unencrypted to {parts.hostname}: use "
                "https://, or mark an on-premises system allow_private_network"
            )
    return problems


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
        """The secret held in the environment variable the settings name, and that name;
        refused when the name is not on the allow-list or the secret would go where its
        policy does not let it."""
        env_name = self.text(env_setting, default_env)
        policy = policy_of(self.secrets)
        if not policy.allows(env_name):
            raise self.error(f"{self.system} {what}: {policy.refusal(env_name)}")
        problems = secret_problems({**self.config, env_setting: env_name}, policy)
        if problems:
            raise self.error(f"{self.system} {what}: {problems[0].split(': ', 1)[1]}")
        value = self.secrets.get(env_name, "")
        if not value:
            raise self.error(
                f"{self.system} {what} is not set: set environment variable {env_name}"
            )
        return value, env_name
