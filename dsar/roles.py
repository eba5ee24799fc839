"""The privacy team's three roles, as groups with their permissions.

A migration creates them; they are made again after every ``migrate`` and ``flush`` (the
post_migrate signal, as Django does for permissions), so a database is never without them.
"""

from __future__ import annotations

from typing import Any

VIEW = [
    "view_case",
    "view_event",
    "view_datasystem",
    "view_systemrun",
    "view_manualtask",
    "view_processingactivity",
    "view_controller",
    "view_suppressionentry",
    "view_artifact",
    "view_rectificationchange",
]
WORK = [
    "add_case",
    "assert_identity",
    "work_case",
    "change_case",
    "change_manualtask",
    "add_rectificationchange",
    "change_rectificationchange",
    "delete_rectificationchange",
]
DECIDE = ["decide_case"]

ROLES = {
    "auditor": VIEW,
    "handler": VIEW + WORK,
    "approver": VIEW + WORK + DECIDE,
}


def create_roles(apps: Any) -> None:
    """Create or update the groups; ``apps`` is the migration's or the live app registry."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # A migration's app stubs have no models module, and create_permissions skips those.
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = previous or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = previous
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _created = group_model.objects.get_or_create(name=name)
        group.permissions.set(
            permission_model.objects.filter(content_type__app_label="dsar", codename__in=codenames)
        )
