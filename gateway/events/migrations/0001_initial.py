"""The outbox as the `events` app. Until December 2026 the table belonged to
the project package's app (label `gateway`, migrations gateway 0001-0003). This
migration replaces those three: a database that applied them has the table
already and counts this one as applied; a new one creates the table here. The
table keeps its old name, so nothing is copied. 0002 moves the permissions."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("gateway", "0001_initial"),
        ("gateway", "0002_admin_permissions"),
        ("gateway", "0003_outboxevent_fanned_out_at"),
    ]

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="OutboxEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("event_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("type", models.CharField(max_length=64)),
                ("version", models.PositiveSmallIntegerField(default=1)),
                ("aggregate_type", models.CharField(max_length=32)),
                ("aggregate_id", models.CharField(help_text="The Kafka key: the payment id.", max_length=64)),
                ("topics", models.JSONField(default=list)),
                ("payload", models.JSONField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("published_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                ("kafka_partition", models.IntegerField(blank=True, null=True)),
                ("kafka_offset", models.BigIntegerField(blank=True, null=True)),
                ("fanned_out_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "gateway_outboxevent",
                "verbose_name": "outbox event",
                "ordering": ["id"],
                "permissions": [("publish_outboxevent", "Can publish pending outbox events now")],
                "indexes": [
                    models.Index(fields=["published_at", "id"], name="gateway_out_publish_a5769f_idx"),
                    models.Index(fields=["aggregate_id", "id"], name="gateway_out_aggrega_a6c805_idx"),
                    models.Index(fields=["fanned_out_at", "id"], name="gateway_out_fanned_idx"),
                ],
            },
        ),
    ]
