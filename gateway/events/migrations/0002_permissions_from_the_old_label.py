"""The outbox's permissions follow it from the old label (`gateway`) to
`events`, with the operators' groups and users that were granted them."""

from django.db import migrations


def relabel(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    old = ContentType.objects.using(db).filter(app_label="gateway", model="outboxevent").first()
    if old is None:
        return  # a new database
    new = ContentType.objects.using(db).filter(app_label="events", model="outboxevent").first()
    if new is None:
        old.app_label = "events"
        old.save(update_fields=["app_label"])
        return
    # Both exist (a migrate ran in between and made the new one): the grants
    # move to the new permissions, and the old ones go.
    for permission in Permission.objects.using(db).filter(content_type=old):
        target = Permission.objects.using(db).filter(content_type=new, codename=permission.codename).first()
        if target is None:
            permission.content_type = new
            permission.save(update_fields=["content_type"])
            continue
        for group in permission.group_set.all():
            group.permissions.add(target)
        for user in permission.user_set.all():
            user.user_permissions.add(target)
    old.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(relabel, migrations.RunPython.noop)]
