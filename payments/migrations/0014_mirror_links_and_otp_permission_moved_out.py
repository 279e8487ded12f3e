"""Payments stop naming other apps' tables and permissions:
- the links to dj-stripe's copies (Payment.djstripe_payment_intent,
  Refund.djstripe_refund) leave the model: the mirror finds its rows by their
  Stripe ids (stripe_integration.mirror.sync). The columns stay in the database,
  nullable and unread, for the release still running during a rolling deploy;
  the next release drops them.
- "resend a payment's code" is declared by the OTP app (otp.HeldPayment)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0013_client_confirmation_and_expiry"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="payment",
            options={
                "ordering": ["-id"],
                "permissions": [
                    ("refund_payment", "Can refund payments"),
                    ("sync_payment", "Can sync payments from the PSP (reconciliation)"),
                    ("view_overview_payment", "Can view the payments overview"),
                ],
            },
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="payment", name="djstripe_payment_intent"),
                migrations.RemoveField(model_name="refund", name="djstripe_refund"),
            ],
            database_operations=[],
        ),
    ]
