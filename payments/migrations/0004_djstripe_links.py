"""The links to dj-stripe's copies, as their columns are: a nullable varchar(255)
with an index, holding the Stripe id (no constraint). They were foreign keys
into dj-stripe's tables (db_constraint=False) until payments 0014 took them out
of the model; written here as the columns they made, so that migrating needs
no dj-stripe (DJSTRIPE_MIRROR=off installs none). The database gets the same
columns and indexes either way."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0003_capture_method'),
    ]

    operations = [
        migrations.AddField(
            model_name='payment',
            name='djstripe_payment_intent',
            field=models.CharField(blank=True, db_column='djstripe_payment_intent_id', db_index=True, max_length=255, null=True),
        ),
        migrations.AddField(
            model_name='refund',
            name='djstripe_refund',
            field=models.CharField(blank=True, db_column='djstripe_refund_id', db_index=True, max_length=255, null=True),
        ),
    ]
