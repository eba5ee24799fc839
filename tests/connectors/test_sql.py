"""The SQL connector against the trial sign-up table, in SQLite and in PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import Action, ConnectorError, Correction, Identity, OutcomeKind
from connectors.demo_people import (
    ADA,
    DEMO_PEOPLE,
    NORA,
    TRIAL_TABLE,
    create_trial_database,
    trial_system_config,
)
from connectors.sql.connector import SqlConnector

from .conftest import Records, others_than

POSTGRES_URL = os.environ.get(
    "DSAR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADA_ID = Identity(email=ADA.email, name=ADA.name)
SIGNED_UP = sum(1 for person in DEMO_PEOPLE if person.trial_signed_up_at)


@dataclass
class Database:
    url: str
    schema: str | None

    def connector(self, **changes: Any) -> SqlConnector:
        config = trial_system_config(url_env="DSAR_SECRET_TRIAL_DB_URL", schema=self.schema)
        table = config["mapping"][0]
        table.update(changes)
        # Rectification may only correct mapped columns: fewer columns, fewer fields.
        table["fields"] = {k: v for k, v in table["fields"].items() if v in table["columns"]}
        return SqlConnector.from_config(config, secrets={"DSAR_SECRET_TRIAL_DB_URL": self.url})

    def rows(self) -> list[dict[str, Any]]:
        engine = sa.create_engine(self.url, poolclass=sa.NullPool)
        try:
            table = sa.Table(TRIAL_TABLE, sa.MetaData(), autoload_with=engine, schema=self.schema)
            with engine.connect() as connection:
                query = sa.select(table).order_by(table.c.id)
                return [dict(row._mapping) for row in connection.execute(query)]
        finally:
            engine.dispose()

    def row_of(self, email: str) -> dict[str, Any] | None:
        return next((row for row in self.rows() if row["email"] == email), None)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'trial.sqlite3'}"
        create_trial_database(url)
        yield Database(url, None)
        return
    if os.environ.get("DSAR_TEST_NO_POSTGRES") == "1":
        pytest.skip("DSAR_TEST_NO_POSTGRES=1")
    schema = f"dsar_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    try:
        create_trial_database(POSTGRES_URL, schema=schema)
        yield Database(POSTGRES_URL, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        engine.dispose()


def test_export_of_ada_holds_her_sign_up_and_nobody_elses(
    database: Database, records: Records
) -> None:
    outcome = database.connector().export(ADA_ID, records)

    assert outcome.found
    assert outcome.counts == {TRIAL_TABLE: 1}
    (row,) = records.of(TRIAL_TABLE)
    assert row["surname"] == "Lovelace"
    assert row["organization"] == "Analytical Engines Ltd"
    assert row["signed_up_at"].startswith("2025-03-14")
    for other in others_than(ADA):
        assert other not in records.text()


def test_the_address_matches_whatever_its_case(database: Database, records: Records) -> None:
    outcome = database.connector().export(Identity(email=" ADA.Lovelace@Example.com"), records)

    assert outcome.counts == {TRIAL_TABLE: 1}


def test_a_hostile_address_is_only_ever_a_bound_value(database: Database, records: Records) -> None:
    outcome = database.connector().export(Identity(email="x' OR '1'='1"), records)

    assert not outcome.found
    assert len(database.rows()) == SIGNED_UP


def test_export_of_a_person_who_never_signed_up_finds_nothing(
    database: Database, records: Records
) -> None:
    assert not database.connector().export(Identity(email=NORA.email), records).found


def test_erase_deletes_the_row_and_leaves_the_others(database: Database) -> None:
    outcome = database.connector().erase(ADA_ID)

    assert outcome.found
    assert outcome.changed == [f"{TRIAL_TABLE}: 1 row(s) deleted"]
    assert database.row_of(ADA.email) is None
    assert len(database.rows()) == SIGNED_UP - 1


def test_erase_of_unknown_person_succeeds_with_nothing_found(database: Database) -> None:
    outcome = database.connector().erase(Identity(email=NORA.email))

    assert not outcome.found
    assert outcome.summary == "nothing found"
    assert len(database.rows()) == SIGNED_UP


def test_erasing_twice_finds_nothing_the_second_time(database: Database) -> None:
    connector = database.connector()
    connector.erase(ADA_ID)

    assert connector.erase(ADA_ID).summary == "nothing found"
    assert len(database.rows()) == SIGNED_UP - 1


def test_erase_can_clear_and_hash_columns_and_keep_others(database: Database) -> None:
    connector = database.connector(
        columns={
            "email": "hash",
            "first_name": "null",
            "surname": "null",
            "telephone": "null",
            "organization": "hash",
            "country": "keep",
        }
    )

    outcome = connector.erase(ADA_ID)
    again = connector.erase(ADA_ID)

    hashed_email = hashlib.sha256(ADA.email.encode()).hexdigest()
    row = database.row_of(hashed_email)
    assert row is not None
    assert (row["first_name"], row["surname"], row["telephone"]) == (None, None, None)
    assert row["organization"] == hashlib.sha256(ADA.company.encode()).hexdigest()
    assert row["country"] == "United Kingdom"
    assert outcome.details["kept"] == [f"{TRIAL_TABLE}.country"]
    assert outcome.kind == OutcomeKind.ANONYMISED
    assert outcome.remains == ["rows_without_identity"]
    assert "Lovelace" not in " ".join(outcome.changed)
    assert again.summary == "nothing found"


def test_restrict_flags_the_rows_once(database: Database) -> None:
    connector = database.connector()

    first = connector.restrict(ADA_ID, reason="DSAR-2026-000004")
    second = connector.restrict(ADA_ID, reason="DSAR-2026-000004")

    assert first.changed == [f"{TRIAL_TABLE}: 1 row(s) marked restricted"]
    assert second.found and second.summary == "Already restricted"
    flags = {row["email"]: row["processing_restricted"] for row in database.rows()}
    assert flags.pop(ADA.email) is True
    assert set(flags.values()) == {False}


def test_restrict_is_left_to_people_when_a_table_has_no_flag_column(database: Database) -> None:
    connector = database.connector(restrict_column=None)

    assert Action.RESTRICT not in connector.supports
    assert Action.RESTRICT in SqlConnector.supports


def test_rectify_maps_generic_fields_to_columns_and_corrects_the_email_last(
    database: Database,
) -> None:
    connector = database.connector()
    changes = {"last_name": "King", "phone": "+44 20 7946 0000", "email": "ada.king@example.com"}

    outcome = connector.rectify(ADA_ID, changes={**changes, "name": "Ada King"})

    assert outcome.changed == [
        f"{TRIAL_TABLE}: surname corrected in 1 row(s)",
        f"{TRIAL_TABLE}: telephone corrected in 1 row(s)",
        f"{TRIAL_TABLE}: email corrected in 1 row(s)",
    ]
    assert outcome.not_held_fields == ["name"]
    assert outcome.corrections == [
        Correction("last_name", "Lovelace", "King"),
        Correction("phone", ADA.phone, "+44 20 7946 0000"),
        Correction("email", ADA.email, "ada.king@example.com"),
    ]
    row = database.row_of("ada.king@example.com")
    assert row is not None
    assert (row["surname"], row["telephone"]) == ("King", "+44 20 7946 0000")
    again = connector.rectify(Identity(email="ada.king@example.com"), changes=changes)
    assert again.changed == []
    assert again.corrections == []


def test_an_unknown_table_is_a_final_error(database: Database) -> None:
    with pytest.raises(ConnectorError) as caught:
        database.connector(table="trial_sign_ups").export(ADA_ID, Records())

    assert not caught.value.retryable
    assert "SQL database has no table 'trial_sign_ups'" in str(caught.value)


def test_an_unknown_column_is_a_final_error(database: Database) -> None:
    with pytest.raises(ConnectorError) as caught:
        database.connector(columns={"email": "delete_row", "phone": "delete_row"}).erase(ADA_ID)

    assert not caught.value.retryable
    assert str(caught.value) == (
        f"SQL database table '{TRIAL_TABLE}' has no column 'phone': check the mapping"
    )
    assert database.row_of(ADA.email) is not None


def test_a_column_that_cannot_hold_a_hash_is_a_final_error(database: Database) -> None:
    with pytest.raises(ConnectorError, match="column 'signed_up_at' cannot hold a SHA-256 hash"):
        database.connector(columns={"email": "hash", "signed_up_at": "hash"}).erase(ADA_ID)


def test_a_not_null_column_cannot_be_erased_by_clearing_it(database: Database) -> None:
    with pytest.raises(ConnectorError, match="column 'email' cannot be NULL"):
        database.connector(columns={"email": "null"}).erase(ADA_ID)


def test_a_mapping_whose_erasure_would_leave_the_person_findable_is_refused(
    database: Database,
) -> None:
    with pytest.raises(ConnectorError, match="erasure must remove the identity column 'email'"):
        database.connector(columns={"email": "keep", "first_name": "null"})


def test_an_unreachable_database_is_a_passing_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/test"
    config = trial_system_config(url_env="DSAR_SECRET_TRIAL_DB_URL")

    connector = SqlConnector.from_config(config, secrets={"DSAR_SECRET_TRIAL_DB_URL": url})
    with pytest.raises(ConnectorError) as caught:
        connector.erase(ADA_ID)

    assert caught.value.retryable
    assert str(caught.value).startswith("SQL database is unreachable or busy")
    assert "password" not in str(caught.value)


def test_the_database_url_comes_from_the_variable_the_settings_name() -> None:
    config = trial_system_config(url_env="DSAR_SECRET_TRIAL_DB_URL")

    with pytest.raises(ConnectorError) as caught:
        SqlConnector.from_config(config, secrets={})

    assert (
        str(caught.value)
        == "SQL database URL is not set: set environment variable DSAR_SECRET_TRIAL_DB_URL"
    )
    with pytest.raises(
        ConnectorError, match="URL in DSAR_SECRET_TRIAL_DB_URL is not a database URL"
    ):
        SqlConnector.from_config(config, secrets={"DSAR_SECRET_TRIAL_DB_URL": "not a url"})


def test_creating_the_trial_database_twice_adds_nothing(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'trial.sqlite3'}"

    assert create_trial_database(url) == SIGNED_UP
    assert create_trial_database(url) == 0
