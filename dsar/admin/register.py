"""The register of processing activities, its recipients and statutory retention rules, the
controller and the suppression list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import (
    Controller,
    ProcessingActivity,
    Recipient,
    RetentionRule,
    SuppressionEntry,
)


def _bilingual(*fields: str) -> tuple[str, ...]:
    return tuple(name for field in fields for name in (field, f"{field}_de"))


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(admin.ModelAdmin[ProcessingActivity]):
    list_display = ("name", "key", "legal_basis", "retention", "policy_differs_from_law")
    list_filter = ("legal_basis", "retention_rules")
    search_fields = ("key", "name", "name_de", "purposes", "data_categories")
    filter_horizontal = ("systems", "recipients", "retention_rules")
    readonly_fields = ("policy_difference",)
    fieldsets = (
        (None, {"fields": ("key", *_bilingual("name"), "systems", "internal_note")}),
        (
            _("Art. 15(1)(a) to (b): purposes, legal basis, data"),
            {"fields": _bilingual("purposes", "legal_basis_detail", "data_categories")},
        ),
        (_("Legal basis"), {"fields": ("legal_basis",)}),
        (
            _("Art. 15(1)(c), 15(2): recipients and third countries"),
            {
                "fields": (
                    "recipients",
                    *_bilingual(
                        "recipient_categories", "third_country_transfers", "transfer_safeguards"
                    ),
                )
            },
        ),
        (
            _("Art. 15(1)(d): retention"),
            {
                "fields": (
                    *_bilingual("retention"),
                    "retention_rules",
                    "policy_retention_years",
                    "policy_difference",
                )
            },
        ),
        (
            _("Art. 15(1)(g) to (h), Art. 13(2)(e): source, automated decisions, obligation"),
            {"fields": _bilingual("source", "automated_decision_making", "provision_requirement")},
        ),
    )

    @admin.display(boolean=True, description=_("policy keeps longer than the law"))
    def policy_differs_from_law(self, activity: ProcessingActivity) -> bool:
        return bool(activity.rules_shorter_than_policy())

    @admin.display(description=_("for the controller"))
    def policy_difference(self, activity: ProcessingActivity) -> str:
        shorter = activity.rules_shorter_than_policy()
        if not shorter:
            return str(_("The privacy policy and the statutory rules agree."))
        return str(
            _(
                "The privacy policy states %(years)d years; the law requires less for: "
                "%(rules)s. Keeping such records longer needs a reason of its own (Art. 5(1)(e) "
                "GDPR): shorten the policy's period or record why."
            )
        ) % {
            "years": activity.policy_retention_years,
            "rules": "; ".join(f"{rule.name} ({rule.years})" for rule in shorter),
        }


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin[Recipient]):
    list_display = (
        "name",
        "role",
        "country",
        "third_country",
        "transfer_mechanism",
        "notice_email",
        "confirmed_by_controller",
    )
    list_filter = ("confirmed_by_controller", "third_country", "role", "transfer_mechanism")
    search_fields = ("key", "name")
    filter_horizontal = ("systems",)
    actions = ("confirm",)
    fields = (
        "key",
        "name",
        "role",
        "country_code",
        "country",
        "country_de",
        "third_country",
        "transfer_mechanism",
        "safeguard",
        "safeguard_de",
        "confirmed_by_controller",
        "basis_of_text",
        "notice_email",
        "systems",
    )

    @admin.action(description=_("Confirm the selected recipients' country and safeguard"))
    def confirm(self, request: HttpRequest, queryset: QuerySet[Recipient]) -> None:
        count = queryset.update(confirmed_by_controller=True)
        self.message_user(
            request,
            _("%(count)d recipients confirmed: their details now reach the people who ask.")
            % {"count": count},
        )


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin[RetentionRule]):
    list_display = ("name", "key", "years", "citation", "from_end_of_year")
    search_fields = ("key", "name", "name_de", "citation")


@admin.register(Controller)
class ControllerAdmin(admin.ModelAdmin[Controller]):
    list_display = ("name", "contact_email", "dpo_name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Controller.objects.exists()


@admin.register(SuppressionEntry)
class SuppressionEntryAdmin(admin.ModelAdmin[SuppressionEntry]):
    """The objections to direct marketing: read-only; the objection's case decides on a new
    opt-in the person made (``dsar.suppression`` says what an entry keeps and why)."""

    list_display = ("reference", "created_at", "email", "consent_found_at", "lifted_at")
    search_fields = ("reference", "email")
    exclude = ("email_hash", "key_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
