"""The SQL database connector: any database SQLAlchemy reaches (SQLite, PostgreSQL, ...).

What it touches is declared in the settings, never guessed: per table, the column that holds
the person's email (matched case-insensitively), the personal columns with what erasure does
to each (``delete_row`` removes the row, ``null`` clears the value, ``hash`` replaces it with its
SHA-256, ``keep`` keeps it), an optional boolean column that marks processing as restricted,
and which columns the generic rectification fields correct. Tables are reflected from the
database, so every query is built from real table objects and runs with bound parameters;
a table or column the mapping names but the database lacks is a final error.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.base import (
    GENERIC_FIELDS,
    Action,
    CheckReport,
    Connector,
    ConnectorError,
    Correction,
    CountingSink,
    ExportOutcome,
    ExportProgress,
    Identity,
    Outcome,
    OutcomeKind,
    RecordSink,
    before_write,
)
from connectors.settings import SettingsReader

SYSTEM = "SQL database"
RULES = frozenset({"delete_row", "null", "hash", "keep"})
HASH_LENGTH = 64
EXPORT_BATCH = 500


def _final(message: str) -> ConnectorError:
    return ConnectorError(message, retryable=False, system=SYSTEM)


@dataclass(frozen=True)
class TableMapping:
    table: str
    identity_column: str
    columns: dict[str, str]
    restrict_column: str | None
    fields: dict[str, str]

    @property
    def deletes_rows(self) -> bool:
        return "delete_row" in self.columns.values()

    def columns_with(self, rule: str) -> list[str]:
        return [column for column, each in self.columns.items() if each == rule]

    @classmethod
    def parse(cls, raw: Any, position: int) -> TableMapping:
        if not isinstance(raw, Mapping):
            raise _final(f"{SYSTEM} mapping entry {position} must be an object")
        table = raw.get("table")
        if not isinstance(table, str) or not table:
            raise _final(f"{SYSTEM} mapping entry {position} needs a 'table'")
        where = f"{SYSTEM} mapping for table '{table}'"
        identity = raw.get("identity_column")
        if not isinstance(identity, str) or not identity:
            raise _final(f"{where} needs an 'identity_column'")
        columns = raw.get("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise _final(f"{where} needs 'columns' mapping each personal column to a rule")
        for column, rule in columns.items():
            if rule not in RULES:
                raise _final(
                    f"{where}: rule '{rule}' of column '{column}' must be one of "
                    f"{', '.join(sorted(RULES))}"
                )
        mapping = cls(
            table=table,
            identity_column=identity,
            columns=dict(columns),
            restrict_column=_optional_text(raw, "restrict_column", where),
            fields=_fields(raw, where, dict(columns)),
        )
        # Erasing twice must find nothing the second time, or it would hash the hashes.
        if not mapping.deletes_rows and columns.get(identity) not in ("null", "hash"):
            raise _final(
                f"{where}: erasure must remove the identity column '{identity}' (rule 'null' or "
                "'hash') or delete the row, or a second erasure would find the row again"
            )
        return mapping


def _optional_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise _final(f"{where}: '{key}' must be a column name")
    return value


def _fields(raw: Mapping[str, Any], where: str, columns: dict[str, str]) -> dict[str, str]:
    """Generic rectification field → column; by default the columns named like a field."""
    fields = raw.get("fields")
    if fields is None:
        return {name: name for name in GENERIC_FIELDS if name in columns}
    if not isinstance(fields, Mapping):
        raise _final(f"{where}: 'fields' must map field names to columns")
    for name, column in fields.items():
        if name not in GENERIC_FIELDS:
            raise _final(
                f"{where}: '{name}' is not a field; fields are {', '.join(sorted(GENERIC_FIELDS))}"
            )
        if column not in columns:
            raise _final(f"{where}: field '{name}' names '{column}', which is not in 'columns'")
    return dict(fields)


@dataclass(frozen=True)
class SqlSettings:
    url: str
    url_env: str
    schema: str | None
    tables: tuple[TableMapping, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        read = SettingsReader(SYSTEM, config, secrets=secrets)
        url, url_env = read.secret("url_env", default_env=None, what="URL")
        try:
            sa.engine.make_url(url)
        except sa_exc.ArgumentError:
            raise _final(f"{SYSTEM} URL in {url_env} is not a database URL") from None
        raw_tables = config.get("mapping")
        if not isinstance(raw_tables, list) or not raw_tables:
            raise _final(f"{SYSTEM} setting 'mapping' is missing: list the tables to search")
        schema = config.get("schema")
        if schema is not None and not isinstance(schema, str):
            raise _final(f"{SYSTEM} setting 'schema' must be text")
        return cls(
            url=url,
            url_env=url_env,
            schema=schema or None,
            tables=tuple(TableMapping.parse(raw, n) for n, raw in enumerate(raw_tables, start=1)),
        )


# The journal's names for an erasure's commit: whether rows stay without identity.
ERASURE = "commit of the erasure"
ERASURE_KEEPING_ROWS = "commit of the erasure, rows kept without identity"


class SqlConnector(Connector):
    key = "sql"
    display_name = SYSTEM
    supports = frozenset({Action.EXPORT, Action.ERASE, Action.RESTRICT, Action.RECTIFY})

    def __init__(self, settings: SqlSettings) -> None:
        self.settings = settings
        if any(mapping.restrict_column is None for mapping in settings.tables):
            # Restricting only some tables would be a partial answer: a person does it instead.
            self.supports = self.supports - {Action.RESTRICT}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Self:
        return cls(SqlSettings.from_config(config, secrets=secrets))

    # --- actions -------------------------------------------------------------------------------

    def holds(self, identity: Identity) -> bool:
        """Whether any mapped table has a row for the person (one count per table)."""
        with self._connect() as (connection, tables):
            return any(
                _count(connection, table, _matches(table, mapping, identity)) > 0
                for mapping, table in tables
            )

    def export(
        self, identity: Identity, sink: RecordSink, progress: ExportProgress | None = None
    ) -> ExportOutcome:
        counter = CountingSink(sink)
        with self._connect() as (connection, tables):
            for mapping, table in tables:
                query = sa.select(*(table.c[name] for name in mapping.columns)).where(
                    _matches(table, mapping, identity)
                )
                streamed = connection.execution_options(yield_per=EXPORT_BATCH).execute(query)
                for row in streamed:
                    counter.write(mapping.table, {k: _plain(v) for k, v in row._mapping.items()})
        return counter.outcome()

    def check(self) -> CheckReport:
        report = CheckReport(SYSTEM)
        try:
            with self._connect() as (_connection, tables):
                for mapping, _table in tables:
                    report.add(
                        f"table {mapping.table}",
                        ok=True,
                        message="present, with every column the mapping names",
                    )
        except ConnectorError as error:
            report.add("database", ok=False, message=str(error))
        return report

    def erase(self, identity: Identity) -> Outcome:
        changed, kept = [], []
        with self._connect() as (connection, tables):
            for mapping, table in tables:
                where = _matches(table, mapping, identity)
                if mapping.deletes_rows:
                    count = connection.execute(sa.delete(table).where(where)).rowcount
                    if count:
                        changed.append(f"{mapping.table}: {count} row(s) deleted")
                    continue
                count = _erase_columns(connection, table, mapping, where)
                if count:
                    changed.append(f"{mapping.table}: {count} row(s) erased ({_erasure(mapping)})")
                    kept += [f"{mapping.table}.{c}" for c in mapping.columns_with("keep")]
            if changed:
                # The erasure takes effect when this transaction commits, right after; the
                # journal says whether rows stay (``interrupted_erasure`` reads it back).
                before_write(ERASURE_KEEPING_ROWS if kept else ERASURE)
        if not changed:
            return Outcome.nothing_found(Action.ERASE)
        if kept:
            # Rows stay, with the identifying columns cleared or hashed.
            return Outcome(
                Action.ERASE,
                OutcomeKind.ANONYMISED,
                summary="Removed the person's identity from their rows; the rest is kept",
                changed=changed,
                remains=["rows_without_identity"],
                details={"kept": kept},
            )
        return Outcome(
            Action.ERASE,
            OutcomeKind.ERASED,
            summary="Erased the person's rows",
            changed=changed,
            details={"kept": kept},
        )

    def interrupted_erasure(self, writes: Sequence[str]) -> Outcome:
        """An interrupted erasure that cleared identifying columns left the rows, without the
        person's identity: anonymised, as a completed one says."""
        if ERASURE_KEEPING_ROWS in writes:
            return Outcome(
                Action.ERASE,
                OutcomeKind.ANONYMISED,
                summary="Removed the person's identity from their rows; the rest is kept",
                changed=list(writes),
                remains=["rows_without_identity"],
            )
        return super().interrupted_erasure(writes)

    def restrict(self, identity: Identity, *, reason: str) -> Outcome:
        found, changed = False, []
        with self._connect() as (connection, tables):
            for mapping, table in tables:
                if mapping.restrict_column is None:
                    continue
                where = _matches(table, mapping, identity)
                found = found or _count(connection, table, where) > 0
                flag = table.c[mapping.restrict_column]
                count = connection.execute(
                    sa.update(table).where(where, flag.is_not(True)).values({flag: True})
                ).rowcount
                if count:
                    changed.append(f"{mapping.table}: {count} row(s) marked restricted")
            if changed:
                before_write("commit of the restriction")
        if not found:
            return Outcome.nothing_found(Action.RESTRICT)
        summary = "Marked the person's rows as restricted" if changed else "Already restricted"
        return Outcome(Action.RESTRICT, OutcomeKind.RESTRICTED, summary=summary, changed=changed)

    def rectify(self, identity: Identity, *, changes: Mapping[str, str]) -> Outcome:
        held = {name for mapping in self.settings.tables for name in mapping.fields}
        not_held = sorted(name for name in changes if name not in held)
        found, changed = False, []
        corrections: dict[tuple[str, str, str], Correction] = {}
        with self._connect() as (connection, tables):
            for mapping, table in tables:
                where = _matches(table, mapping, identity)
                if not _count(connection, table, where):
                    continue
                found = True
                values = {
                    mapping.fields[name]: value
                    for name, value in changes.items()
                    if name in mapping.fields
                }
                field_of = {column: name for name, column in mapping.fields.items()}
                old_rows = connection.execute(
                    sa.select(*(table.c[column] for column in values)).where(where)
                ).all()
                for row in old_rows:
                    for column, new in values.items():
                        old = row._mapping[column]
                        old_text = "" if old is None else str(_plain(old))
                        if old_text != new:
                            key = (field_of[column], old_text, new)
                            corrections[key] = Correction(field_of[column], old_text, new)
                # The identity column goes last: the rows are found by its old value.
                for column in sorted(values, key=lambda c: c == mapping.identity_column):
                    target = table.c[column]
                    count = connection.execute(
                        sa.update(table)
                        .where(where, target.is_distinct_from(values[column]))
                        .values({target: values[column]})
                    ).rowcount
                    if count:
                        changed.append(f"{mapping.table}: {column} corrected in {count} row(s)")
            if changed:
                before_write("commit of the correction")
        if not found:
            return Outcome.nothing_found(Action.RECTIFY)
        return Outcome.rectified(
            corrections=list(corrections.values()),
            changed=changed,
            not_held=not_held,
            holder="the database",
        )

    # --- the database --------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[tuple[sa.Connection, list[tuple[TableMapping, sa.Table]]]]:
        """One connection and one transaction per action, with the mapped tables reflected."""
        try:
            engine = sa.create_engine(self.settings.url, poolclass=sa.NullPool)
        except sa_exc.ArgumentError as exc:
            raise _final(
                f"{SYSTEM} URL in {self.settings.url_env} cannot be used: {_first_line(exc)}"
            ) from None
        try:
            with engine.begin() as connection:
                tables = [(m, self._reflect(connection, m)) for m in self.settings.tables]
                yield connection, tables
        except sa_exc.SQLAlchemyError as exc:
            raise self._database_error(exc) from exc
        finally:
            engine.dispose()

    def _reflect(self, connection: sa.Connection, mapping: TableMapping) -> sa.Table:
        schema = self.settings.schema
        where = f"{SYSTEM} table '{mapping.table}'"
        try:
            table = sa.Table(mapping.table, sa.MetaData(), autoload_with=connection, schema=schema)
        except sa_exc.NoSuchTableError:
            place = f" in schema '{schema}'" if schema else ""
            raise _final(
                f"{SYSTEM} has no table '{mapping.table}'{place}: check the mapping"
            ) from None
        named = [mapping.identity_column, *mapping.columns]
        if mapping.restrict_column:
            named.append(mapping.restrict_column)
        for column in named:
            if column not in table.c:
                raise _final(f"{where} has no column '{column}': check the mapping")
        for column in mapping.columns_with("null"):
            if not table.c[column].nullable:
                raise _final(
                    f"{where}: column '{column}' cannot be NULL, so 'null' cannot erase it"
                )
        for column in mapping.columns_with("hash"):
            kind = table.c[column].type
            if not isinstance(kind, sa.String) or (kind.length or HASH_LENGTH) < HASH_LENGTH:
                raise _final(
                    f"{where}: column '{column}' cannot hold a SHA-256 hash "
                    f"({HASH_LENGTH} characters of text)"
                )
        if mapping.columns_with("hash") and not table.primary_key.columns:
            raise _final(f"{where} has no primary key, which the 'hash' rule needs")
        return table

    def _database_error(self, exc: sa_exc.SQLAlchemyError) -> ConnectorError:
        sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
        if sqlstate.startswith("28"):
            return _final(
                f"{SYSTEM} rejected the credentials: check the URL in {self.settings.url_env}"
            )
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
            return ConnectorError(
                f"{SYSTEM} is unreachable or busy: {_first_line(exc)}",
                retryable=True,
                system=SYSTEM,
            )
        return _final(f"{SYSTEM} refused the query: {_first_line(exc)}")


def _matches(table: sa.Table, mapping: TableMapping, identity: Identity) -> sa.ColumnElement[bool]:
    return sa.func.lower(table.c[mapping.identity_column]) == identity.normalized_email


def _count(connection: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return connection.execute(
        sa.select(sa.func.count()).select_from(table).where(where)
    ).scalar_one()


def _erase_columns(
    connection: sa.Connection,
    table: sa.Table,
    mapping: TableMapping,
    where: sa.ColumnElement[bool],
) -> int:
    """Clear and hash the mapped columns of the matching rows; how many rows."""
    cleared: dict[str, Any] = dict.fromkeys(mapping.columns_with("null"))
    hashed = mapping.columns_with("hash")
    if not hashed:
        return connection.execute(sa.update(table).where(where).values(cleared)).rowcount
    key = list(table.primary_key.columns)
    rows = connection.execute(sa.select(*key, *(table.c[c] for c in hashed)).where(where)).all()
    for row in rows:
        values = {c: None if row._mapping[c] is None else _sha256(row._mapping[c]) for c in hashed}
        same_row = sa.and_(*(column == row._mapping[column.name] for column in key))
        connection.execute(sa.update(table).where(same_row).values({**cleared, **values}))
    return len(rows)


def _erasure(mapping: TableMapping) -> str:
    parts = []
    if cleared := mapping.columns_with("null"):
        parts.append(f"{', '.join(cleared)} cleared")
    if hashed := mapping.columns_with("hash"):
        parts.append(f"{', '.join(hashed)} replaced by hashes")
    return "; ".join(parts)


def _sha256(value: Any) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()


def _plain(value: Any) -> Any:
    """A value as JSON can hold it."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _first_line(exc: BaseException) -> str:
    """The driver's own message, first line only: later lines can quote the row's values."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"[:300]
