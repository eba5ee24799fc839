"""The privacy team's three roles, as groups with their permissions."""

from django.db import migrations

VIEW = [
    "view_case", "view_event", "view_datasystem", "view_systemrun", "view_manualtask",
    "view_processingactivity", "view_controller", "view_suppressionentry", "view_artifact",
    "view_rectificationchange",
]
WORK = [
    "work_case", "change_case", "change_manualtask", "add_rectificationchange",
    "change_rectificationchange", "delete_rectificationchange",
]
DECIDE = ["decide_case"]

ROLES = {
    "auditor": VIEW,
    "handler": VIEW + WORK,
    "approver": VIEW + WORK + DECIDE,
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are created after migrations run; make this app's exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="dsar", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dsar", "0005_team"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
