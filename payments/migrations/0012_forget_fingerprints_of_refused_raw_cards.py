"""Idempotency-Keys of requests refused for a raw card where raw cards were not
accepted: earlier releases claimed the key first and kept the request's
fingerprint (a keyed hash of a body holding a card). They did no work; nothing
refers to them. Removed here; new ones are never made (payments.http)."""

from django.db import migrations


def forget(apps, schema_editor):
    IdempotencyKey = apps.get_model("payments", "IdempotencyKey")
    IdempotencyKey.objects.filter(response_body__error__code="raw_card_data_not_accepted").delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0011_rolling_deploy_defaults_and_claim_fence")]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop, elidable=True)]
