"""Inserting a few new rows of different models in one round trip.

A case's submission writes three rows (the case, its first event, its verification email), and
each statement costs the public form a round trip and its share of the database server's CPU;
inside a transaction, BEGIN and COMMIT cost two more. On PostgreSQL, ``insert_new`` sends the
rows as one statement: each row's INSERT is built by Django's own insert compiler (so defaults,
conversions and column lists are Django's), and they are joined as data-modifying ``WITH``
clauses. One statement is one transaction: all the rows are written, or none. Foreign keys
between the rows need the referenced row's primary key set before the call (see
``next_case_numbers`` in ``dsar.references``); the other primary keys come back from the
database and are set on the instances.

Elsewhere (SQLite, the demo) the rows are saved one after another in a transaction.

What this skips, as ``QuerySet.bulk_create`` does: ``Model.save`` and the save signals. Only
models whose ``save`` adds nothing to a new row may be passed (``Event.save`` only refuses
updates).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.sql import InsertQuery


def insert_new(*objs: Model, notify: tuple[str, Model] | None = None) -> None:
    """Insert these new rows, all or none (their primary keys come back on the instances).
    ``notify``: on PostgreSQL only, a channel and one of the rows: the same statement NOTIFYs
    the channel with the row's new primary key (delivered when the insert commits)."""
    db = transaction.get_connection()  # the connection itself, not its proxy
    if db.vendor != "postgresql":
        if notify is not None:
            raise ValueError("insert_new notifies only on PostgreSQL")
        with transaction.atomic():
            for obj in objs:
                obj.save(force_insert=True)
        return
    clauses: list[str] = []
    params: list[Any] = []
    for n, obj in enumerate(objs):
        sql, obj_params = _insert_sql(obj, db)
        clauses.append(f"r{n} AS ({sql})")
        params.extend(obj_params)
    # Only Django's compiled INSERTs and our own clause names go into the text; every value is a
    # parameter.
    pks = ", ".join(f"(SELECT * FROM r{n})" for n in range(len(objs)))  # noqa: S608  # nosec B608
    if notify is not None:
        channel, notified = notify
        [index] = [n for n, obj in enumerate(objs) if obj is notified]
        pks += f", pg_notify(%s, (SELECT * FROM r{index})::text)"  # noqa: S608  # nosec B608
        params.append(channel)
    with prepared_cursor(db) as cursor:
        cursor.execute(f"WITH {', '.join(clauses)} SELECT {pks}", params)
        row = cursor.fetchone()[: len(objs)]
    for obj, pk in zip(objs, row, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db.alias


class _PreparingCursor(psycopg.Cursor[Any]):
    """A cursor with server-side binding whose statements the server prepares."""

    def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = True,
        binary: bool | None = None,
    ) -> Any:
        return super().execute(query, params, prepare=prepare, binary=binary)

    def _convert_query(self, query: Any, params: Any = None) -> Any:
        # Kept where Django's query log reads the statement (as a client-side cursor keeps
        # it): the text with $n for the values, which stay out of the log.
        self._query = super()._convert_query(query, params)
        return self._query


def prepared_cursor(db: BaseDatabaseWrapper) -> Any:
    """For the few statements the public form sends with the same text each time (PostgreSQL
    only): the server parses and plans each once per connection, and values are bound to it
    rather than quoted into the text in Python. Behind Django's cursor wrapper, so that query
    logging and execute wrappers see them. Set up as ``BaseDatabaseWrapper.cursor`` sets up its
    own. psycopg forgets its prepared statements (and deallocates them) after a rollback, so a
    connection prepares them again after one."""
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw: Any = _PreparingCursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def _insert_sql(obj: Model, db: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
    """The INSERT Django would send for this new row, returning its primary key (as
    ``Model._do_insert`` builds it). Only for a model whose sole value filled in by the
    database is its primary key, in one table of its own."""
    meta = obj._meta
    if meta.proxy or meta.parents or [f for f in meta.db_returning_fields if f is not meta.pk]:
        raise ValueError(f"insert_new cannot write a {meta.label}: Model.save can")
    fields = [
        field
        for field in meta.local_concrete_fields
        if not field.generated and (obj.pk is not None or field is not meta.auto_field)
    ]
    query = InsertQuery(type(obj))
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(connection=db)
    compiler.returning_fields = [meta.pk]
    [(sql, params)] = compiler.as_sql()
    return sql, tuple(params)


def transaction_unless_one_statement() -> AbstractContextManager[object]:
    """The transaction around reads, sequence numbers and an ``insert_new``: none on PostgreSQL
    outside a transaction, where the insert is one statement and so a transaction of its own
    (sequences are not transactional, and the reads need no lock), which saves BEGIN and
    COMMIT; elsewhere an atomic block (inside the caller's transaction, a savepoint, so that a
    failed insert leaves the caller's transaction usable)."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        return nullcontext()
    return transaction.atomic()
