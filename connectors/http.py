"""The one HTTP helper every web-API connector uses.

It owns what all of them must get right the same way: a mandatory timeout; the shared
rate-limit budget (``connectors.budget``) asked before every request, so that all workers stay
within the vendor's published limits; a few immediate tries with short exponential backoff for
passing failures (timeouts, connection errors, 429, 5xx); honouring ``Retry-After`` and
Discourse's ``extras.wait_seconds`` up to a cap, beyond which the caller gets ``RateLimited``
(only waiting: the run is rescheduled, the worker freed); never retrying final failures; telling
rejected credentials (401) from refused permissions (403); and turning every reply into checked
JSON, so a malformed reply is a named final error and never a ``KeyError`` deep in a connector.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx

from .base import Connector, ConnectorError, RateLimited, before_write
from .budget import BudgetStore, Limit, budget_key, budget_store, scaled_limits
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
    # Longest wait (a budget's or a server's) we sit out in-process; beyond it ``RateLimited``.
    max_wait_s: float = 30.0
    # How often a request waiting for a free connection slot looks again.
    slot_poll_s: float = 0.05
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


@dataclass(frozen=True)
class Budgets:
    """The shared budgets one client draws on: where they are counted, whose account they are,
    and which limits each endpoint class consumes (a request of an unnamed class consumes
    ``general``)."""

    store: BudgetStore
    account: str
    limits: Mapping[str, Sequence[Limit]]

    def for_endpoint(self, endpoint: str) -> Sequence[Limit]:
        return self.limits.get(endpoint) or self.limits.get("general") or ()


class HttpClient:
    """One system's HTTP client: base URL, credentials, timeout, budgets and retry policy."""

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        timeout_s: float,
        credentials_hint: str,
        permission_hint: str = "",
        credential_markers: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        retry: RetryPolicy | None = None,
        budgets: Budgets | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self.system = system
        self.credentials_hint = credentials_hint
        self.permission_hint = permission_hint or credentials_hint
        # Texts in a 403 that mean "who are you?" rather than "you may not" (Discourse answers a
        # wrong API key with 403 "The API username or key is invalid").
        self.credential_markers = tuple(credential_markers)
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.budgets = budgets
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
        writes: bool | None = None,
        endpoint: str = "general",
    ) -> Reply:
        """Send one request within the budget of its ``endpoint`` class, trying again on
        passing failures.

        Returns the reply when its status is 2xx or in ``accept`` (say 404, when "not there" is
        an answer); raises ``ConnectorError`` otherwise, and ``RateLimited`` when the budget or
        the server asks for a wait longer than the policy's ``max_wait_s``. ``what`` names the
        request in messages ("contact search"); URLs are left out of them because they may hold
        an email address. Every request our connectors send is idempotent, so trying a POST
        again is safe.

        ``writes`` says whether the request changes the system (default: every method but GET
        and HEAD; a POST that only searches or reads passes ``writes=False``); a write is
        journaled (``connectors.base.before_write``) before it is sent.
        """
        if writes if writes is not None else method.upper() not in ("GET", "HEAD"):
            before_write(what)
        attempt = 0
        while True:
            attempt += 1
            with self._within_budget(endpoint, what=what):
                result = self._attempt(
                    method, path, what=what, params=params, body=json, accept=accept
                )
            if isinstance(result, Reply):
                return result
            error = result
            if not error.retryable or attempt >= self.retry.tries:
                raise error
            wait = error.retry_after
            if wait is None:
                wait = self.retry.backoff(attempt)
            elif wait > self.retry.max_wait_s:
                raise RateLimited(error.message, retry_after=wait, system=self.system)
            self.retry.sleep(wait)

    @contextmanager
    def _within_budget(self, endpoint: str, *, what: str) -> Iterator[None]:
        """Wait for the endpoint's rate slots, hold its connection slots while the request runs."""
        if self.budgets is None:
            yield
            return
        store, account = self.budgets.store, self.budgets.account
        held: list[str] = []
        holder = uuid.uuid4().hex
        try:
            for limit in self.budgets.for_endpoint(endpoint):
                key = f"{account}:{limit.name}"
                if limit.rate is not None:
                    slot = store.reserve(key, rate=limit.rate, max_wait_s=self.retry.max_wait_s)
                    if not slot.reserved:
                        raise self._waiting(what, slot.wait_s)
                    if slot.wait_s > 0:
                        self.retry.sleep(slot.wait_s)
                if limit.concurrent is not None:
                    self._take_connection(key, limit.concurrent, holder, what=what)
                    held.append(key)
            yield
        finally:
            for key in held:
                store.release(key, holder=holder)

    def _take_connection(self, key: str, limit: int, holder: str, *, what: str) -> None:
        assert self.budgets is not None  # nosec B101  # narrows the type: callers check it
        waited = 0.0
        # A lease outlives the request's timeout, so a dead worker's slot frees itself.
        lease = self.timeout_s + 5.0
        while not self.budgets.store.acquire(key, limit=limit, lease_s=lease, holder=holder):
            if waited >= self.retry.max_wait_s:
                raise self._waiting(what, self.retry.max_wait_s)
            pause = self.retry.slot_poll_s * (0.5 + self.retry.jitter())
            self.retry.sleep(pause)
            waited += pause

    def _waiting(self, what: str, wait_s: float) -> RateLimited:
        return RateLimited(
            f"{self.system}'s rate limit allows the {what} in {wait_s:.3g} s; "
            "the run continues then",
            retry_after=wait_s,
            system=self.system,
        )

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
        if status == 401 or (
            status == 403 and any(m.lower() in detail.lower() for m in self.credential_markers)
        ):
            return self.error(
                f"{self.system} rejected the credentials (HTTP {status}) on the {what}{detail}: "
                f"{self.credentials_hint}"
            )
        if status == 403:
            return self.error(
                f"{self.system} refused permission for the {what} (HTTP 403){detail}: "
                f"{self.permission_hint}"
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

    A subclass names its ``settings_class``, its vendor's published limits per endpoint class
    (``endpoint_limits``), and how it authenticates (``client_auth``, with the ``credential``
    that identifies the account for the shared budgets).
    """

    settings_class: ClassVar[type[Any]]

    def __init__(
        self,
        settings: SettingsT,
        *,
        retry: RetryPolicy | None = None,
        budget: BudgetStore | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry
        # Without a store of the app's (Redis), this process's own budgets still apply.
        self.budget = budget if budget is not None else budget_store(None)
        self.network = network

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        secrets: Mapping[str, str],
        retry: RetryPolicy | None = None,
        budget: BudgetStore | None = None,
    ) -> Self:
        try:
            network = NetworkPolicy.from_config(config)
        except ValueError as error:
            raise ConnectorError(str(error), retryable=False, system=cls.display_name) from None
        return cls(
            cls.settings_class.from_config(config, secrets=secrets),
            retry=retry,
            budget=budget,
            network=network,
        )

    def client_auth(self) -> dict[str, Any]:
        """``credentials_hint``, ``permission_hint`` and ``headers`` or ``auth`` for the client."""
        raise NotImplementedError

    @property
    def credential(self) -> str:
        """The secret that names the vendor account (hashed into the budget key)."""
        raise NotImplementedError

    def endpoint_limits(self) -> Mapping[str, Sequence[Limit]]:
        """The vendor's published limits that each endpoint class consumes."""
        return {}

    def budgets(self) -> Budgets:
        """The shared budgets of this account, windows divided by the ``time_scale`` setting
        (1 but for sandboxes that run their limits faster)."""
        time_scale = float(getattr(self.settings, "time_scale", 1.0))
        return Budgets(
            store=self.budget,
            account=budget_key(
                system=self.key, base_url=self.settings.base_url, credential=self.credential
            ),
            limits=scaled_limits(self.endpoint_limits(), time_scale=time_scale),
        )

    def _client(self) -> HttpClient:
        return HttpClient(
            system=self.display_name,
            base_url=self.settings.base_url,
            timeout_s=self.settings.timeout_s,
            retry=self.retry,
            budgets=self.budgets(),
            network=self.network,
            **self.client_auth(),
        )
