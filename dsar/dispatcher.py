"""The email dispatcher: a thread in every worker that turns the database's notifications of
new emails into Celery tasks.

On PostgreSQL a transaction that writes an email due now notifies ``queue.EMAIL_CHANNEL`` with
its id (``dsar.queue.email_soon``; the public form's single INSERT does it in the same
statement), so the web request makes no broker call. One worker in the deployment holds a
session-level advisory lock and LISTENs; it publishes each notified email's task as the request
used to. The others wait on the lock, so that each email is published once, and one of them
takes over within ``STANDBY_SECONDS`` when the holder's session ends (its worker stopped or its
connection dropped).

Nothing is lost when nobody listens (no worker running, a takeover, the database restarting):
a notification without a listener is dropped, but its email was written marked as queued, and
the sweeper (``dsar.housekeeping.sweep``) publishes an unsent email once it looks lost (after
``LOST_AFTER_SECONDS``), as it does for a task the broker lost. Elsewhere (SQLite, tasks run
eagerly) emails are published on commit, and the dispatcher has nothing to do.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import bootsteps
from django.db import connection, connections

from . import queue

logger = logging.getLogger(__name__)

# pg_try_advisory_lock's key for the one dispatcher of a database ("dsar" + "mail").
LOCK_KEY = 0x647361726D61696C
# How often a waiting dispatcher asks for the lock again, and how long a listening one waits
# for notifications before checking whether it should stop.
STANDBY_SECONDS = 2.0
POLL_SECONDS = 1.0
# After a failure (the database unreachable), the wait before connecting again grows to this.
MAX_BACKOFF_SECONDS = 30.0


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
    if connection.vendor != "postgresql":
        stop.wait()  # nothing notifies: emails are published on commit
        return
    import psycopg  # only on PostgreSQL

    db = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        while not _take_lock(db):
            if stop.wait(STANDBY_SECONDS):
                return
        db.execute(f"LISTEN {queue.EMAIL_CHANNEL}")
        logger.info("email dispatcher: listening")
        if started is not None:
            started.set()
        while not stop.is_set():
            for note in db.notifies(timeout=POLL_SECONDS):
                try:
                    delivery_id = int(note.payload)
                except ValueError:
                    logger.warning("email dispatcher: ignored a notification that names no email")
                    continue
                queue.publish_email(delivery_id)
    finally:
        db.close()  # ends the session: its lock and its LISTEN go with it


def _take_lock(db: Any) -> bool:
    row = db.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
    return bool(row and row[0])


class EmailDispatcher(bootsteps.StartStopStep):
    """The worker's part: the dispatcher's thread, started once the pool's processes are
    (so that none inherits its connection) and stopped with the worker."""

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
