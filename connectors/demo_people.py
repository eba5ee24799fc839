"""The demo people: one source of truth for every sandbox and for the trial sign-up database.

- ada.lovelace@example.com is known to every system, with enough data to page through.
- ben.newsletter@example.org is known only to the newsletter.
- nora.nobody@example.com is known to none.
- hana.heavy@example.com is the heavy user: 30,000 forum posts and 300 private messages, ~5,000
  CRM property changes, 500 CRM notes and 400 other engagements (emails, calls, meetings,
  tasks), 40 form submissions and a long newsletter history. Sandboxes generate her bulk on the
  fly from the counts here, so nothing holds it all in memory.
- Ada also has a second address (``ADA_SECONDARY``), held as a secondary email by the forum and
  in HubSpot's ``hs_additional_emails``, and a membership of a third audience (Events) that the
  demo settings do not name, whose required merge field ADDRESS she never filled in.
- olga.archived@example.com is held only in an archived HubSpot contact; Ben's membership of
  Product updates is archived in Mailchimp.
- grace.hopper@example.net and charles.babbage@example.net are other people in the same systems,
  so tests can check that nothing about them leaks into Ada's results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# Mailchimp audiences and HubSpot subscription types of the demo controller.
NEWSLETTER_LISTS: dict[str, str] = {
    "a1b2c3d4e5": "Newsletter",
    "f6e5d4c3b2": "Product updates",
    "e7e8e9e0e1": "Events",
}
# The audiences the demo settings name; Events is found only by the account-wide search.
CONFIGURED_LISTS = ("a1b2c3d4e5", "f6e5d4c3b2")
# Merge fields an audience requires (Mailchimp refuses an update that leaves one empty).
REQUIRED_MERGE_FIELDS: dict[str, tuple[str, ...]] = {"e7e8e9e0e1": ("ADDRESS",)}
CRM_SUBSCRIPTIONS: dict[str, str] = {"5491001": "Newsletter", "5491002": "Product updates"}
ADA_SECONDARY = "ada@analytical-engines.example"

EPOCH = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class DemoPerson:
    """One person and what each demo system holds about them (counts drive generated bulk)."""

    email: str
    first_name: str
    last_name: str
    phone: str = ""
    company: str = ""
    job_title: str = ""
    country: str = ""
    # HubSpot
    in_crm: bool = False
    crm_history: int = 0
    crm_notes: int = 0
    crm_emails: int = 0
    crm_calls: int = 0
    crm_meetings: int = 0
    crm_tasks: int = 0
    crm_form_submissions: int = 0
    crm_archived: bool = False
    crm_subscriptions: tuple[str, ...] = ()
    # Mailchimp
    newsletter_lists: tuple[str, ...] = ()
    newsletter_activity: int = 0
    newsletter_tags: tuple[str, ...] = ()
    newsletter_notes: int = 0
    newsletter_events: int = 0
    newsletter_archived: tuple[str, ...] = ()
    # Discourse
    forum_username: str = ""
    forum_posts: int = 0
    forum_messages: int = 0
    # Addresses held next to the primary one (HubSpot hs_additional_emails, forum secondaries)
    other_emails: tuple[str, ...] = ()
    # Trial sign-up database
    trial_signed_up_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


FIRST_LIST, SECOND_LIST, EVENTS_LIST = NEWSLETTER_LISTS
NEWSLETTER_SUB, PRODUCT_SUB = CRM_SUBSCRIPTIONS

ADA = DemoPerson(
    email="ada.lovelace@example.com",
    first_name="Ada",
    last_name="Lovelace",
    phone="+44 20 7946 0018",
    company="Analytical Engines Ltd",
    job_title="Mathematician",
    country="United Kingdom",
    in_crm=True,
    crm_history=6,
    crm_notes=3,
    crm_emails=2,
    crm_calls=1,
    crm_meetings=1,
    crm_tasks=1,
    crm_form_submissions=2,
    crm_subscriptions=(NEWSLETTER_SUB, PRODUCT_SUB),
    newsletter_lists=(FIRST_LIST, SECOND_LIST, EVENTS_LIST),
    newsletter_activity=12,
    newsletter_tags=("customer", "webinar-2025"),
    newsletter_notes=2,
    newsletter_events=2,
    forum_username="ada_lovelace",
    forum_posts=45,
    forum_messages=6,
    other_emails=(ADA_SECONDARY,),
    trial_signed_up_at=dt.datetime(2025, 3, 14, 10, 30, tzinfo=dt.UTC),
)
BEN = DemoPerson(
    email="ben.newsletter@example.org",
    first_name="Ben",
    last_name="Brandt",
    country="Germany",
    newsletter_lists=(FIRST_LIST, SECOND_LIST),
    newsletter_activity=5,
    newsletter_tags=("prospect",),
    newsletter_archived=(SECOND_LIST,),
)
NORA = DemoPerson(email="nora.nobody@example.com", first_name="Nora", last_name="Nobody")
HANA = DemoPerson(
    email="hana.heavy@example.com",
    first_name="Hana",
    last_name="Heavy",
    phone="+81 3 5555 0142",
    company="Heavy Industries KK",
    job_title="Head of IT",
    country="Japan",
    in_crm=True,
    crm_history=5000,
    crm_notes=500,
    crm_emails=200,
    crm_calls=100,
    crm_meetings=50,
    crm_tasks=50,
    crm_form_submissions=40,
    crm_subscriptions=(NEWSLETTER_SUB,),
    newsletter_lists=(FIRST_LIST,),
    newsletter_activity=5000,
    newsletter_tags=("customer",),
    newsletter_notes=1,
    forum_username="hana_heavy",
    forum_posts=30_000,
    forum_messages=300,
    trial_signed_up_at=dt.datetime(2023, 6, 1, 8, 0, tzinfo=dt.UTC),
)
GRACE = DemoPerson(
    email="grace.hopper@example.net",
    first_name="Grace",
    last_name="Hopper",
    phone="+1 202 555 0199",
    company="Compiler Corp",
    job_title="Rear Admiral",
    country="United States",
    in_crm=True,
    crm_history=3,
    crm_notes=2,
    crm_subscriptions=(NEWSLETTER_SUB,),
    newsletter_lists=(FIRST_LIST, SECOND_LIST),
    newsletter_activity=4,
    newsletter_tags=("partner",),
    forum_username="grace_hopper",
    forum_posts=12,
    trial_signed_up_at=dt.datetime(2025, 1, 9, 15, 0, tzinfo=dt.UTC),
)
CHARLES = DemoPerson(
    email="charles.babbage@example.net",
    first_name="Charles",
    last_name="Babbage",
    phone="+44 20 7946 0991",
    company="Difference Engines plc",
    job_title="Inventor",
    country="United Kingdom",
    in_crm=True,
    crm_notes=1,
    newsletter_lists=(SECOND_LIST,),
    newsletter_activity=3,
    forum_username="charles_babbage",
    forum_posts=20,
    trial_signed_up_at=dt.datetime(2024, 11, 2, 12, 0, tzinfo=dt.UTC),
)

OLGA = DemoPerson(
    email="olga.archived@example.com",
    first_name="Olga",
    last_name="Archer",
    company="Old Leads GmbH",
    country="Austria",
    in_crm=True,
    crm_archived=True,
    crm_notes=1,
)

DEMO_PEOPLE: tuple[DemoPerson, ...] = (ADA, BEN, NORA, HANA, GRACE, CHARLES, OLGA)


def at(index: int) -> dt.datetime:
    """A deterministic moment for the ``index``-th generated item (one every 17 minutes)."""
    return EPOCH + dt.timedelta(minutes=17 * index)


# --- The free-trial sign-up database ---------------------------------------------------------

TRIAL_TABLE = "trial_signups"


def trial_signups_table(metadata: sa.MetaData, *, schema: str | None = None) -> sa.Table:
    """The sign-up table, with the fields the controller's policy names for the free trial."""
    return sa.Table(
        TRIAL_TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("first_name", sa.String(100)),
        sa.Column("surname", sa.String(100)),
        sa.Column("country", sa.String(100)),
        sa.Column("telephone", sa.String(64)),
        sa.Column("organization", sa.String(200)),
        sa.Column("job_title", sa.String(200)),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "processing_restricted",
            sa.Boolean,
            nullable=False,
            default=False,
            server_default=sa.false(),
        ),
        schema=schema,
    )


def create_trial_database(url: str, *, schema: str | None = None) -> int:
    """Create the sign-up table if it is missing and add the demo rows it lacks.

    Running it again adds nothing; returns how many rows it added.
    """
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        table = trial_signups_table(sa.MetaData(), schema=schema)
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
            present = set(connection.execute(sa.select(table.c.email)).scalars())
            rows = [
                {
                    "email": person.email,
                    "first_name": person.first_name,
                    "surname": person.last_name,
                    "country": person.country,
                    "telephone": person.phone,
                    "organization": person.company,
                    "job_title": person.job_title,
                    "signed_up_at": person.trial_signed_up_at,
                }
                for person in DEMO_PEOPLE
                if person.trial_signed_up_at and person.email not in present
            ]
            if rows:
                connection.execute(sa.insert(table), rows)
        return len(rows)
    finally:
        engine.dispose()


def trial_system_config(*, url_env: str, schema: str | None = None) -> dict[str, Any]:
    """Settings for the SQL connector that drive the demo sign-up table."""
    columns = [
        "email",
        "first_name",
        "surname",
        "country",
        "telephone",
        "organization",
        "job_title",
        "signed_up_at",
    ]
    config: dict[str, Any] = {
        "url_env": url_env,
        "mapping": [
            {
                "table": TRIAL_TABLE,
                "identity_column": "email",
                # A sign-up is useless without its person, so erasure removes the whole row.
                "columns": dict.fromkeys(columns, "delete_row"),
                "restrict_column": "processing_restricted",
                "fields": {
                    "email": "email",
                    "first_name": "first_name",
                    "last_name": "surname",
                    "country": "country",
                    "phone": "telephone",
                    "company": "organization",
                    "job_title": "job_title",
                },
            }
        ],
    }
    if schema:
        config["schema"] = schema
    return config
