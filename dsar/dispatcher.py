"""The email dispatcher: a thread in every worker that turns the database's notifications of
new emails into Celery tasks.

On PostgreSQL the public form's submission notifies ``queue.EMAIL_CHANNEL`` with its
verification email's id, in the same INSERT statement that writes it, so the web request makes
no broker call (``dsar.queue``). One worker in the deployment holds a
session-level advisory lock and LISTENs; it publishes each notified email's task as the request
used to. The others wait on the lock, so that each email is published once, and one of them
takes over within ``STANDBY_SECONDS`` when the holder's session ends (its worker stopped or its
connection dropped).

Nothing is lost when nobody listens (no worker running, a takeover, the database restarting):
a notification without a listener is dropped, but its email is a row marked as queued. A
dispatcher that starts listening first publishes every verification email written in the last
``REQUEUE_AFTER_SECONDS`` and not yet tried (publishing one twice is harmless: the sender claims
the row under a lease), and the sweeper (``dsar.housekeeping.sweep``) publishes older ones, as
it does for a task the broker lost. Elsewhere (SQLite, tasks run eagerly) emails are published
on commit, and the dispatcher has nothing to do.

A listening connection sends nothing while it waits, so a peer that vanished would go unnoticed:
TCP keepalives on both ends and a query every ``PING_SECONDS`` end a dead session within about
half a minute, its lock with it, so that another worker's dispatcher takes over.

A NOTIFY makes its transaction's commit take PostgreSQL's lock on the notification queue, so
the commits of submissions follow one another (each waiting for the one before to be flushed to
disk): at a few milliseconds per flush, a few hundred new requests a second, far beyond any
request service's intake.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from . import queue
from .models import DeliveryState
from .outbox import sendable

logger = logging.getLogger(__name__)

# pg_try_advisory_lock's key for the one dispatcher of a database ("dsar" + "mail").
LOCK_KEY = 0x647361726D61696C
# How often a waiting dispatcher asks for the lock again, and how long a listening one waits
# for notifications before checking whether it should stop.
STANDBY_SECONDS = 2.0
POLL_SECONDS = 1.0
# After a failure (the database unreachable), the wait before connecting again grows to this.
MAX_BACKOFF_SECONDS = 30.0
# A listening connection asks the server something this often, so that a dead one fails.
PING_SECONDS = 15.0
# TCP keepalives on the listening connection, client and server side (libpq's and PostgreSQL's
# settings): idle seconds before the first probe, seconds between probes, probes before giving
# up; and how long the client waits for sent data to be acknowledged (milliseconds).
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
SERVER_KEEPALIVE = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
)
# The most emails a dispatcher publishes when it starts listening (the sweeper takes the rest).
CATCH_UP_LIMIT = 1000

# The listening socket, closed in any process forked while it is open (a pool process the
# worker starts later to replace another), so that no such process keeps the session alive.
_listening_fd: int | None = None


def _forget_listening_socket() -> None:
    global _listening_fd
    if _listening_fd is not None:
        with contextlib.suppress(OSError):
            os.close(_listening_fd)
        _listening_fd = None


os.register_at_fork(after_in_child=_forget_listening_socket)


def dispatch(stop: threading.Event, *, started: threading.Event | None = None) -> None:
    """Publish notified emails until ``stop`` is set, holding the lock while listening;
    ``started`` is set once this dispatcher listens."""
    backoff = 1.0
    while not stop.is_set():
        try:
            _dispatch_on_one_connection(stop, started)
            backoff = 1.0
        except Exception as error:  # the database went away: connect again, a little later
            logger.warning(
                "email dispatcher: %s; connecting again in %.0f s", type(error).__name__, backoff
            )
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            connections.close_all()  # this thread's Django connections (a failed publish's)


def _dispatch_on_one_connection(stop: threading.Event, started: threading.Event | None) -> None:
    global _listening_fd
    if connection.vendor != "postgresql":
        stop.wait()  # nothing notifies: emails are published on commit
        return
    import psycopg  # only on PostgreSQL

    params: dict[str, Any] = {**connection.get_connection_params(), **KEEPALIVE}
    params["options"] = " ".join(filter(None, [params.get("options", ""), SERVER_KEEPALIVE]))
    db = psycopg.connect(**params, autocommit=True)
    _listening_fd = db.fileno()
    try:
        while not _take_lock(db):
            if stop.wait(STANDBY_SECONDS):
                return
        db.execute(f"LISTEN {queue.EMAIL_CHANNEL}")
        logger.info("email dispatcher: listening")
        _catch_up()
        if started is not None:
            started.set()
        pinged = time.monotonic()
        while not stop.is_set():
            for note in db.notifies(timeout=POLL_SECONDS):
                _publish(note.payload)
            if time.monotonic() - pinged > PING_SECONDS:
                db.execute("SELECT 1")
                pinged = time.monotonic()
    finally:
        _listening_fd = None
        db.close()  # ends the session: its lock and its LISTEN go with it


def _publish(payload: str) -> None:
    """Publish one notified email's task; a failure is logged and costs only that email's
    wake-up (its row stays for the sweeper), never the lock or the notifications behind it."""
    try:
        queue.publish_email(int(payload))
    except Exception:  # a bad payload, the database gone for the failure's bookkeeping
        logger.warning("email dispatcher: could not publish a notified email", exc_info=True)


def _catch_up() -> None:
    """Publish the verification emails written while nobody listened: due, not yet tried, not
    claimed, and written within ``REQUEUE_AFTER_SECONDS`` (older ones are the sweeper's)."""
    now = timezone.now()
    since = now - dt.timedelta(seconds=settings.DSAR["REQUEUE_AFTER_SECONDS"])
    waiting = (
        sendable(now)
        .filter(kind="verification", state=DeliveryState.QUEUED, attempts=0, queued_at__gte=since)
        .order_by("pk")
    )
    try:
        for delivery_id in waiting.values_list("pk", flat=True)[:CATCH_UP_LIMIT]:
            _publish(str(delivery_id))
    finally:
        connections.close_all()  # this thread's Django connection: no idle session kept open


def _take_lock(db: Any) -> bool:
    row = db.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
    return bool(row and row[0])


class EmailDispatcher(bootsteps.StartStopStep):
    """The worker's part: the dispatcher's thread, started once the pool's processes are and
    stopped with the worker (a pool process forked later closes the inherited socket)."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        self.stop_event.clear()
        self.thread = threading.Thread(
            target=dispatch, args=(self.stop_event,), name="email-dispatcher", daemon=True
        )
        self.thread.start()

    def stop(self, worker: Any) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=POLL_SECONDS + 5)
