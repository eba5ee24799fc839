"""The register of processing activities as the customer's data: register/otrs.yaml, checked
line by line, loaded in one transaction, linked to the systems, recipients and statutory
retention rules, in English and German."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from dsar.demo import create_demo_systems
from dsar.models import Controller, DataSystem, ProcessingActivity, Recipient, RetentionRule
from dsar.register import DEFAULT_PATH, load_register, read_register
from dsar.retention import retention_end, rules_for_system
from dsar.rights import retention_obligations

pytestmark = pytest.mark.django_db

REQUIRED = [
    "handling-data-subject-requests",
    "newsletter",
    "direct-advertising",
    "business-cards",
    "free-trial",
    "web-analytics",
    "google-tag-manager",
    "google-analytics",
    "google-ads-conversion-tracking",
    "google-remarketing",
    "google-recaptcha",
    "youtube",
    "vimeo",
    "microsoft-advertising",
    "vwo",
    "hotjar",
    "capterra",
    "propensity",
    "facebook-instagram-plugins",
    "facebook-instagram-custom-audiences",
    "linkedin-pixel",
    "twitter-buttons",
    "walkme",
    "hubspot-crm",
    "job-applications",
    "customer-data",
    "prospect-data",
    "employee-data",
    "supplier-data",
    "video-conferencing",
    "archived-emails",
    "telephone-numbers",
    "developer-forum",
]

DEMO_KEYS = {
    "hubspot",
    "mailchimp",
    "discourse",
    "trial-signups",
    "accounting",
    "business-cards",
    "email-archive",
    "hr-files",
}

# What a person reads: each in English and German.
PERSON_FACING = [
    "name",
    "purposes",
    "legal_basis_detail",
    "data_categories",
    "recipient_categories",
    "third_country_transfers",
    "transfer_safeguards",
    "retention",
    "source",
    "automated_decision_making",
    "provision_requirement",
]


def _demo_systems() -> None:
    create_demo_systems(
        hubspot_url="http://127.0.0.1:1",
        mailchimp_url="http://127.0.0.1:2/3.0",
        discourse_url="http://127.0.0.1:3",
    )


def _snapshot() -> list[object]:
    """Every register row as plain values, links included."""
    rows: list[object] = []
    for model in (ProcessingActivity, Recipient, RetentionRule, Controller):
        for row in model.objects.order_by("pk"):
            rows.append(model_to_dict(row))
    return rows


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "register.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, fragment: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(fragment)


def test_the_customers_register_describes_every_activity_in_both_languages() -> None:
    result = load_register()
    activities = {activity.key: activity for activity in ProcessingActivity.objects.all()}
    assert set(REQUIRED) <= set(activities)
    assert result.created == len(activities)
    for activity in activities.values():
        for field in PERSON_FACING:
            english, german = getattr(activity, field), getattr(activity, f"{field}_de")
            assert bool(english.strip()) == bool(german.strip()), (activity.key, field)
        # Translated, not copied (addresses and names may read the same in both).
        for field in ("purposes", "legal_basis_detail", "retention"):
            assert getattr(activity, field) != getattr(activity, f"{field}_de"), activity.key
        for field in ("purposes", "data_categories", "retention", "source"):
            assert activity.localized(field, "de").strip(), (activity.key, field)
        for language in ("en", "de"):
            text = " ".join(activity.localized(field, language) for field in PERSON_FACING)
            assert "not stated" not in text.lower() and "nicht angegeben" not in text.lower()
            assert "privacy policy names no" not in text  # internal remarks stay internal


@pytest.mark.parametrize(
    ("old", "new", "line_of", "field", "message"),
    [
        (
            "    years: 8\n",
            "    years: eight\n",
            "years: eight",
            "retention_rules > accounting-vouchers > years",
            "should be a whole number",
        ),
        (
            "    retention_rules: [payroll-accounts, accounting-vouchers]\n",
            "    retention_rules: [payroll-accounts, vouchers]\n",
            "retention_rules: [payroll-accounts, vouchers]",
            "activities > employee-data > retention_rules > item 2",
            "which the file's retention_rules do not define",
        ),
        (
            "      de: Bis Sie den Newsletter abbestellen.\n",
            "",
            "      en: Until you unsubscribe from the newsletter.",
            "activities > newsletter > retention > de",
            "is missing",
        ),
        (
            "    source:\n      en: You gave us the data when subscribing",
            "    sourse:\n      en: You gave us the data when subscribing",
            "sourse:",
            "activities > newsletter > sourse",
            "is not a field here",
        ),
        (
            "      en: Until you unsubscribe from the newsletter.\n",
            "      en: Not stated in the privacy policy.\n",
            "Not stated in the privacy policy.",
            "activities > newsletter > retention > en",
            "says 'not stated'",
        ),
        (
            "    transfer_mechanism: adequacy\n",
            "    transfer_mechanism: none\n",
            "transfer_mechanism: none",
            "recipients > hubspot > transfer_mechanism",
            "needs its mechanism",
        ),
        (
            "  - key: newsletter\n",
            "  - key: newsletter\n  key: again\n",
            "  key: again",
            "",
            "is not valid YAML",
        ),
    ],
)
def test_a_malformed_register_names_the_line_and_the_field_and_changes_nothing(
    tmp_path: Path, old: str, new: str, line_of: str, field: str, message: str
) -> None:
    _demo_systems()
    load_register()
    before = _snapshot()
    path = _broken(tmp_path, old, new)
    # The line the operator must look at: where the wrong value, or the entry lacking one, is.
    expected_line = _line_of(path, line_of)
    if message == "is missing":
        expected_line -= 1  # the field that holds the missing one
    if message == "is not valid YAML":
        expected_line = None

    with pytest.raises(CommandError) as failure:
        call_command("load_register", str(path))

    report = str(failure.value)
    assert message in report
    assert field in report
    if expected_line is not None:
        assert f"line {expected_line}, {field}" in report
    else:
        assert "line " in report
    assert "Nothing was changed." in report
    assert _snapshot() == before


def test_loading_twice_creates_nothing_new_and_keeps_a_confirmation_made_in_the_admin() -> None:
    first = load_register()
    counts = [m.objects.count() for m in (ProcessingActivity, Recipient, RetentionRule, Controller)]
    Recipient.objects.filter(key="hubspot").update(confirmed_by_controller=True)

    again = load_register()

    assert (again.created, again.updated) == (0, first.created)
    assert [
        m.objects.count() for m in (ProcessingActivity, Recipient, RetentionRule, Controller)
    ] == counts
    assert Recipient.objects.get(key="hubspot").confirmed_by_controller
    assert not Recipient.objects.get(key="mailchimp").confirmed_by_controller


def test_a_confirmation_lapses_when_the_vendor_text_changes(tmp_path: Path) -> None:
    load_register()
    Recipient.objects.update(confirmed_by_controller=True)
    path = _broken(tmp_path, "HubSpot takes part in the", "HubSpot says it takes part in the")

    load_register(path)

    assert not Recipient.objects.get(key="hubspot").confirmed_by_controller
    assert Recipient.objects.get(key="mailchimp").confirmed_by_controller


def test_activities_link_to_the_demo_systems_recipients_and_rules() -> None:
    load_register()
    assert not ProcessingActivity.objects.filter(systems__isnull=False).exists()

    _demo_systems()
    result = load_register()
    assert result.unknown_systems == ()

    def systems_of(key: str) -> set[str]:
        activity = ProcessingActivity.objects.get(key=key)
        return set(activity.systems.values_list("key", flat=True))

    def rules_of(key: str) -> set[str]:
        activity = ProcessingActivity.objects.get(key=key)
        return set(activity.retention_rules.values_list("key", flat=True))

    assert systems_of("newsletter") == {"mailchimp"}
    assert systems_of("direct-advertising") == {"mailchimp", "hubspot"}
    assert systems_of("archived-emails") == {"email-archive"}
    assert systems_of("developer-forum") == {"discourse"}
    assert systems_of("free-trial") == {"trial-signups"}
    assert systems_of("google-recaptcha") == set()
    # The linking gaps of the old register: employees have their HR system, and prospects are
    # not held under the customers' bookkeeping duty.
    assert systems_of("employee-data") == {"hr-files"}
    assert rules_of("employee-data") == {"payroll-accounts", "accounting-vouchers"}
    assert systems_of("customer-data") == {"accounting"}
    assert rules_of("customer-data") == {
        "books-and-annual-accounts",
        "accounting-vouchers",
        "business-letters",
    }
    assert rules_of("prospect-data") == set()
    assert "accounting" not in systems_of("prospect-data")
    for system in DataSystem.objects.filter(key__in=DEMO_KEYS):
        assert system.activities.exists(), system.key

    newsletter = ProcessingActivity.objects.get(key="newsletter")
    assert list(newsletter.recipients.values_list("key", flat=True)) == ["mailchimp"]
    assert set(Recipient.objects.get(key="tax-adviser").systems.values_list("key", flat=True)) == {
        "accounting",
        "hr-files",
    }


def test_loading_before_some_systems_exist_links_those_that_do() -> None:
    DataSystem.objects.create(key="mailchimp", name="Mailchimp", connector="mailchimp")
    result = load_register()
    advertising = ProcessingActivity.objects.get(key="direct-advertising")
    assert list(advertising.systems.values_list("key", flat=True)) == ["mailchimp"]
    assert "hubspot" in result.unknown_systems


def test_recipients_are_one_source_for_art19_notices() -> None:
    _demo_systems()
    load_register()
    accounting = DataSystem.objects.get(key="accounting")
    mailchimp = DataSystem.objects.get(key="mailchimp")
    discourse = DataSystem.objects.get(key="discourse")
    mailchimp.recipient_emails = (
        "agency@newsletter.example.org\nPRIVACY-NOTICES@mailchimp.example.com"
    )
    mailchimp.save()

    assert [(n.email, n.recipient_key) for n in accounting.notice_recipients()] == [
        ("datenschutz@steuerberatung-beispiel.example.com", "tax-adviser")
    ]
    assert [(n.email, n.recipient_key) for n in mailchimp.notice_recipients()] == [
        ("privacy-notices@mailchimp.example.com", "mailchimp"),
        ("agency@newsletter.example.org", None),
    ]
    assert discourse.notice_recipients() == []


@pytest.mark.parametrize(
    ("rule", "record_date", "ends"),
    [
        ("accounting-vouchers", date(2025, 3, 14), date(2033, 12, 31)),  # an invoice of 2025
        ("books-and-annual-accounts", date(2025, 6, 30), date(2035, 12, 31)),
        ("business-letters", date(2025, 1, 2), date(2031, 12, 31)),
        ("payroll-accounts", date(2025, 12, 31), date(2031, 12, 31)),
        # Vouchers whose 10-year period had not run out on 1 January 2025 get 8 years...
        ("accounting-vouchers", date(2017, 5, 1), date(2025, 12, 31)),
        ("accounting-vouchers", date(2016, 5, 1), date(2024, 12, 31)),
        # ...one whose period had already run out keeps its old end.
        ("accounting-vouchers", date(2013, 5, 1), date(2023, 12, 31)),
    ],
)
def test_a_statutory_period_ends_with_the_calendar_year_counted_from_the_record(
    rule: str, record_date: date, ends: date
) -> None:
    load_register()
    assert retention_end(RetentionRule.objects.get(key=rule), record_date) == ends


def test_the_rules_of_a_system_and_the_obligations_an_erasure_meets() -> None:
    _demo_systems()
    load_register()
    accounting = DataSystem.objects.get(key="accounting")
    assert [rule.key for rule in rules_for_system(accounting)] == [
        "books-and-annual-accounts",
        "accounting-vouchers",
        "business-letters",
    ]
    assert rules_for_system(DataSystem.objects.get(key="mailchimp")) == []
    kept = retention_obligations(accounting, on=date(2026, 11, 29))
    assert {item.until for item in kept} == {
        date(2036, 12, 31),
        date(2034, 12, 31),
        date(2032, 12, 31),
    }
    assert any("§ 147" in item.obligation or "147" in item.obligation for item in kept)
    assert retention_obligations(DataSystem.objects.get(key="discourse"), on=date(2026, 1, 1)) == []


def test_where_the_policy_keeps_longer_than_the_law_the_admin_tells_the_controller(
    admin_client,
) -> None:
    load_register()
    customers = ProcessingActivity.objects.get(key="customer-data")
    assert customers.policy_retention_years == 10
    assert {rule.key for rule in customers.rules_shorter_than_policy()} == {
        "accounting-vouchers",
        "business-letters",
    }
    assert ProcessingActivity.objects.get(key="newsletter").rules_shorter_than_policy() == []

    page = admin_client.get(f"/admin/dsar/processingactivity/{customers.pk}/change/")
    text = page.content.decode()
    assert "The privacy policy states 10 years; the law requires less for" in text
    assert "Accounting vouchers, invoices included (8)" in text
    listing = admin_client.get("/admin/dsar/processingactivity/").content.decode()
    assert "policy keeps longer than the law" in listing.lower()


def test_unconfirmed_vendor_text_is_marked_for_the_controller_in_the_admin(admin_client) -> None:
    load_register()
    listing = admin_client.get("/admin/dsar/recipient/?confirmed_by_controller__exact=0")
    text = listing.content.decode()
    assert "HubSpot, Inc." in text and "Mailchimp" in text
    assert "Steuerberatung Beispiel" not in text


def test_the_controller_is_created_once_and_names_the_supervisory_authority() -> None:
    load_register()
    load_register()
    assert Controller.objects.count() == 1
    controller = Controller.current()
    assert controller is not None
    assert controller.name == "OTRS AG"
    assert controller.contact_email == "datasecurity@otrs.com"
    assert "Hessische Beauftragte für Datenschutz" in controller.supervisory_authority
    assert controller.supervisory_authority_url == "https://datenschutz.hessen.de"


def test_an_existing_controller_record_is_updated_not_duplicated() -> None:
    Controller.objects.create(
        name="Old name",
        address="Somewhere",
        contact_email="old@example.com",
        dpo_name="Someone",
        dpo_contact="someone@example.com",
        supervisory_authority="Unknown",
    )
    load_register()
    assert Controller.objects.count() == 1
    assert Controller.objects.get().name == "OTRS AG"


def test_the_command_reports_what_it_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    total = len(read_register()["activities"])
    call_command("load_register")
    assert f"{total} activities created, 0 updated; 3 recipients, 4 retention rules" in (
        capsys.readouterr().out
    )
    call_command("load_register", str(DEFAULT_PATH))
    assert f"0 activities created, {total} updated" in capsys.readouterr().out
