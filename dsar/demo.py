"""The first customer's systems, as DataSystem rows: used by the demo and by the tests.

The URLs of the three HTTP sandboxes and the trial database's URL variable are given by the
caller; everything else is the customer's configuration, kept as data. The sandboxes run on
this machine, so their systems are marked ``allow_private_network``, as an on-premises system
would be.
"""

from __future__ import annotations

from typing import Any

from connectors.demo_people import (
    CRM_SUBSCRIPTIONS,
    NEWSLETTER_LISTS,
    TRIAL_TABLE,
    trial_system_config,
)

from .models import DataSystem, Recipient

# The environment variable holding the CRM's token (a name, not the token).
HUBSPOT_VARIABLE = "DSAR_SECRET_HUBSPOT_TOKEN"

MANUAL_SYSTEMS: list[dict[str, Any]] = [
    {
        "key": "business-cards",
        "name": "Business cards",
        "team": "Sales",
        "instructions": {
            "export": "Search the business-card box and the sales team's card scans for the "
            "person; list every card found (name, company, what it shows).",
            "erase": "Destroy the person's business cards and delete any scans.",
            "restrict": "Mark the person's cards 'do not contact' and move them to the "
            "restricted folder.",
            "rectify": "Correct the person's details on the card scans as approved.",
            "object": "Remove the person from any mailing based on business cards.",
        },
    },
    {
        "key": "email-archive",
        "name": "Email archive",
        "team": "IT operations",
        "instructions": {
            "export": "Search the 10-year email archive for messages from and to the person; "
            "report how many were found and their date range.",
            "erase": "Emails are archived for 10 years for tax reasons: do not delete; mark "
            "the person's messages as restricted and record the archive's deletion date.",
            "restrict": "Mark the person's archived messages as restricted.",
            "rectify": "Archived emails are records of what was sent: note the correction.",
        },
    },
    {
        "key": "accounting",
        "name": "Accounting and invoices",
        "team": "Finance",
        "instructions": {
            "export": "Search the ERP and the invoice archive for the person (customer or "
            "supplier records, invoices, contracts); list what was found.",
            "erase": "Invoices, contracts and business letters are kept for 10 years for tax "
            "and commercial law: do not delete them; mark the person's records as restricted.",
            "restrict": "Mark the person's customer or supplier record as restricted.",
            "rectify": "Correct the person's customer or supplier record as approved.",
        },
    },
    {
        "key": "hr-files",
        "name": "Job applications and HR files",
        "team": "Human resources",
        "instructions": {
            "export": "Look for an application or personnel file in the person's name; "
            "list the documents found.",
            "erase": "Delete application documents older than six months after the decision; "
            "keep personnel records under their statutory retention.",
            "restrict": "Mark the person's file as restricted.",
            "rectify": "Correct the person's file as approved.",
        },
    },
]


def create_demo_systems(
    *, hubspot_url: str, mailchimp_url: str, discourse_url: str, manual: bool = True
) -> list[DataSystem]:
    """Create or update the customer's systems; running it twice changes nothing more."""
    automated: list[dict[str, Any]] = [
        {
            "key": "hubspot",
            "name": "HubSpot CRM",
            "connector": "hubspot",
            "max_concurrency": 4,
            "config": {
                "base_url": hubspot_url,
                "allow_private_network": True,
                "token_env": HUBSPOT_VARIABLE,
                "subscription_ids": list(CRM_SUBSCRIPTIONS),
            },
            "portable_categories": ["contact", "form_submissions"],
            # Logged emails, calls, meetings and notes also hold the other party's words.
            "review_categories": ["emails", "calls", "meetings", "notes"],
        },
        {
            "key": "mailchimp",
            "name": "Mailchimp newsletter",
            "connector": "mailchimp",
            "max_concurrency": 8,
            "config": {
                "base_url": mailchimp_url,
                "allow_private_network": True,
                "api_key_env": "DSAR_SECRET_MAILCHIMP_API_KEY",
                "list_ids": list(NEWSLETTER_LISTS),
            },
            "portable_categories": ["member"],
        },
        {
            "key": "discourse",
            "name": "Developer community forum",
            "connector": "discourse",
            "max_concurrency": 2,
            "config": {
                "base_url": discourse_url,
                "allow_private_network": True,
                "api_key_env": "DSAR_SECRET_DISCOURSE_API_KEY",
                "api_username": "system",
                "erase_mode": "anonymize",
            },
            "portable_categories": ["profile", "posts", "private_messages"],
            # A private message is written to someone, and often about them.
            "review_categories": ["private_messages"],
        },
        {
            "key": "trial-signups",
            "name": "Free-trial registrations",
            "connector": "sql",
            "max_concurrency": 4,
            "config": trial_system_config(url_env="DSAR_SECRET_TRIAL_DATABASE_URL"),
            "portable_categories": [TRIAL_TABLE],
        },
    ]
    rows = list(automated)
    if manual:
        rows += [
            {
                "key": spec["key"],
                "name": spec["name"],
                "connector": "manual",
                "max_concurrency": 50,
                "config": {"team": spec["team"], "instructions": spec["instructions"]},
            }
            for spec in MANUAL_SYSTEMS
        ]
    systems = []
    for row in rows:
        key = row.pop("key")
        system, _created = DataSystem.objects.update_or_create(key=key, defaults=row)
        systems.append(system)
    return systems


def confirm_recipients() -> int:
    """Mark every recipient's country and safeguard as confirmed, as the controller does in the
    admin after checking them; the demo's answers then show them."""
    return Recipient.objects.update(confirmed_by_controller=True)
