"""The privacy notice of the request service itself (Art. 13): drawn from the register, in
English and German, linked from the form, every page and every email to the person, accessible."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from dsar import transitions
from dsar.register import load_register
from dsar.tokens import status_key
from tests.conftest import assert_accessible

PRIVACY = "/privacy/"


@pytest.mark.django_db
def test_the_notice_tells_in_english_and_german_how_a_request_is_handled(client: Client) -> None:
    load_register()

    english = client.get(PRIVACY).content.decode()
    german = client.get(PRIVACY, {"lang": "de"}).content.decode()

    for text in (english, german):
        assert "OTRS AG" in text and "Zimmersmühlenweg 11" in text
        assert "datasecurity@otrs.com" in text and "Robert Aumiller" in text
        assert "Hessische Beauftragte für Datenschutz" in text
    for expected in (
        "How we handle your request's data",
        "Receiving and answering your requests to exercise your rights",
        "Art. 6(1)(c) GDPR together with Art. 12 to 22 GDPR",
        "three years after the request was closed",
        "Erasure (Art. 17 GDPR)",
        "without them we cannot handle it",
        "None. The data is not transferred to a country outside the EU/EEA.",
    ):
        assert expected in english
    for expected in (
        '<html lang="de">',
        "Wie wir die Daten Ihres Antrags verarbeiten",
        "Entgegennahme und Beantwortung Ihrer Anträge",
        "Art. 6 Abs. 1 lit. c DSGVO in Verbindung mit Art. 12 bis 22 DSGVO",
        "drei Jahre nach Abschluss des Antrags",
        "Wer verantwortlich ist",
        "Keine. Die Daten werden nicht in ein Land außerhalb der EU",
    ):
        assert expected in german
    assert "Receiving and answering" not in german
    assert "DSAR_CASE_RETENTION_DAYS" not in english + german  # the internal note stays inside


@pytest.mark.django_db
def test_without_a_register_entry_the_notice_says_whom_to_ask(client: Client) -> None:
    response = client.get(PRIVACY)
    assert response.status_code == 503
    assert "This notice is being prepared" in response.content.decode()


@pytest.mark.django_db
def test_the_form_the_status_page_and_the_emails_link_to_the_notice(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    load_register()
    form = client.get(reverse("dsar:request")).content.decode()
    assert form.count(f'href="{PRIVACY}"') == 2  # beside the submit button, and in the footer

    with django_capture_on_commit_callbacks(execute=True):
        case = transitions.submit_case(
            case_type="access", email="pat@example.com", name="Pat", language="de"
        )
    status = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert f'href="{PRIVACY}"' in status

    [message] = mail.outbox
    assert f"{PRIVACY}?lang=de" in message.body
    assert "Wie wir die Daten Ihres Antrags verarbeiten:" in message.body
    html = message.alternatives[0][0]
    assert f"{PRIVACY}?lang=de" in str(html)


@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "de"])
def test_the_notice_is_accessible_in_both_languages(
    live_server, page, transactional_db: None, language: str
) -> None:
    load_register()
    page.goto(f"{live_server.url}{PRIVACY}?lang={language}")
    heading = {
        "en": "How we handle your request's data",
        "de": "Wie wir die Daten Ihres Antrags verarbeiten",
    }[language]
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert_accessible(page)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "access", "suppression"),
    [
        ("en", "Access to your personal data and a copy of it (Art. 15 GDPR)", "suppression list"),
        ("de", "Auskunft über Ihre personenbezogenen Daten und eine Kopie davon", "Sperrliste"),
    ],
)
def test_the_notice_names_the_right_of_access_and_the_suppression_list_kept_after_erasure(
    client: Client, language: str, access: str, suppression: str
) -> None:
    load_register()
    page = client.get(PRIVACY, {"lang": language}).content.decode()
    assert access in page
    kept = page.split('id="suppression-list"', 1)[1].split("</p>", 1)[0]
    assert suppression in kept
    assert "Art. 17(3)(b) and (e)" in kept or "Art. 17 Abs. 3 lit. b und e" in kept


@pytest.mark.django_db
def test_the_notice_gives_the_same_safeguard_line_as_the_report(client: Client) -> None:
    from dsar.models import ProcessingActivity
    from dsar.register import REQUEST_HANDLING
    from dsar.rights import art15_information

    load_register()
    activity = ProcessingActivity.objects.get(key=REQUEST_HANDLING)
    page = client.get(PRIVACY).content.decode()
    report = art15_information(activity, language="en", contact="privacy@example.com")
    # Nothing is transferred, and neither the notice nor the report invents a safeguard.
    assert report["transfer_safeguards"] == ""
    assert "Safeguards:" not in page and "needs a safeguard" not in page

    activity.third_country_transfers = "Yes: our email service sends from the USA."
    activity.transfer_safeguards = "Standard contractual clauses (Art. 46(2)(c) GDPR)"
    activity.save()
    page = client.get(PRIVACY).content.decode()
    report = art15_information(activity, language="en", contact="privacy@example.com")
    assert report["transfer_safeguards"] == "Standard contractual clauses (Art. 46(2)(c) GDPR)"
    assert f"Safeguards: {report['transfer_safeguards']}" in page
