"""otp.HeldPayment, a proxy of payments.Payment that carries this app's
permission. Whoever could resend a code before (payments.resend_otp_payment)
can now (otp.resend_code); the old permission goes."""

from django.db import migrations


def move_grants(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    old = Permission.objects.using(db).filter(
        content_type__app_label="payments", content_type__model="payment", codename="resend_otp_payment"
    ).first()
    if old is None:
        return  # a new database: the permission is made after migrate, as any other
    content_type, _ = ContentType.objects.using(db).get_or_create(app_label="otp", model="heldpayment")
    new, _ = Permission.objects.using(db).get_or_create(
        content_type=content_type,
        codename="resend_code",
        defaults={"name": "Can resend a held payment's one-time code"},
    )
    for group in old.group_set.all():
        group.permissions.add(new)
    for user in old.user_set.all():
        user.user_permissions.add(new)
    old.delete()


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("payments", "0014_mirror_links_and_otp_permission_moved_out"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="HeldPayment",
            fields=[],
            options={
                "verbose_name": "payment held for its one-time code",
                "permissions": [("resend_code", "Can resend a held payment's one-time code")],
                "default_permissions": (),
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("payments.payment",),
        ),
        migrations.RunPython(move_grants, migrations.RunPython.noop),
    ]
