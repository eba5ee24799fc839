"""What every local sandbox shares: the threaded HTTP server, routing, JSON replies, real rate
limits, fault injection and the control routes under ``/__sandbox__/``.

A sandbox stands in for a real web API in the demo and the tests. A subclass holds only its
routes, its demo data, its auth check and the shapes of its errors. Faults are set at
construction or, from any process, over HTTP:

- ``GET|POST /__sandbox__/config`` — read or change ``latency_s``, ``fail_rate``, ``fail_modes``
  (``"429"``, ``"500"``, ``"timeout"``), ``fail_next`` (fail the next N calls for sure),
  ``malformed_rate``, ``malformed_modes`` (``"truncated"`` JSON or a wrong ``"shape"``),
  ``hang_s`` (how long a timeout fault hangs), ``retry_after_s`` (the wait an injected 429
  announces), ``latency_path_pattern`` (a regular expression: add latency only to the calls
  whose path it finds), ``rate_limit`` (``{"requests": N, "window_s": S}`` or null: the
  general limit), ``class_rate_limits`` (``{"search": {"requests": N, "window_s": S}}``: the
  stricter limits of some endpoint classes, as the sandbox names them), ``max_concurrent`` and
  ``time_scale`` (K: every rate-limit window divided by K, so 60 a minute becomes 60 in 6 s).
- ``GET /__sandbox__/stats`` — what the rate limits saw: per limit class, the most requests
  accepted in any window (``max_in_window``) next to the limit, and the 429s sent for it; and the
  most calls in progress at once (``max_in_flight``).
- ``POST /__sandbox__/act/<name>`` — a sandbox's own demo actions (the person confirms a double
  opt-in, a user becomes staff), with a JSON body.
- ``POST /__sandbox__/reset`` — demo data, call log, counters and settings as at construction.
- ``GET /__sandbox__/calls`` — ``[{"method", "path", "status"}]`` of every API call received
  (``status`` is null while a call is in progress or when the sandbox hung up without answering).
- ``GET /__sandbox__/state?email=…`` — whether the person exists and their flags.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import httpx

CONTROL_PREFIX = "/__sandbox__/"
FAIL_MODES = frozenset({"429", "500", "timeout"})
MALFORMED_MODES = frozenset({"truncated", "shape"})


class BadRequest(Exception):
    """A request the sandbox refuses with HTTP 400 in its system's error shape."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        try:
            return int(self.arg(name, str(default)))
        except ValueError:
            raise BadRequest(f"'{name}' must be a whole number") from None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise BadRequest("The request body is not valid JSON") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object")
        return data

    def values(self) -> dict[str, Any]:
        """The parameters as a Rails app reads them: the query string, then a JSON or a
        form-encoded body."""
        values: dict[str, Any] = {name: items[0] for name, items in self.query.items()}
        if not self.body:
            return values
        if "form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            return values | {name: items[0] for name, items in form.items()}
        return values | self.json_object()


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, template: str, handler: Handler) -> Route:
    """A route from a template like ``/lists/{list_id}/members/{hash}``."""
    # re.split with a group alternates literal text and parameter names.
    pieces = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        f"(?P<{piece}>[^/]+)" if index % 2 else re.escape(piece)
        for index, piece in enumerate(pieces)
    )
    return Route(method, re.compile(f"^{regex}$"), handler)


@dataclass(frozen=True)
class RateLimit:
    requests: int
    window_s: float


@dataclass(frozen=True)
class SandboxConfig:
    """Injected faults and the real API's limits, as one JSON object can set them."""

    latency_s: float = 0.0
    fail_rate: float = 0.0
    fail_modes: tuple[str, ...] = ("429", "500", "timeout")
    fail_next: int = 0
    malformed_rate: float = 0.0
    malformed_modes: tuple[str, ...] = ("truncated", "shape")
    hang_s: float = 30.0
    retry_after_s: float = 1.0
    rate_limit: RateLimit | None = None
    class_rate_limits: tuple[tuple[str, RateLimit], ...] = ()
    max_concurrent: int | None = None
    time_scale: float = 1.0
    # When set, latency applies only to calls whose path this regular expression finds.
    latency_path_pattern: str | None = None

    def updated(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` applied; ``ValueError`` says what is wrong with them."""
        known = set(asdict(self))
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name in ("latency_s", "hang_s", "retry_after_s"):
            if name in changes:
                values[name] = _number(changes[name], name, low=0.0)
        for name in ("fail_rate", "malformed_rate"):
            if name in changes:
                values[name] = _number(changes[name], name, low=0.0, high=1.0)
        if "fail_next" in changes:
            values["fail_next"] = int(_number(changes["fail_next"], "fail_next", low=0))
        if "fail_modes" in changes:
            values["fail_modes"] = _modes(changes["fail_modes"], "fail_modes", FAIL_MODES)
        if "malformed_modes" in changes:
            values["malformed_modes"] = _modes(
                changes["malformed_modes"], "malformed_modes", MALFORMED_MODES
            )
        if "rate_limit" in changes:
            values["rate_limit"] = _rate_limit(changes["rate_limit"])
        if "class_rate_limits" in changes:
            classes = changes["class_rate_limits"]
            if not isinstance(classes, dict):
                raise ValueError("'class_rate_limits' must map class names to rate limits")
            values["class_rate_limits"] = tuple(
                (str(name), limit)
                for name, raw in sorted(classes.items())
                if (limit := _rate_limit(raw)) is not None
            )
        if "time_scale" in changes:
            values["time_scale"] = _number(changes["time_scale"], "time_scale", low=0.001)
        if "latency_path_pattern" in changes:
            values["latency_path_pattern"] = _pattern(changes["latency_path_pattern"])
        if "max_concurrent" in changes:
            limit = changes["max_concurrent"]
            values["max_concurrent"] = (
                None if limit is None else int(_number(limit, "max_concurrent", low=1))
            )
        return replace(self, **values)

    def limits(self) -> dict[str, RateLimit]:
        """Every rate limit by class ("general" for ``rate_limit``), windows divided by
        ``time_scale``."""
        named = dict(self.class_rate_limits)
        if self.rate_limit is not None:
            named["general"] = self.rate_limit
        return {
            name: RateLimit(limit.requests, limit.window_s / self.time_scale)
            for name, limit in named.items()
        }

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["class_rate_limits"] = {name: asdict(limit) for name, limit in self.class_rate_limits}
        data["fail_modes"] = list(self.fail_modes)
        data["malformed_modes"] = list(self.malformed_modes)
        return data


def _number(value: Any, name: str, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number")
    if value < low or (high is not None and value > high):
        limits = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ValueError(f"'{name}' must be {limits}")
    return float(value)


def _modes(value: Any, name: str, allowed: frozenset[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not set(value) <= allowed:
        raise ValueError(f"'{name}' must be a non-empty list of: {', '.join(sorted(allowed))}")
    return tuple(value)


def _pattern(value: Any) -> str | None:
    if value is None:
        return None
    try:
        re.compile(value)
    except (re.error, TypeError):
        raise ValueError("'latency_path_pattern' must be null or a regular expression") from None
    return str(value)


def _rate_limit(value: Any) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"requests", "window_s"}:
        raise ValueError('\'rate_limit\' must be null or {"requests": N, "window_s": S}')
    requests = int(_number(value["requests"], "rate_limit.requests", low=1))
    return RateLimit(requests, _number(value["window_s"], "rate_limit.window_s", low=0.001))


class SandboxServer(ABC):
    """A local stand-in for one web API, served from a daemon thread.

    Subclasses fill in the hooks below. Their handlers run under ``self.lock`` so they can
    read and change the demo data freely.
    """

    system: ClassVar[str]
    # Real APIs that live under a path (Mailchimp's /3.0) put it here.
    path_prefix: ClassVar[str] = ""
    # The longest request line (path and query) the real API accepts; longer ones get 414.
    max_url_length: ClassVar[int | None] = None
    config: SandboxConfig

    def __init__(self, *, seed: int = 0, **config: Any) -> None:
        self.lock = threading.RLock()
        self._seed = seed
        self._initial_config = self.default_config().updated(config)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self.routes()
        self._wake = threading.Event()
        self._in_flight = 0
        self.reset()

    # --- hooks -------------------------------------------------------------------------------

    @classmethod
    def default_config(cls) -> SandboxConfig:
        """The real API's limits; no faults."""
        return SandboxConfig()

    @abstractmethod
    def routes(self) -> list[Route]: ...

    @abstractmethod
    def load(self) -> None:
        """(Re)load the demo data."""

    @abstractmethod
    def authenticate(self, request: Request) -> Response | None:
        """The reply to a request with wrong credentials, or None when they are right."""

    @abstractmethod
    def error(self, status: int, message: str) -> Response:
        """An error reply in the real API's shape."""

    @abstractmethod
    def too_many(self, wait_s: float | None, limit_class: str = "general") -> Response:
        """The real API's reply when over its limits; ``wait_s`` is until a slot frees (None
        for a concurrency limit), ``limit_class`` the limit that was hit."""

    def limit_classes(self, request: Request) -> list[str]:
        """The rate-limit classes a request counts against (the general one by default)."""
        return ["general"]

    def on_reply(self, request: Request, response: Response, config: SandboxConfig) -> None:
        """Add what the real API adds to every reply (say, rate-limit headers)."""
        return

    def actions(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        """This sandbox's own demo actions, reached at ``POST /__sandbox__/act/<name>``."""
        return {}

    @abstractmethod
    def person_state(self, query: Mapping[str, str]) -> dict[str, Any]:
        """What tests check after an action: whether the person exists, and their flags
        (``query`` holds ``email`` or another way to name them). Called under the lock."""

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (port 0: any free port); returns the base URL for the connector."""
        server = _Server(("127.0.0.1", port), _RequestHandler)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.system} sandbox",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.system} sandbox is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.root_url + self.path_prefix

    def stop(self) -> None:
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- control (in-process; the control routes call these) ----------------------------------

    def configure(self, **changes: Any) -> dict[str, Any]:
        with self.lock:
            self.config = self.config.updated(changes)
            return self.config.as_json()

    def reset(self) -> None:
        """Demo data, call log, counters and settings as at construction."""
        with self.lock:
            # Wake calls hanging in a timeout fault, so they do not outlive the test that set it.
            self._wake.set()
            self._wake = threading.Event()
            self.config = self._initial_config
            # Fault choice is deterministic for a given seed: the same run fails the same way.
            self._random = random.Random(self._seed)  # noqa: S311  # nosec B311  # fault choice
            self._calls: list[dict[str, Any]] = []
            self._windows: dict[str, deque[float]] = {}
            self._accepted: dict[str, list[float]] = {}
            self._rejected: dict[str, int] = {}
            self._max_in_flight = 0
            self.load()

    def calls(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(call) for call in self._calls]

    def state(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            return self.person_state(query)

    # --- one request -----------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Message, body: bytes) -> Response | None:
        """The reply to one HTTP request, or None to hang up without answering."""
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        request = Request(method, path, query, headers, body)
        if path.startswith(CONTROL_PREFIX):
            return self._control(request)
        if self.max_url_length is not None and len(target) > self.max_url_length:
            with self.lock:
                self._calls.append({"method": method, "path": path, "status": 414})
            return self.error(414, "URI Too Long")
        with self.lock:
            call: dict[str, Any] = {"method": method, "path": path, "status": None}
            self._calls.append(call)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            config = self.config
            wake = self._wake
        try:
            response = self._serve(request, config, wake)
        finally:
            with self.lock:
                self._in_flight -= 1
        if response is not None:
            with self.lock:
                call["status"] = response.status
        return response

    def _serve(
        self, request: Request, config: SandboxConfig, wake: threading.Event
    ) -> Response | None:
        with self.lock:
            if config.max_concurrent is not None and self._in_flight > config.max_concurrent:
                return self.too_many(None, "connections")
        pattern = config.latency_path_pattern
        if config.latency_s and (pattern is None or re.search(pattern, request.path)):
            wake.wait(config.latency_s)
        with self.lock:
            refusal = self.authenticate(request)
            if refusal is not None:
                return refusal
            over = self._over_rate_limit(request, config)
            if over is not None:
                return self.too_many(over[1], over[0])
            fault = self._fault(config)
        if fault == "timeout":
            wake.wait(config.hang_s)
            return None
        if fault == "429":
            return self.too_many(config.retry_after_s)
        if fault == "500":
            return self.error(500, "Internal server error (injected by the sandbox)")
        with self.lock:
            response = self._handle(request)
            self.on_reply(request, response, config)
            return self._maybe_malformed(response, config)

    def _handle(self, request: Request) -> Response:
        prefix = self.path_prefix
        if prefix and not request.path.startswith(prefix + "/"):
            return self.error(404, "The requested resource could not be found.")
        path = request.path[len(prefix) :]
        for candidate in self._routes:
            match = candidate.pattern.match(path)
            if match and candidate.method == request.method:
                request.params = match.groupdict()
                try:
                    return candidate.handler(request)
                except BadRequest as exc:
                    return self.error(400, str(exc))
        return self.error(404, "The requested resource could not be found.")

    def _over_rate_limit(self, request: Request, config: SandboxConfig) -> tuple[str, float] | None:
        """The class and the wait of the first limit this request is over; else counts it."""
        limits = config.limits()
        classes = [name for name in self.limit_classes(request) if name in limits]
        now = time.monotonic()
        for name in classes:
            limit, window = limits[name], self._windows.setdefault(name, deque())
            while window and window[0] <= now - limit.window_s:
                window.popleft()
            if len(window) >= limit.requests:
                self._rejected[name] = self._rejected.get(name, 0) + 1
                return name, window[0] + limit.window_s - now
        for name in classes:
            self._windows[name].append(now)
            self._accepted.setdefault(name, []).append(now)
        return None

    def remaining(self, limit_class: str, config: SandboxConfig) -> int | None:
        """Requests left in the current window of a limit class (for rate-limit headers)."""
        limit = config.limits().get(limit_class)
        if limit is None:
            return None
        now = time.monotonic()
        window = self._windows.get(limit_class, deque())
        return max(0, limit.requests - sum(1 for t in window if t > now - limit.window_s))

    def stats(self) -> dict[str, Any]:
        with self.lock:
            limits = self.config.limits()
            classes = sorted(set(limits) | set(self._accepted) | set(self._rejected))
            return {
                "limits": {
                    name: {
                        "requests": limits[name].requests if name in limits else None,
                        "window_s": limits[name].window_s if name in limits else None,
                        "accepted": len(self._accepted.get(name, [])),
                        "max_in_window": _max_in_window(
                            self._accepted.get(name, []),
                            limits[name].window_s if name in limits else 0.0,
                        ),
                        "rejected": self._rejected.get(name, 0),
                    }
                    for name in classes
                },
                "max_in_flight": self._max_in_flight,
            }

    def _fault(self, config: SandboxConfig) -> str | None:
        if self.config.fail_next > 0:
            self.config = replace(self.config, fail_next=self.config.fail_next - 1)
            return self._random.choice(config.fail_modes)
        if config.fail_rate and self._random.random() < config.fail_rate:
            return self._random.choice(config.fail_modes)
        return None

    def _maybe_malformed(self, response: Response, config: SandboxConfig) -> Response:
        if response.body is None or not config.malformed_rate:
            return response
        if self._random.random() >= config.malformed_rate:
            return response
        if self._random.choice(config.malformed_modes) == "truncated":
            text = json.dumps(response.body)
            return replace(response, body=Raw(text[: max(1, len(text) // 2)].encode()))
        wrong = ["unexpected"] if isinstance(response.body, dict) else {"unexpected": "shape"}
        return replace(response, body=wrong)

    def _control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX) :]
        try:
            if action == "config" and request.method == "GET":
                with self.lock:
                    return Response(200, self.config.as_json())
            if action == "config" and request.method == "POST":
                return Response(200, self.configure(**request.json_object()))
            if action == "reset" and request.method == "POST":
                self.reset()
                return Response(204)
            if action == "calls" and request.method == "GET":
                return Response(200, self.calls())
            if action == "state" and request.method == "GET":
                return Response(200, self.state({k: v[0] for k, v in request.query.items()}))
            if action == "stats" and request.method == "GET":
                return Response(200, self.stats())
            if action.startswith("act/") and request.method == "POST":
                act = self.actions().get(action[len("act/") :])
                if act is not None:
                    with self.lock:
                        return Response(200, {"result": act(request.json_object())})
        except (BadRequest, ValueError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(404, {"error": f"no control route {request.method} {request.path}"})


def _max_in_window(times: list[float], window_s: float) -> int:
    """The most of the sorted ``times`` that fall within any window of ``window_s`` (as the
    limit counts: a window ends at a request and reaches back ``window_s``, exclusive)."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass(frozen=True)
class Raw:
    """A body sent as these exact bytes (how a sandbox sends deliberately broken JSON)."""

    content: bytes


def new_id() -> str:
    return str(uuid.uuid4())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    # A killed test run must not block the next one from binding the same fixed port.
    allow_reuse_address = True
    sandbox: SandboxServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up (a timeout fault) close their end; that is expected here.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each reply would wait for the
    # client's delayed ACK (about 40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.sandbox.dispatch(self.command, self.path, self.headers, body)
        if response is None:
            self.close_connection = True
            return
        if isinstance(response.body, Raw):
            payload = response.body.content
        elif response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if response.status != 204:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The call log under /__sandbox__/calls replaces the per-request stderr lines.
        return


class SandboxControl:
    """Drives a running sandbox from any process, through its control routes."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(base_url=urljoin(base_url, CONTROL_PREFIX), timeout=timeout_s)

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def configure(self, **changes: Any) -> dict[str, Any]:
        response = self._client.post("config", json=changes)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        self._client.post("reset").raise_for_status()

    def calls(self) -> list[dict[str, Any]]:
        response = self._client.get("calls")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def state(self, **query: str) -> dict[str, Any]:
        response = self._client.get("state", params=query)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stats(self) -> dict[str, Any]:
        response = self._client.get("stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def act(self, name: str, **body: Any) -> Any:
        response = self._client.post(f"act/{name}", json=body)
        response.raise_for_status()
        return response.json()["result"]
