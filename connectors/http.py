"""The one HTTP helper every web-API connector uses.

It owns what all of them must get right the same way: a mandatory timeout; a few immediate tries
with short exponential backoff for passing failures (timeouts, connection errors, 429, 5xx);
honouring ``Retry-After`` and Discourse's ``extras.wait_seconds`` up to a cap, beyond which the
error goes back to the caller (a Celery task retries later instead of blocking a worker); never
retrying final failures; and turning every reply into checked JSON, so a malformed reply is a
named final error and never a ``KeyError`` deep in a connector.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx

from .base import Connector, ConnectorError
from .netguard import AddressRefused, GuardedTransport, NetworkPolicy

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request before handing the failure back to the caller.

    Tests inject ``sleep`` (and ``jitter``) to stay fast and to see the waits.
    """

    tries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 4.0
    # Longest wait a server may ask for that we sit out in-process; beyond it the caller retries.
    max_wait_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int) -> float:
        """Wait before try ``attempt + 1``: doubling per try, capped, with jitter against herds."""
        base = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        return base * (0.5 + 0.5 * self.jitter())


@dataclass(frozen=True)
class Reply:
    """A successful (or explicitly accepted) reply, with checked access to its JSON."""

    system: str
    what: str
    status: int
    content: bytes

    def malformed(self, problem: str) -> ConnectorError:
        return ConnectorError(
            f"{self.system} sent a malformed reply to the {self.what}: {problem}",
            retryable=False,
            system=self.system,
        )

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError):
            raise self.malformed("it is not valid JSON") from None

    def json_object(self) -> dict[str, Any]:
        return self.as_object(self.json(), "the reply")

    def json_list(self) -> list[Any]:
        data = self.json()
        if not isinstance(data, list):
            raise self.malformed("expected a list")
        return data

    def as_object(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.malformed(f"{where} is not an object")
        return value

    def get(self, obj: Mapping[str, Any], key: str, kind: type[T]) -> T:
        """``obj[key]``, which must be present and of type ``kind``."""
        if key not in obj:
            raise self.malformed(f"'{key}' is missing")
        return self._check(obj[key], key, kind)

    def optional(self, obj: Mapping[str, Any], key: str, kind: type[T], default: T) -> T:
        """``obj[key]`` if present and not null, else ``default``; of type ``kind`` if present."""
        value = obj.get(key)
        return default if value is None else self._check(value, key, kind)

    def objects(self, obj: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        """``obj[key]``, which must be a list of objects."""
        return [self.as_object(item, f"an item of '{key}'") for item in self.get(obj, key, list)]

    def _check(self, value: Any, key: str, kind: type[T]) -> T:
        # bool is an int in Python, but never a valid id or count in a reply.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.malformed(f"'{key}' is not of type {kind.__name__}")
        return value


class HttpClient:
    """One system's HTTP client: base URL, credentials, timeout and retry policy in one place."""

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        timeout_s: float,
        credentials_hint: str,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        retry: RetryPolicy | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self.system = system
        self.credentials_hint = credentials_hint
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            headers=dict(headers or {}),
            auth=auth,
            follow_redirects=False,
            # Public addresses only (unless the system is on-premises), checked at connect time.
            transport=GuardedTransport(network, budget_s=3 * timeout_s),
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> Reply:
        """Send one request, trying again on passing failures.

        Returns the reply when its status is 2xx or in ``accept`` (say 404, when "not there" is
        an answer); raises ``ConnectorError`` otherwise. ``what`` names the request in messages
        ("contact search"); URLs are left out of them because they may hold an email address.
        Every request our connectors send is idempotent, so trying a POST again is safe.
        """
        attempt = 0
        while True:
            attempt += 1
            result = self._attempt(method, path, what=what, params=params, body=json, accept=accept)
            if isinstance(result, Reply):
                return result
            error = result
            if not error.retryable or attempt >= self.retry.tries:
                raise error
            wait = error.retry_after
            if wait is None:
                wait = self.retry.backoff(attempt)
            elif wait > self.retry.max_wait_s:
                raise error
            self.retry.sleep(wait)

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None,
        body: Any,
        accept: Collection[int],
    ) -> Reply | ConnectorError:
        try:
            response = self._client.request(method, path, params=params, json=body)
        except AddressRefused as exc:
            return self.error(f"{self.system} was not contacted for the {what}: {exc}")
        except httpx.TimeoutException:
            return self.error(
                f"{self.system} did not answer the {what} within {self.timeout_s:g} s",
                retryable=True,
            )
        except httpx.TransportError as exc:
            return self.error(
                f"Could not reach {self.system} for the {what}: {type(exc).__name__}",
                retryable=True,
            )
        status = response.status_code
        if 200 <= status < 300 or status in accept:
            return Reply(system=self.system, what=what, status=status, content=response.content)
        detail = _detail(response)
        if status in RETRYABLE_STATUSES:
            wait = _requested_wait(response)
            later = f"; try again in {wait:g} s" if wait is not None else ""
            busy = "is rate limiting us" if status == 429 else "had a server error"
            return self.error(
                f"{self.system} {busy} (HTTP {status}) on the {what}{later}",
                retryable=True,
                retry_after=wait,
            )
        if status in (401, 403):
            return self.error(
                f"{self.system} rejected the credentials (HTTP {status}) on the {what}{detail}: "
                f"{self.credentials_hint}"
            )
        return self.error(f"{self.system} refused the {what} (HTTP {status}){detail}")

    def error(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> ConnectorError:
        """An error of this system, also for problems a connector finds in a reply's content."""
        return ConnectorError(
            message, retryable=retryable, retry_after=retry_after, system=self.system
        )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _detail(response: httpx.Response) -> str:
    """The system's own explanation of a refusal, shortened: HubSpot says ``message``,
    Mailchimp ``detail``, Discourse a list of ``errors``."""
    body = _body(response)
    if not isinstance(body, dict):
        return ""
    for key in ("message", "detail", "errors", "error", "title"):
        value = body.get(key)
        if isinstance(value, list):
            value = "; ".join(str(item) for item in value)
        if isinstance(value, str) and value:
            return f": {value[:300]}"
    return ""


def _requested_wait(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait, if it said.

    Discourse names the exact wait in ``extras.wait_seconds``, while its ``Retry-After`` is a
    fixed minute; others send ``Retry-After`` in seconds or as an HTTP date.
    """
    body = _body(response)
    if isinstance(body, dict):
        extras = body.get("extras")
        if isinstance(extras, dict):
            wait = extras.get("wait_seconds")
            if isinstance(wait, int | float) and not isinstance(wait, bool) and wait >= 0:
                return float(wait)
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class WebSettings(Protocol):
    """What every web API's settings provide."""

    @property
    def base_url(self) -> str: ...

    @property
    def timeout_s(self) -> float: ...


SettingsT = TypeVar("SettingsT", bound=WebSettings)


class HttpConnector(Connector, Generic[SettingsT]):
    """A connector for one web API: built from its typed settings, one client per action.

    A subclass names its ``settings_class`` and says how it authenticates (``client_auth``).
    """

    settings_class: ClassVar[type[Any]]

    def __init__(
        self,
        settings: SettingsT,
        *,
        retry: RetryPolicy | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self.network = network

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        secrets: Mapping[str, str],
        retry: RetryPolicy | None = None,
    ) -> Self:
        try:
            network = NetworkPolicy.from_config(config)
        except ValueError as error:
            raise ConnectorError(str(error), retryable=False, system=cls.display_name) from None
        return cls(
            cls.settings_class.from_config(config, secrets=secrets), retry=retry, network=network
        )

    def client_auth(self) -> dict[str, Any]:
        """``credentials_hint`` and ``headers`` or ``auth`` for the HttpClient."""
        raise NotImplementedError

    def _client(self) -> HttpClient:
        return HttpClient(
            system=self.display_name,
            base_url=self.settings.base_url,
            timeout_s=self.settings.timeout_s,
            retry=self.retry,
            network=self.network,
            **self.client_auth(),
        )
