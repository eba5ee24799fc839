"""Key ids beside every keyed value (dsar.keys), and the audit chain keyed with an HMAC.

Values made before: suppression hashes and certificate checksums were keyed with SECRET_KEY
(the legacy key id). Existing events, plain SHA-256 chained, are checked and chained again with
the current audit key; a case whose plain chain was already broken keeps its events unkeyed, so
that verify_events reports it.
"""

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import migrations, models

LEGACY = "secret-key"
GENESIS = "0" * 64


def _payload(event, prev, key_id=None):
    payload = {
        "case": event.case_id,
        "seq": event.seq,
        "actor": event.actor,
        "action": event.action,
        "data": event.data,
        "created_at": event.created_at.isoformat(),
        "prev": prev,
    }
    if key_id is not None:
        payload["key"] = key_id
    return json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))


def rekey(apps, schema_editor):
    from dsar.keys import Purpose, current, mac

    Event = apps.get_model("dsar", "Event")
    apps.get_model("dsar", "SuppressionEntry").objects.update(key_id=LEGACY)
    apps.get_model("dsar", "Artifact").objects.exclude(checksum="").update(checksum_key_id=LEGACY)
    case_ids = Event.objects.values_list("case_id", flat=True).distinct()
    if not case_ids:
        return
    key_id = current(Purpose.AUDIT).id
    for case_id in case_ids:
        events = list(Event.objects.filter(case_id=case_id).order_by("seq"))
        prev, intact = GENESIS, True
        for expected, event in enumerate(events, start=1):
            plain = hashlib.sha256(_payload(event, event.prev_hash).encode()).hexdigest()
            if event.seq != expected or event.prev_hash != prev or plain != event.hash:
                intact = False
                break
            prev = event.hash
        if not intact:
            continue
        prev = GENESIS
        for event in events:
            digest = mac(Purpose.AUDIT, _payload(event, prev, key_id), key_id=key_id)[1]
            Event.objects.filter(pk=event.pk).update(prev_hash=prev, hash=digest, key_id=key_id)
            prev = digest


class Migration(migrations.Migration):
    dependencies = [
        ("dsar", "0012_manual_retention_rule"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="case",
            options={
                "ordering": ["due_date", "id"],
                "permissions": [
                    (
                        "work_case",
                        "Can work cases: assign, ask, retry, complete manual tasks, cancel",
                    ),
                    ("decide_case", "Can approve, reject and extend cases"),
                    ("assert_identity", "Can assert that a person's identity was verified"),
                ],
                "verbose_name": "case",
            },
        ),
        migrations.AddField(
            model_name="artifact",
            name="checksum_key_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="event",
            name="key_id",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="suppressionentry",
            name="key_id",
            field=models.CharField(default=LEGACY, max_length=32),
            preserve_default=False,
        ),
        migrations.RunPython(rekey, migrations.RunPython.noop),
    ]
