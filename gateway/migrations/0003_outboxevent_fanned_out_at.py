"""OutboxEvent.fanned_out_at: when a row was handed to merchants' webhook
endpoints. Rows from before are marked with their created_at, so that history
is not sent to endpoints (one UPDATE; no row is read into Python)."""

from django.db import migrations, models


def mark_existing_rows(apps, schema_editor):
    OutboxEvent = apps.get_model("gateway", "OutboxEvent")
    OutboxEvent.objects.filter(fanned_out_at__isnull=True).update(fanned_out_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0002_admin_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="fanned_out_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_existing_rows, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="outboxevent",
            index=models.Index(fields=["fanned_out_at", "id"], name="gateway_out_fanned_idx"),
        ),
    ]
