"""API tokens: created here (the key is shown once) and revoked here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..api.auth import create_token
from ..models import (
    ApiScope,
    ApiToken,
)


class ApiTokenForm(forms.ModelForm[ApiToken]):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ("name", "user", "scopes", "trusted_identity")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Tokens are created here (the key is shown once) and revoked here; never edited."""

    form = ApiTokenForm
    list_display = ("name", "user", "prefix", "scopes", "trusted_identity", "revoked_at")
    list_filter = ("trusted_identity",)
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        if obj is None:
            return ()
        return (
            "name",
            "user",
            "scopes",
            "trusted_identity",
            "prefix",
            "created_at",
            "last_used_at",
            "revoked_at",
        )

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return
        token, key = create_token(
            name=form.cleaned_data["name"],
            user=form.cleaned_data["user"],
            scopes=form.cleaned_data["scopes"],
            trusted_identity=form.cleaned_data["trusted_identity"],
        )
        obj.pk = token.pk
        messages.warning(
            request,
            _("The key of %(name)s, shown only this once: %(key)s")
            % {"name": token.name, "key": key},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(count)d tokens revoked.") % {"count": revoked})
