"""The register of processing activities: loaded from dsar.register, idempotent, linked to the
demo systems, with statutory retention only where a statute requires it."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import call_command

from dsar.demo import create_demo_systems
from dsar.models import Controller, DataSystem, LegalBasis, ProcessingActivity
from dsar.register import ACTIVITIES, CONTROLLER, load_register

pytestmark = pytest.mark.django_db

REQUIRED = [
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

FIELDS = {
    field.name
    for field in ProcessingActivity._meta.get_fields()
    if field.concrete and not field.primary_key
}


def _demo_systems() -> None:
    create_demo_systems(
        hubspot_url="http://127.0.0.1:1",
        mailchimp_url="http://127.0.0.1:2/3.0",
        discourse_url="http://127.0.0.1:3",
    )


def test_entries_use_exactly_the_model_fields_and_known_systems() -> None:
    keys = [spec["key"] for spec in ACTIVITIES]
    assert len(keys) == len(set(keys))
    for spec in ACTIVITIES:
        assert set(spec) == FIELDS, spec["key"]
        assert spec["legal_basis"] in LegalBasis.values
        assert set(spec["systems"]) <= DEMO_KEYS, spec["key"]
        # An obligation and its length come together, or not at all.
        assert bool(spec["retention_obligation"]) == (spec["retention_years"] is not None)
    assert set(CONTROLLER) == {
        f.name for f in Controller._meta.get_fields() if f.concrete and not f.primary_key
    }


def test_loading_twice_creates_nothing_new() -> None:
    created, updated = load_register()
    assert (created, updated) == (len(ACTIVITIES), 0)
    counts = (ProcessingActivity.objects.count(), Controller.objects.count())

    assert load_register() == (0, len(ACTIVITIES))
    assert (ProcessingActivity.objects.count(), Controller.objects.count()) == counts


def test_every_required_activity_is_described() -> None:
    load_register()
    activities = {a.key: a for a in ProcessingActivity.objects.all()}
    for key in REQUIRED:
        activity = activities[key]
        assert activity.purposes.strip(), key
        assert activity.data_categories.strip(), key
        assert activity.retention.strip(), key


def test_statutory_retention_runs_ten_years_from_the_end_of_the_year() -> None:
    load_register()
    for key in ("archived-emails", "customer-data", "employee-data", "supplier-data"):
        activity = ProcessingActivity.objects.get(key=key)
        assert activity.retention_years == 10, key
        assert activity.obligation_ends(date(2026, 11, 29)) == date(2036, 12, 31), key
    archive = ProcessingActivity.objects.get(key="archived-emails")
    assert "§147 AO" in archive.retention_obligation
    assert "§257 HGB" in archive.retention_obligation
    customer = ProcessingActivity.objects.get(key="customer-data")
    assert "§147 AO" in customer.retention_obligation
    assert "§257 HGB" in customer.retention_obligation


def test_consent_based_activities_carry_no_obligation() -> None:
    load_register()
    newsletter = ProcessingActivity.objects.get(key="newsletter")
    assert newsletter.legal_basis == LegalBasis.CONSENT
    assert newsletter.retention_obligation == ""
    assert newsletter.obligation_ends(date(2026, 11, 29)) is None
    assert "unsubscribe" in newsletter.retention


def test_activities_link_to_the_demo_systems_when_they_exist() -> None:
    load_register()
    assert not ProcessingActivity.objects.filter(systems__isnull=False).exists()

    _demo_systems()
    assert load_register() == (0, len(ACTIVITIES))

    def systems_of(key: str) -> set[str]:
        activity = ProcessingActivity.objects.get(key=key)
        return set(activity.systems.values_list("key", flat=True))

    assert systems_of("newsletter") == {"mailchimp"}
    assert systems_of("direct-advertising") == {"mailchimp", "hubspot"}
    assert systems_of("archived-emails") == {"email-archive"}
    assert systems_of("developer-forum") == {"discourse"}
    assert systems_of("free-trial") == {"trial-signups"}
    assert systems_of("google-recaptcha") == set()
    # Every demo system serves at least one activity, so access answers can describe it.
    for system in DataSystem.objects.filter(key__in=DEMO_KEYS):
        assert system.activities.exists(), system.key


def test_loading_before_some_systems_exist_links_those_that_do() -> None:
    DataSystem.objects.create(key="mailchimp", name="Mailchimp", connector="mailchimp")
    load_register()
    advertising = ProcessingActivity.objects.get(key="direct-advertising")
    assert list(advertising.systems.values_list("key", flat=True)) == ["mailchimp"]


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


def test_the_command_reports_created_and_updated(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("load_register")
    assert f"{len(ACTIVITIES)} activities created, 0 updated" in capsys.readouterr().out
    call_command("load_register")
    assert f"0 activities created, {len(ACTIVITIES)} updated" in capsys.readouterr().out
