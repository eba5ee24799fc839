"""The dashboard's running counts of completed cases (filled here from the cases completed so
far), the queue's, email search's and intake month's indexes, and on PostgreSQL the sequence
that numbers references (dsar.references)."""

from collections import Counter

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def count_completed_cases(apps, schema_editor):
    """As dsar.closings.closing_key counts each case completed from now on."""
    Case = apps.get_model("dsar", "Case")
    ClosingCount = apps.get_model("dsar", "ClosingCount")
    db = schema_editor.connection.alias
    counts = Counter()
    rows = (
        Case.objects.using(db)
        .filter(status="completed", closed_at__isnull=False)
        .values_list("type", "received_at", "closed_at", "due_date")
        .order_by()
        .iterator(chunk_size=5000)
    )
    for type_, received_at, closed_at, due_date in rows:
        closed_day = timezone.localdate(closed_at)
        days = (closed_at - received_at).total_seconds() / 86400
        key = (type_, closed_day.replace(day=1), max(0, round(days * 10)), closed_day <= due_date)
        counts[key] += 1
    ClosingCount.objects.using(db).bulk_create(
        [
            ClosingCount(type=t, month=month, tenths=tenths, on_time=on_time, count=n)
            for (t, month, tenths, on_time), n in counts.items()
        ],
        batch_size=1000,
    )


def forget_counts(apps, schema_editor):
    apps.get_model("dsar", "ClosingCount").objects.using(schema_editor.connection.alias).delete()


def create_reference_sequence(apps, schema_editor):
    """PostgreSQL numbers references from one sequence (dsar.references), going on after the
    last number any year's counter handed out."""
    if schema_editor.connection.vendor != "postgresql":
        return
    ReferenceCounter = apps.get_model("dsar", "ReferenceCounter")
    last = ReferenceCounter.objects.using(schema_editor.connection.alias).aggregate(
        last=models.Max("last")
    )["last"]
    schema_editor.execute(
        f"CREATE SEQUENCE dsar_case_reference AS bigint START WITH {int(last or 0) + 1}"
    )


def drop_reference_sequence(apps, schema_editor):
    """Back to counter rows: each year's counter goes on after the sequence's last number."""
    if schema_editor.connection.vendor != "postgresql":
        return
    ReferenceCounter = apps.get_model("dsar", "ReferenceCounter")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM dsar_case_reference")
        (last,) = cursor.fetchone()
    ReferenceCounter.objects.using(schema_editor.connection.alias).update(last=last)
    schema_editor.execute("DROP SEQUENCE dsar_case_reference")


class Migration(migrations.Migration):

    dependencies = [
        ('dsar', '0019_address_fields'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ClosingCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('type', models.CharField(choices=[('access', 'Access'), ('portability', 'Portability'), ('rectification', 'Rectification'), ('erasure', 'Erasure'), ('restriction', 'Restriction'), ('objection', 'Objection')], max_length=20, verbose_name='request type')),
                ('month', models.DateField(verbose_name='month completed')),
                ('tenths', models.PositiveIntegerField(verbose_name='days to close, in tenths')),
                ('on_time', models.BooleanField(verbose_name='on time')),
                ('count', models.PositiveIntegerField(default=0, verbose_name='cases')),
            ],
            options={
                'verbose_name': 'closing count',
                'verbose_name_plural': 'closing counts',
            },
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(models.ExpressionWrapper(models.Q(('status__in', ['awaiting_information', 'awaiting_manual', 'awaiting_verification', 'in_progress', 'in_review', 'third_party_review', 'verified']), _negated=True), output_field=models.BooleanField()), models.F('due_date'), models.F('id'), name='case_queue_order'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(django.db.models.functions.text.Upper('email'), name='case_email_upper'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(fields=['received_at', 'type'], name='case_received_at'),
        ),
        migrations.AddConstraint(
            model_name='closingcount',
            constraint=models.UniqueConstraint(fields=('type', 'month', 'tenths', 'on_time'), name='closing_count_unique'),
        ),
        migrations.RunPython(count_completed_cases, forget_counts),
        migrations.RunPython(create_reference_sequence, drop_reference_sequence),
    ]
