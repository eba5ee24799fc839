"""The privacy team's three roles, as groups with their permissions (see dsar.roles)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from dsar.roles import create_roles as create

    create(apps)


def remove_roles(apps, schema_editor):
    from dsar.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dsar", "0005_team"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
