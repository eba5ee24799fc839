"""On PostgreSQL, trigram indexes (pg_trgm) for the admin's search of partial input: its
``UPPER(column) LIKE UPPER('%…%')`` over reference, email and name is read from these indexes
instead of scanning every case. SQLite (the demo) keeps scanning."""

from django.db import migrations

COLUMNS = ("email", "name", "reference")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS case_{column}_trgm ON dsar_case "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS case_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("dsar", "0020_closing_counts_and_indexes")]

    operations = [migrations.RunPython(create, drop)]
