"""Payment.refund_count: how many refund rows a payment has, so that a read of
a payment with none skips the query for its refunds. Existing rows are counted.

Expand-only: the column has a database default, so that the previous release,
still serving during a rolling deploy, can insert payments. Refunds that
release creates meanwhile are not counted; a read skips the query only when
nothing is refunded either (refunded_minor, which every release keeps), so a
pending or settled refund is never hidden."""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery


def count_existing_refunds(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    Refund = apps.get_model("payments", "Refund")
    counts = (
        Refund.objects.filter(payment=OuterRef("pk")).order_by().values("payment").annotate(n=Count("pk")).values("n")
    )
    Payment.objects.filter(pk__in=Refund.objects.values("payment")).update(refund_count=Subquery(counts))


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0009_payment_return_url"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="refund_count",
            field=models.PositiveIntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.RunPython(count_existing_refunds, migrations.RunPython.noop),
    ]
