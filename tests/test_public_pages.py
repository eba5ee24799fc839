"""What the person's pages say: the reference and the link's lifetime after sending, their own
words for the state of the request, and a code box only once a code was sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from dsar import downloads
from dsar.models import Case, CaseStatus
from dsar.tokens import issue_verification, status_key
from dsar.views.public import PERSON_STATES
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def test_the_page_after_sending_gives_the_reference_and_the_links_lifetime(
    client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("dsar:request"),
            {"request_type": "access", "email": "ada@example.com", "name": "Ada Lovelace"},
            follow=True,
        )
    html = response.content.decode()
    assert Case.objects.get().reference in html
    assert "The link works for 72 hours." in html
    assert "limited time" not in html


def test_the_person_reads_their_own_words_where_the_team_has_its_own() -> None:
    for status in CaseStatus.values:
        if status == CaseStatus.IN_PROGRESS:
            continue  # "In progress" says the same to both
        assert str(PERSON_STATES[status].name) != str(CaseStatus(status).label)
    assert PERSON_STATES[CaseStatus.AWAITING_MANUAL] == PERSON_STATES[CaseStatus.IN_PROGRESS]


@pytest.mark.parametrize(
    ("status", "shown", "hidden"),
    [
        (CaseStatus.AWAITING_MANUAL, "In progress", "Awaiting manual work"),
        (CaseStatus.AWAITING_INFORMATION, "Waiting for your answer", "Waiting for the person"),
        (CaseStatus.CANCELLED, "Withdrawn", "Answer due by"),
    ],
)
def test_the_status_page_speaks_to_the_person(client, status, shown, hidden) -> None:
    case = CaseFactory(
        status=status,
        verified_at=timezone.now(),
        closed_at=timezone.now() if status == CaseStatus.CANCELLED else None,
    )
    html = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert shown in html
    assert hidden not in html


def test_after_an_answer_the_page_thanks_for_the_answer_not_for_confirming(client) -> None:
    case = CaseFactory(status=CaseStatus.AWAITING_INFORMATION, verified_at=timezone.now())
    url = reverse("dsar:status", args=[status_key(case)])

    empty = client.post(url, {"answer": ""})
    assert empty.status_code == 400
    assert "There is a problem with your answer" in empty.content.decode()

    html = client.post(url, {"answer": "Analytical Engines Ltd"}, follow=True).content.decode()
    assert "Thank you: we have your answer." in html
    assert "checking your answer" in html
    assert "Thank you for confirming" not in html


def test_an_erasure_is_explained_before_it_is_confirmed(client) -> None:
    erasure = CaseFactory(type="erasure")
    access = CaseFactory(type="access")
    erasure_page = client.get(reverse("dsar:verify", args=[issue_verification(erasure)]))
    access_page = client.get(reverse("dsar:verify", args=[issue_verification(access)]))
    assert "Deletion cannot be undone." in erasure_page.content.decode()
    assert "Deletion cannot be undone." not in access_page.content.decode()


def test_the_download_page_shows_the_code_box_only_once_a_code_was_sent(
    client, django_capture_on_commit_callbacks
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    url = reverse("dsar:download", args=[downloads.issue_link(case)])

    first = client.get(url).content.decode()
    assert "Email me a code" in first and 'name="code"' not in first

    # The code is made and emailed by the outbox once the request commits, as a worker would.
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(url, {"send_code": "1"}).content.decode()
    assert 'name="code"' in sent and "autofocus" in sent
    assert 'class="notice" role="status"' in sent
    [message] = mail.outbox
    assert message.to == [case.email]
    # Coming back later, the code box is there, for the code already sent.
    assert 'name="code"' in client.get(url).content.decode()


def test_an_overdue_case_says_we_are_late_not_minus_days_left(client) -> None:
    case = CaseFactory(status=CaseStatus.IN_PROGRESS, verified_at=timezone.now())
    Case.objects.filter(pk=case.pk).update(due_date=timezone.localdate() - dt.timedelta(days=3))
    html = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert "overdue: we are late with our answer" in html
    assert "-3" not in html and "days left" not in html


def test_the_working_state_does_not_claim_every_system_of_ours(client) -> None:
    case = CaseFactory(status=CaseStatus.IN_PROGRESS, verified_at=timezone.now())
    html = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert "in each system that may hold data about you" in html
    assert "in all our systems" not in html


def test_the_finished_page_speaks_of_itself_not_of_an_email(client) -> None:
    from dsar.models import CaseType, RunStatus
    from tests.factories import DataSystemFactory, SystemRunFactory, outcome_of

    case = CaseFactory(
        type=CaseType.ERASURE,
        status=CaseStatus.COMPLETED,
        verified_at=timezone.now(),
        closed_at=timezone.now(),
    )
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(name="Forum"),
        action="erase",
        status=RunStatus.SUCCEEDED,
        **outcome_of("erase", found=True, kind="anonymised", remains=["posts"]),
    )
    html = client.get(reverse("dsar:status", args=[status_key(case)])).content.decode()
    assert "this page and the certificate say what remains and why" in html
    assert "this email" not in html
