"""Real parts for the tests: an SMTP server (aiosmtpd), a Celery worker process on Redis, and
headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation

from config import celery_app
from tests.support import RedisServer, WorkerProcess, free_port

# Playwright's sync API runs an event loop in this thread; the ORM calls in the tests are still
# plain synchronous calls made between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What a real SMTP server received; it can refuse a recipient for good (``refuse``) or
    answer a message to an address with temporary errors first (``fail_next``)."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # address -> the reply to RCPT TO, e.g. "550 5.1.1 No such user"
    refuse: dict[str, str] = field(default_factory=dict)
    # address -> the replies to the next messages' DATA, one per message, e.g. "451 ..."
    fail_next: dict[str, list[str]] = field(default_factory=dict)
    # Every message offered to the server (DATA), delivered or not: recipients and message.
    offered: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self.lock:
            refusal = self.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.offered.append((list(envelope.rcpt_tos), message))
            for address in envelope.rcpt_tos:
                if self.fail_next.get(address):
                    return self.fail_next[address].pop(0)
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.refuse.clear()
            self.fail_next.clear()
            self.offered.clear()

    def wait_for(self, to: str, *, count: int = 1, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if to in str(m["To"])]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no email to {to} within {timeout}s")

    def wait_for_text(self, to: str, text: str, *, timeout: float = 30) -> EmailMessage:
        """The first email to ``to`` whose plain text contains ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if to in str(m["To"]) and text in body_text(m)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no email to {to} saying {text!r} within {timeout}s")


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def first_link(text: str, path: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path)}\S*", text)
    assert match, f"no link to {path} in:\n{text}"
    return match.group(0)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    box, _port = smtp_server
    box.clear()
    return box


# --- Celery ---------------------------------------------------------------------------------


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the worker-process tests need PostgreSQL (set DATABASE_URL)")
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


# --- Sandboxes ------------------------------------------------------------------------------


@dataclass
class Sandboxes:
    """The three HTTP sandboxes and the trial sign-up database, shared by a test session."""

    hubspot: Any
    mailchimp: Any
    discourse: Any
    trial_path: Path

    @property
    def http(self) -> list[Any]:
        return [self.hubspot, self.mailchimp, self.discourse]

    @property
    def trial_url(self) -> str:
        return f"sqlite:///{self.trial_path}"

    def reset(self) -> None:
        from connectors.demo_people import create_trial_database

        for sandbox in self.http:
            sandbox.reset()
        self.trial_path.unlink(missing_ok=True)
        create_trial_database(self.trial_url)

    @property
    def secrets(self) -> dict[str, str]:
        return {
            "DSAR_SECRET_HUBSPOT_TOKEN": self.hubspot.token,
            "DSAR_SECRET_MAILCHIMP_API_KEY": self.mailchimp.api_key,
            "DSAR_SECRET_DISCOURSE_API_KEY": self.discourse.api_key,
            "DSAR_SECRET_TRIAL_DATABASE_URL": self.trial_url,
        }


@pytest.fixture(scope="session")
def sandbox_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    from connectors.discourse.sandbox import DiscourseSandbox
    from connectors.hubspot.sandbox import HubSpotSandbox
    from connectors.mailchimp.sandbox import MailchimpSandbox

    servers = Sandboxes(
        hubspot=HubSpotSandbox(),
        mailchimp=MailchimpSandbox(),
        discourse=DiscourseSandbox(),
        trial_path=tmp_path_factory.mktemp("trial") / "trial.sqlite3",
    )
    for sandbox in servers.http:
        sandbox.start()
    yield servers
    for sandbox in servers.http:
        sandbox.stop()


@pytest.fixture
def sandboxes(sandbox_servers: Sandboxes) -> Sandboxes:
    """The sandboxes with their demo data fresh and no faults."""
    sandbox_servers.reset()
    return sandbox_servers


def _create_demo_systems(sandboxes: Sandboxes, *, manual: bool) -> dict[str, Any]:
    from dsar.demo import create_demo_systems

    systems = create_demo_systems(
        hubspot_url=sandboxes.hubspot.base_url,
        mailchimp_url=sandboxes.mailchimp.base_url,
        discourse_url=sandboxes.discourse.base_url,
        manual=manual,
    )
    return {system.key: system for system in systems}


@pytest.fixture
def demo_systems(sandboxes: Sandboxes, transactional_db: None) -> dict[str, Any]:
    """The first customer's systems, the manual ones included."""
    return _create_demo_systems(sandboxes, manual=True)


@pytest.fixture
def demo_systems_automated(sandboxes: Sandboxes, transactional_db: None) -> dict[str, Any]:
    """Only the four systems with an API."""
    return _create_demo_systems(sandboxes, manual=False)


# --- The worker -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None,
    django_db_blocker: Any,
    smtp_server: tuple[Mailbox, int],
    live_server: Any,
    sandbox_servers: Sandboxes,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    """A real `celery worker` process on the test Redis and the test database.

    Its claims and the broker's redelivery are short, so a test can kill it and see the work
    taken over within seconds; and it backs off for fractions of a second, not minutes.
    """
    _mailbox, smtp_port = smtp_server
    env = {
        **os.environ,
        **sandbox_servers.secrets,
        "DATABASE_URL": _database_url(),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SITE_URL": live_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Shrunk together, keeping the relations config/settings.py checks: the hard time
        # limit (0.8 x lease = 16 s) plus the longest countdown (2 x sweep = 4 s) stays under
        # the visibility timeout, so a killed worker's task comes back within seconds.
        "CELERY_VISIBILITY_TIMEOUT": "21",
        "DSAR_RUN_LEASE_SECONDS": "20",
        "DSAR_SWEEP_SECONDS": "2",
        "DSAR_EMAIL_BACKOFF_SECONDS": "0.5",
        "DSAR_JOB_BACKOFF_SECONDS": "0.5",
        "DSAR_RUN_BACKOFF_SECONDS": "0.2",
        "DSAR_RUN_BACKOFF_MAX_SECONDS": "2",
        "DSAR_RUN_MAX_ATTEMPTS": "10",
        "DSAR_CALLBACK_ALLOW_PRIVATE": "true",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    # A queue of this session's own: no worker left over from another run takes its tasks.
    queue = f"dsar-test-{os.getpid()}-{time.monotonic_ns()}"
    env["CELERY_TASK_DEFAULT_QUEUE"] = queue
    celery_app.conf.task_default_queue = queue
    sandbox_servers.reset()
    worker = WorkerProcess(env=env, log=tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


def _wait_for_untried_emails(*, timeout: float) -> None:
    from dsar.models import DeliveryState
    from dsar.outbox import sendable

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        untried = sendable(timezone.now()).filter(state=DeliveryState.QUEUED, attempts=0)
        if not untried.exists():
            return
        time.sleep(0.05)


@pytest.fixture
def celery_worker(
    celery_worker_process: WorkerProcess, transactional_db: None
) -> Iterator[WorkerProcess]:
    """Tasks go through Redis to the worker process; the test's data is committed so it sees it.

    Afterwards the queue is emptied and the worker left idle, so that no task of this test runs
    against the next test's data. First, the emails the test's last transactions wrote are
    given their send (at most a few seconds): on PostgreSQL the worker's dispatcher queues them
    when notified, a moment after the commit, and a send queued after the worker looked idle
    would run into the flush of the tables.
    """
    yield celery_worker_process
    _wait_for_untried_emails(timeout=5.0)
    celery_app.control.purge()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        inspect = celery_app.control.inspect(
            timeout=1.0, destination=[celery_worker_process.node_name]
        )
        busy = [
            task
            for tasks in [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
            for task in tasks
        ]
        if not busy:
            break
        time.sleep(0.2)
    celery_app.control.purge()


@pytest.fixture(autouse=True)
def _celery_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests without a worker run tasks in-process; tests with one send them through Redis."""
    eager = "celery_worker" not in request.fixturenames
    celery_app.conf.task_always_eager = eager
    celery_app.conf.task_eager_propagates = eager
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the site's language: a request of an earlier test (the German admin)
    leaves its language active in the thread, and a document must not pass only thanks to it."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters live in the cache; each test starts with none."""
    cache.clear()


# --- Browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (Debian package chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


# Reports every Content-Security-Policy violation on the console, where the fixture sees it
# (Chromium also logs most of them there itself).
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("Content Security Policy violation: " + event.violatedDirective + " "
    + event.blockedURI + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A page in a fresh browser context; the test fails if any page of it reports a
    Content-Security-Policy violation."""
    context = chromium.new_context(locale="en-GB")
    violations: list[str] = []
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    context.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


def assert_accessible(page: Any) -> None:
    """axe-core (WCAG 2.1 A and AA rules) finds no violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        },
    )
    assert results.violations_count == 0, results.generate_report()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own on a free port, without persistence (a restart loses every
    message), for tests that stop it: never the shared one."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()
