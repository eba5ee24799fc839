"""The domain of DSAR Desk: cases, their verifications and their append-only event chain.

A case's ``status`` is changed only by the functions in ``dsar.transitions``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import ExpressionWrapper, Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .keys import Purpose, mac


class CaseType(models.TextChoices):
    ACCESS = "access", _("Access")
    PORTABILITY = "portability", _("Portability")
    RECTIFICATION = "rectification", _("Rectification")
    ERASURE = "erasure", _("Erasure")
    RESTRICTION = "restriction", _("Restriction")
    OBJECTION = "objection", _("Objection")


class CaseStatus(models.TextChoices):
    AWAITING_VERIFICATION = "awaiting_verification", _("Awaiting verification")
    VERIFIED = "verified", _("Verified")
    IN_REVIEW = "in_review", _("In review")
    AWAITING_INFORMATION = "awaiting_information", _("Waiting for the person's answer")
    IN_PROGRESS = "in_progress", _("In progress")
    AWAITING_MANUAL = "awaiting_manual", _("Awaiting manual work")
    # Art. 15(4): the answer holds records that may carry other people's data; staff review and
    # redact them before it is built and sent.
    THIRD_PARTY_REVIEW = "third_party_review", _("Third-party data to review")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


OPEN_STATUSES = frozenset(
    {
        CaseStatus.AWAITING_VERIFICATION,
        CaseStatus.VERIFIED,
        CaseStatus.IN_REVIEW,
        CaseStatus.AWAITING_INFORMATION,
        CaseStatus.IN_PROGRESS,
        CaseStatus.AWAITING_MANUAL,
        CaseStatus.THIRD_PARTY_REVIEW,
    }
)


class Regime(models.TextChoices):
    GDPR = "gdpr", "GDPR"


class ObjectionScope(models.TextChoices):
    DIRECT_MARKETING = "direct_marketing", _("Direct marketing")
    OTHER = "other", _("Other processing")


class RejectionReason(models.TextChoices):
    """Why a request is refused (Art. 12(4)). Holding no data about the person is no reason to
    refuse: the systems say so, and the answer tells the person we hold nothing about them."""

    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed", _("Your identity could not be confirmed")
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("The request is manifestly unfounded")
    EXCESSIVE = "excessive", _("The request is excessive or repetitive")
    OBJECTION_NOT_UPHELD = "objection_not_upheld", _("Your objection was not upheld")
    OTHER = "other", _("Another reason, explained below")


# Art. 12(5): the controller must be able to show why; these need a note.
REASONS_NEEDING_A_NOTE = frozenset(
    {RejectionReason.MANIFESTLY_UNFOUNDED, RejectionReason.EXCESSIVE, RejectionReason.OTHER}
)


# True for a closed case: the queue sorts open cases first. The states are sorted, so that the
# SQL is the same in every process (a frozenset's order depends on the hash seed) and the
# queue's ORDER BY matches the expression of its index.
CLOSED_FIRST_LAST = ExpressionWrapper(
    ~Q(status__in=sorted(status.value for status in OPEN_STATUSES)),
    output_field=models.BooleanField(),
)


class ReferenceCounter(models.Model):
    """The last reference number handed out in a year (``DSAR-2026-000123``); only SQLite
    counts here, PostgreSQL uses a sequence per year (``dsar.references``)."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("reference counter")
        verbose_name_plural = _("reference counters")

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Case(models.Model):
    """One data-subject request, from the public form to its answer."""

    reference = models.CharField(_("reference"), max_length=32, unique=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(_("request type"), max_length=20, choices=CaseType.choices)
    regime = models.CharField(
        _("regime"), max_length=10, choices=Regime.choices, default=Regime.GDPR
    )
    status = models.CharField(
        _("status"),
        max_length=30,
        choices=CaseStatus.choices,
        default=CaseStatus.AWAITING_VERIFICATION,
    )
    # Every lookup by address is case-insensitive (``email__iexact``), served by the
    # ``case_email_upper`` index below: a plain index on the column would only cost each new
    # case's INSERT.
    email = models.EmailField(_("email address"))
    name = models.CharField(_("name"), max_length=200)
    customer_number = models.CharField(_("customer number"), max_length=64, blank=True)
    forum_username = models.CharField(_("forum user name"), max_length=64, blank=True)
    # What the subject told us beyond their identity: the correction they ask for, their
    # objection's scope and reasons. Keys are fixed by dsar.forms.RequestForm.
    details = models.JSONField(_("request details"), default=dict, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    due_date = models.DateField(_("due date"))
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # Art. 12(3): once, within the first month, by up to two months, with reasons.
    extension_months = models.PositiveSmallIntegerField(_("extended by (months)"), default=0)
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    # How the identity was confirmed: by the email link, or asserted by a trusted integration.
    verification_method = models.CharField(
        _("identity confirmed by"), max_length=80, default="email", blank=True
    )
    # Set for requests made through the OpenDSR API: their id, and where to report status.
    external_id = models.UUIDField(_("OpenDSR request id"), null=True, blank=True, unique=True)
    callback_urls = models.JSONField(_("status callback URLs"), default=list, blank=True)
    # When the personal details of this closed case were purged (its record stays).
    purged_at = models.DateTimeField(_("personal details purged"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name=_("assigned to"),
    )

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            # The queue's default order (open cases first, then by due date): the admin's
            # first page is read from this index, whatever the number of closed cases.
            models.Index(CLOSED_FIRST_LAST, "due_date", "id", name="case_queue_order"),
            # Search by a whole email address, as the admin's search asks (UPPER(email) = …);
            # partial input uses the trigram indexes of migration 0021 on PostgreSQL.
            models.Index(Upper("email"), name="case_email_upper"),
            # Intake per month and type over the last year, read from the index alone.
            models.Index(fields=["received_at", "type"], name="case_received_at"),
        ]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        permissions = [
            ("work_case", _("Can work cases: assign, ask, retry, complete manual tasks, cancel")),
            ("decide_case", _("Can approve, reject and extend cases")),
            ("assert_identity", _("Can assert that a person's identity was verified")),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def days_left(self, today: dt.date | None = None) -> int:
        return (self.due_date - (today or timezone.localdate())).days


class ClosingCount(models.Model):
    """How many cases of a type completed in a month took a given time, to the tenth of a day,
    and whether on time: the dashboard reads its medians, percentiles and on-time shares from
    these counts (``dsar.dashboard``), so that its cost does not grow with the cases.

    ``dsar.closings.count_closing`` adds one, in the transaction that completes the case.
    """

    type = models.CharField(_("request type"), max_length=20, choices=CaseType.choices)
    month = models.DateField(_("month completed"))  # its first day, in the controller's zone
    tenths = models.PositiveIntegerField(_("days to close, in tenths"))
    on_time = models.BooleanField(_("on time"))
    count = models.PositiveIntegerField(_("cases"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["type", "month", "tenths", "on_time"], name="closing_count_unique"
            )
        ]
        verbose_name = _("closing count")
        verbose_name_plural = _("closing counts")

    def __str__(self) -> str:
        return f"{self.type} {self.month:%Y-%m} {self.tenths / 10} d: {self.count}"


class Verification(models.Model):
    """A single-use, expiring email-verification token; only its SHA-256 is stored."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="verifications")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # A staff resend revokes the earlier link, so one verification token is live at a time.
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("verification")
        verbose_name_plural = _("verifications")

    def __str__(self) -> str:
        return f"verification of {self.case_id}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an Event."""


GENESIS_HASH = "0" * 64


class Event(models.Model):
    """One step in a case's audit trail. Append-only; each row carries the hash of the one before.

    The hash is an HMAC with the audit key that ``key_id`` names (``dsar.keys``), a key kept out
    of the database, so someone who can write to the database cannot forge a chain that checks.

    Events never hold the subject's personal details (name, email, free text), so that purging
    a closed case's details leaves the chain intact and verifiable.
    """

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="events", verbose_name=_("case")
    )
    seq = models.PositiveIntegerField(_("number"))
    actor = models.CharField(_("who"), max_length=150)
    action = models.CharField(_("what"), max_length=64)
    data = models.JSONField(_("data"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # The audit key this event's hash was made with; empty for events hashed without a key.
    key_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["case_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="event_seq_unique")]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("events are append-only")

    def canonical(self) -> str:
        """The event's content as its hash covers it, key id included."""
        payload: dict[str, Any] = {
            "case": self.case_id,
            "seq": self.seq,
            "actor": self.actor,
            "action": self.action,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
            "prev": self.prev_hash,
            "key": self.key_id,
        }
        return json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))

    def compute_hash(self) -> str:
        """HMAC-SHA256 of the content with the audit key ``key_id`` names; raises
        ``dsar.keys.UnknownKey`` when no such key is configured."""
        return mac(Purpose.AUDIT, self.canonical(), key_id=self.key_id)[1]


class DataSystem(models.Model):
    """One place that holds personal data, and the connector that drives it.

    ``config`` holds the connector's settings; secrets are never stored here, only the names of
    the environment variables that hold them (e.g. ``"token_env": "DSAR_SECRET_HUBSPOT_TOKEN"``).
    """

    key = models.SlugField(_("key"), unique=True)
    name = models.CharField(_("name"), max_length=120)
    connector = models.CharField(_("connector"), max_length=40)
    config = models.JSONField(_("connector settings"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    max_concurrency = models.PositiveSmallIntegerField(
        _("parallel runs at most"),
        default=4,
        help_text=_("How many cases may talk to this system at once (its rate limit)."),
    )
    description = models.TextField(_("description"), blank=True)
    recipient_emails = models.TextField(
        _("recipients to notify"),
        blank=True,
        help_text=_(
            "One address a line: who receives data from this system and must be told of a "
            "rectification, erasure or restriction (Art. 19 GDPR)."
        ),
    )
    # A litigation or investigation hold: nothing in this system is erased before this day.
    legal_hold_until = models.DateField(_("legal hold until"), null=True, blank=True)
    legal_hold_reason = models.TextField(
        _("legal hold"), blank=True, help_text=_("Why data here must be kept (Art. 17(3)(e)).")
    )
    portable_categories = models.JSONField(
        _("categories the person provided"),
        default=list,
        blank=True,
        help_text=_("Export categories holding data the person gave us (for portability)."),
    )
    review_categories = models.JSONField(
        _("categories that may hold other people's data"),
        default=list,
        blank=True,
        help_text=_(
            "Export categories such as private messages, logged emails, calls or notes: their "
            "records wait for staff review before an access answer is sent (Art. 15(4) GDPR)."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("data system")
        verbose_name_plural = _("data systems")

    def __str__(self) -> str:
        return self.name

    def notice_recipients(self) -> list[NoticeAddress]:
        """Who must be told of a rectification, erasure or restriction here (Art. 19): each
        Recipient of this system with a notice address, then any address still listed in
        ``recipient_emails``; each address once."""
        addresses: dict[str, NoticeAddress] = {}
        for recipient in self.recipients.exclude(notice_email="").order_by("name"):
            email = recipient.notice_email.strip()
            addresses.setdefault(email.lower(), NoticeAddress(recipient.name, email, recipient.key))
        for line in self.recipient_emails.splitlines():
            email = line.strip()
            if email:
                addresses.setdefault(email.lower(), NoticeAddress(email, email, None))
        return list(addresses.values())


@dataclass(frozen=True)
class NoticeAddress:
    """One address an Art. 19 notice goes to; ``recipient_key`` is None for an address that
    comes from the system's plain list rather than from a Recipient."""

    name: str
    email: str
    recipient_key: str | None


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    WAITING_MANUAL = "waiting_manual", _("Waiting for manual work")


class OutcomeKind(models.TextChoices):
    """What happened in one system: the closed vocabulary of ``connectors.base.OutcomeKind``,
    which every document, email and status line reads."""

    EXPORTED = "exported", _("exported")
    ERASED = "erased", _("erased")
    ANONYMISED = "anonymised", _("anonymised")
    RETAINED = "retained", _("kept under a legal obligation")
    RESTRICTED = "restricted", _("restricted")
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
    CORRECTED = "corrected", _("corrected")
    NOT_HELD = "not_held", _("no data held")
    NOT_USED = "not_used_for_this_purpose", _("held, not used for this purpose")
    REFUSED = "refused_by_system", _("refused by the system")
    FAILED = "failed", _("failed")


class SystemRun(models.Model):
    """One system's part of one case: claimed by one worker at a time, retried, recorded.

    The row is the record of pending work: a PENDING run is due once ``not_before`` has passed
    (a wait for a rate limit, a backoff or a free slot), and ``queued_at`` says when a task was
    last published for it, so that the sweeper can publish again what the broker lost.
    """

    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="runs", verbose_name=_("case")
    )
    system = models.ForeignKey(
        DataSystem, on_delete=models.PROTECT, related_name="runs", verbose_name=_("system")
    )
    action = models.CharField(_("action"), max_length=20)
    status = models.CharField(
        _("status"), max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    # Attempts that reached the system, each recorded (RunAttempt) before its result is known.
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Attempts in a row that failed without progress (progress starts the count again); only
    # these count towards giving up.
    failures = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # A claim lapses at this time, so that a run whose worker died can be taken over.
    lease_until = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # Where a resumable export stands: the connector's cursor, the bytes of the result file
    # written up to it, and the records counted so far.
    cursor = models.JSONField(default=dict, blank=True)
    # The outcome in the closed vocabulary, and its particulars (``Outcome.as_json`` plus what
    # the app adds: retained records with their obligation and end, the attempts' history).
    outcome = models.CharField(_("outcome"), max_length=32, choices=OutcomeKind.choices, blank=True)
    outcome_data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # The records themselves (an export's), never in the database.
    result_file = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["case_id", "system__name"]
        constraints = [
            models.UniqueConstraint(fields=["case", "system", "action"], name="run_unique")
        ]
        indexes = [
            models.Index(fields=["system", "status"]),
            models.Index(fields=["status", "not_before"], name="run_due"),
        ]
        verbose_name = _("system run")
        verbose_name_plural = _("system runs")

    def __str__(self) -> str:
        return f"{self.case.reference}: {self.system.name} ({self.action})"

    @property
    def found(self) -> bool:
        """Whether the system holds (or held) anything about the person."""
        return bool(self.outcome) and self.outcome not in (
            OutcomeKind.NOT_HELD,
            OutcomeKind.FAILED,
        )

    @property
    def counts(self) -> dict[str, int]:
        counts = self.outcome_data.get("details", {}).get("counts") or {}
        return {str(k): int(v) for k, v in counts.items()}

    @property
    def retained(self) -> list[dict[str, str]]:
        return list(self.outcome_data.get("retained") or [])

    @property
    def changed(self) -> list[str]:
        return [str(item) for item in self.outcome_data.get("changed") or []]

    @property
    def outcome_summary(self) -> str:
        return str(self.outcome_data.get("summary", ""))


class AttemptState(models.TextChoices):
    IN_FLIGHT = "in_flight", _("in flight")
    SUCCEEDED = "succeeded", _("succeeded")
    PROGRESSED = "progressed", _("made progress, continues")
    WAITED = "waited", _("waited for a rate limit")
    FAILED = "failed", _("failed")
    INTERRUPTED = "interrupted", _("interrupted (the worker stopped)")


class RunAttempt(models.Model):
    """One attempt of a run at its system, written before the system is called, so that an
    attempt cut short by a crash is known: an erasure whose worker died after the system
    performed it is reported as done in that attempt, confirmed by the next."""

    run = models.ForeignKey(SystemRun, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    state = models.CharField(
        max_length=20, choices=AttemptState.choices, default=AttemptState.IN_FLIGHT
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, choices=OutcomeKind.choices, blank=True)
    error = models.TextField(blank=True)
    # The writes the connector was about to send, each committed before it was sent.
    writes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["run_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="attempt_number_unique")
        ]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")

    def __str__(self) -> str:
        return f"{self.run_id} #{self.number} {self.state}"


class ManualTaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class ManualTask(models.Model):
    """Work a person must do where no API exists; the case waits for it.

    Staff record a structured result in the outcome vocabulary (what was found, what was done,
    what is kept under which legal duty for records of which year), attach what they found
    (files and records, which go into the person's export), and write two kinds of text: a note
    *to the person*, which the person's documents show, and an *internal* note, which no
    document ever shows.
    """

    run = models.OneToOneField(SystemRun, on_delete=models.CASCADE, related_name="manual_task")
    team = models.CharField(_("team"), max_length=120)
    instructions = models.TextField(_("instructions"))
    status = models.CharField(
        _("status"), max_length=10, choices=ManualTaskStatus.choices, default=ManualTaskStatus.OPEN
    )
    result = models.CharField(_("result"), max_length=32, choices=OutcomeKind.choices, blank=True)
    data_found = models.BooleanField(
        _("personal data of the person was found"),
        default=False,
        help_text=_("Tick when the system holds data about the person (for the access answer)."),
    )
    categories = models.TextField(
        _("categories of data found"),
        blank=True,
        help_text=_("One a line, e.g. “business card”, “invoices”. The person reads these."),
    )
    kept_records = models.CharField(
        _("records kept"),
        max_length=200,
        blank=True,
        help_text=_("Which records are kept under the legal duty, e.g. “2 invoices”."),
    )
    record_year = models.PositiveSmallIntegerField(
        _("year the kept records were made"), null=True, blank=True
    )
    retention_rule = models.ForeignKey(
        "RetentionRule",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("legal duty that keeps them"),
    )
    note_to_person = models.TextField(
        _("note to the person"),
        blank=True,
        help_text=_(
            "Shown in the person's documents, word for word: write it in the person's language."
        ),
    )
    internal_note = models.TextField(
        _("internal note"),
        blank=True,
        help_text=_("For the team only; never shown to the person."),
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("completed by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("manual task")
        verbose_name_plural = _("manual tasks")

    def __str__(self) -> str:
        return f"{self.run.case.reference}: {self.run.system.name} ({self.team})"

    @property
    def category_list(self) -> list[str]:
        return [line.strip() for line in self.categories.splitlines() if line.strip()]


class ManualRecord(models.Model):
    """A record staff found by hand (a business card's fields, an archived email's headers):
    part of the person's export like any system's records."""

    task = models.ForeignKey(ManualTask, on_delete=models.CASCADE, related_name="records")
    category = models.CharField(_("category"), max_length=100)
    data = models.JSONField(_("fields"), default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task_id", "pk"]
        verbose_name = _("record found by hand")
        verbose_name_plural = _("records found by hand")

    def __str__(self) -> str:
        return f"{self.category} ({self.task_id})"


class ManualAttachment(models.Model):
    """A file staff found or made by hand (a photographed business card, an archived email):
    checked for type and size, kept with the case's other files and purged with them, and part
    of the person's export with its checksum in the manifest."""

    task = models.ForeignKey(ManualTask, on_delete=models.CASCADE, related_name="attachments")
    category = models.CharField(_("category"), max_length=100)
    path = models.CharField(max_length=300)
    filename = models.CharField(_("file name"), max_length=150)
    content_type = models.CharField(max_length=80)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["task_id", "pk"]
        verbose_name = _("file found by hand")
        verbose_name_plural = _("files found by hand")

    def __str__(self) -> str:
        return self.filename


class Redaction(models.Model):
    """Staff's decision on one record that may hold other people's data (Art. 15(4) GDPR):
    the whole record withheld, or some of its fields replaced by a redacted text.

    The run's result file is never changed: the record is named by its line in the file (and
    the SHA-256 of that line, so a redaction never applies to another record), and the export
    ZIP and the report apply the redaction when they are built.
    """

    run = models.ForeignKey(SystemRun, on_delete=models.CASCADE, related_name="redactions")
    line = models.PositiveIntegerField(_("line in the result file"))
    line_sha256 = models.CharField(max_length=64)
    category = models.CharField(_("category"), max_length=100)
    withheld = models.BooleanField(_("whole record withheld"), default=False)
    # Each redacted field: {"path": [keys from the record's top], "value": the text shown}.
    fields = models.JSONField(_("redacted fields"), default=list, blank=True)
    reason = models.TextField(_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("redacted by"),
    )
    created_at = models.DateTimeField(_("redacted"), default=timezone.now)

    class Meta:
        ordering = ["run_id", "line"]
        constraints = [
            models.UniqueConstraint(fields=["run", "line"], name="one_redaction_per_record")
        ]
        verbose_name = _("redaction")
        verbose_name_plural = _("redactions")

    def __str__(self) -> str:
        return f"{self.run_id}:{self.line}"


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent (Art. 6(1)(a))")
    CONTRACT = "contract", _("Contract (Art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c))")
    VITAL_INTERESTS = "vital_interests", _("Vital interests (Art. 6(1)(d))")
    PUBLIC_TASK = "public_task", _("Public task (Art. 6(1)(e))")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests (Art. 6(1)(f))")


class RecipientRole(models.TextChoices):
    PROCESSOR = "processor", _("processor (Art. 28)")
    CONTROLLER = "controller", _("controller in its own right")
    JOINT_CONTROLLER = "joint_controller", _("joint controller (Art. 26)")
    PUBLIC_AUTHORITY = "public_authority", _("public authority")


class TransferMechanism(models.TextChoices):
    """The ground in Chapter V GDPR for a transfer to a third country."""

    NONE = "none", _("no third-country transfer")
    ADEQUACY = "adequacy", _("adequacy decision (Art. 45)")
    SCC = "scc", _("standard contractual clauses (Art. 46(2)(c))")
    BCR = "bcr", _("binding corporate rules (Art. 47)")
    DEROGATION = "derogation", _("derogation for a specific situation (Art. 49)")
    UNKNOWN = "unknown", _("not yet known")


class Recipient(models.Model):
    """Someone who receives personal data from the controller's systems: named in the Art. 15
    answer with its country and the safeguard of any third-country transfer, and told of
    corrections, erasures and restrictions (Art. 19).

    What a vendor publishes about itself (its country, its transfer mechanism) reaches a person
    only once the controller has confirmed it (``confirmed_by_controller``).
    """

    key = models.SlugField(_("key"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=20, choices=RecipientRole.choices)
    country_code = models.CharField(
        _("country (ISO 3166 code)"), max_length=2, help_text=_("For example DE, IE or US.")
    )
    country = models.CharField(_("country (English)"), max_length=100)
    country_de = models.CharField(_("country (German)"), max_length=100)
    third_country = models.BooleanField(
        _("outside the EU/EEA"),
        default=False,
        help_text=_("A third country in the sense of Chapter V GDPR."),
    )
    transfer_mechanism = models.CharField(
        _("transfer mechanism"),
        max_length=20,
        choices=TransferMechanism.choices,
        default=TransferMechanism.NONE,
    )
    safeguard = models.TextField(_("safeguard, as told to a person (English)"), blank=True)
    safeguard_de = models.TextField(_("safeguard, as told to a person (German)"), blank=True)
    notice_email = models.EmailField(
        _("address for notices (Art. 19)"),
        blank=True,
        help_text=_("Where corrections, erasures and restrictions are reported."),
    )
    confirmed_by_controller = models.BooleanField(
        _("confirmed by the controller"),
        default=False,
        help_text=_(
            "Until this is ticked, the country and safeguard are shown to staff only: a person's "
            "answer says the information is being confirmed."
        ),
    )
    basis_of_text = models.TextField(
        _("where the text comes from (internal)"),
        blank=True,
        help_text=_("For staff only: e.g. the vendor's data processing agreement."),
    )
    systems = models.ManyToManyField(
        DataSystem,
        related_name="recipients",
        blank=True,
        verbose_name=_("receives data from"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")

    def __str__(self) -> str:
        return self.name

    def localized(self, field: str, language: str) -> str:
        return _localized(self, field, language)


class RetentionRule(models.Model):
    """A statutory period for keeping a kind of record (Art. 17(3)(b) GDPR): so many years,
    counted from the end of the calendar year of the record's own date (§147(4) AO, §257(5) HGB).

    Where a statute shortened a period, ``former_years`` and ``changed_on`` keep the old one: a
    record whose old period had run out before the change keeps that end, any other gets the new
    period (the rule of Art. 97 §19a(2) EGAO for accounting vouchers).
    """

    key = models.SlugField(_("key"), unique=True)
    name = models.CharField(_("name (English)"), max_length=200)
    name_de = models.CharField(_("name (German)"), max_length=200)
    citation = models.CharField(_("statute (English)"), max_length=300)
    citation_de = models.CharField(_("statute (German)"), max_length=300)
    years = models.PositiveSmallIntegerField(_("years"))
    from_end_of_year = models.BooleanField(
        _("counts from the end of the calendar year"),
        default=True,
        help_text=_("Otherwise from the record's own date."),
    )
    former_years = models.PositiveSmallIntegerField(
        _("years before the last change"), null=True, blank=True
    )
    changed_on = models.DateField(_("changed by statute on"), null=True, blank=True)
    open_assessment_extends = models.BooleanField(
        _("does not end while a tax assessment is open"),
        default=False,
        help_text=_(
            "§147(3) sentence 5 AO: the record matters for a tax not yet finally assessed."
        ),
    )
    note = models.TextField(_("note (English)"), blank=True)
    note_de = models.TextField(_("note (German)"), blank=True)

    class Meta:
        ordering = ["-years", "key"]
        verbose_name = _("statutory retention rule")
        verbose_name_plural = _("statutory retention rules")

    def __str__(self) -> str:
        return f"{self.name} ({self.years})"

    def localized(self, field: str, language: str) -> str:
        return _localized(self, field, language)

    def ends_on(self, record_date: dt.date) -> dt.date:
        """The last day the record must be kept; from the next day it may be erased (unless a
        tax assessment it matters for is still open, see ``open_assessment_extends``)."""
        end = self._end(record_date, self.years)
        if self.former_years and self.changed_on:
            former_end = self._end(record_date, self.former_years)
            if former_end < self.changed_on:  # it had run out under the former law
                return former_end
        return end

    def _end(self, record_date: dt.date, years: int) -> dt.date:
        if self.from_end_of_year:
            return dt.date(record_date.year + years, 12, 31)
        try:
            return record_date.replace(year=record_date.year + years)
        except ValueError:  # 29 February into a common year
            return record_date.replace(year=record_date.year + years, day=28)


def _localized(obj: models.Model, field: str, language: str) -> str:
    """The German text of ``field`` for German, where one is recorded; else the English."""
    if language.startswith("de"):
        german = getattr(obj, f"{field}_de", "")
        if german:
            return str(german)
    return str(getattr(obj, field))


class ProcessingActivity(models.Model):
    """One entry of the register of processing activities (Art. 30), in English and German; the
    Art. 15 information of an access answer and the Art. 13 notices are drawn from here.

    The German text of a field ``x`` is ``x_de``. ``internal_note`` is for staff only.
    """

    key = models.SlugField(_("key"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_de = models.CharField(_("name (German)"), max_length=200, blank=True)
    purposes = models.TextField(_("purposes"))
    purposes_de = models.TextField(_("purposes (German)"), blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=30, choices=LegalBasis.choices)
    legal_basis_detail = models.TextField(_("legal basis in detail"), blank=True)
    legal_basis_detail_de = models.TextField(_("legal basis in detail (German)"), blank=True)
    data_categories = models.TextField(_("categories of personal data"))
    data_categories_de = models.TextField(_("categories of personal data (German)"), blank=True)
    recipient_categories = models.TextField(_("recipients or their categories"), blank=True)
    recipient_categories_de = models.TextField(
        _("recipients or their categories (German)"), blank=True
    )
    recipients = models.ManyToManyField(
        Recipient,
        related_name="activities",
        blank=True,
        verbose_name=_("named recipients"),
    )
    third_country_transfers = models.TextField(_("transfers to third countries"), blank=True)
    third_country_transfers_de = models.TextField(
        _("transfers to third countries (German)"), blank=True
    )
    transfer_safeguards = models.TextField(_("safeguards for those transfers"), blank=True)
    transfer_safeguards_de = models.TextField(
        _("safeguards for those transfers (German)"), blank=True
    )
    retention = models.TextField(_("retention period or criteria"))
    retention_de = models.TextField(_("retention period or criteria (German)"), blank=True)
    retention_rules = models.ManyToManyField(
        RetentionRule,
        related_name="activities",
        blank=True,
        verbose_name=_("statutory retention rules"),
        help_text=_("What a statute obliges the controller to keep; erasure restricts it instead."),
    )
    policy_retention_years = models.PositiveSmallIntegerField(
        _("years the privacy policy states"),
        null=True,
        blank=True,
        help_text=_("The controller's own period, where its privacy policy names one."),
    )
    source = models.TextField(_("source of the data"), blank=True)
    source_de = models.TextField(_("source of the data (German)"), blank=True)
    automated_decision_making = models.TextField(
        _("automated decision-making"), default="No automated decision-making or profiling."
    )
    automated_decision_making_de = models.TextField(
        _("automated decision-making (German)"), blank=True
    )
    provision_requirement = models.TextField(
        _("must the person provide the data, and what if not (Art. 13(2)(e))"), blank=True
    )
    provision_requirement_de = models.TextField(
        _("must the person provide the data, and what if not (German)"), blank=True
    )
    internal_note = models.TextField(
        _("internal note"), blank=True, help_text=_("For staff only; never shown to a person.")
    )
    systems = models.ManyToManyField(
        DataSystem, related_name="activities", blank=True, verbose_name=_("systems")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("processing activity")
        verbose_name_plural = _("register of processing activities")

    def __str__(self) -> str:
        return self.name

    def localized(self, field: str, language: str) -> str:
        return _localized(self, field, language)

    def rules_shorter_than_policy(self) -> list[RetentionRule]:
        """The statutory rules whose period is shorter than the one the privacy policy states:
        the controller keeps these records longer than the law asks, and should say why or
        change the policy (Art. 5(1)(e))."""
        if self.policy_retention_years is None:
            return []
        return [
            rule for rule in self.retention_rules.all() if rule.years < self.policy_retention_years
        ]


class Controller(models.Model):
    """Who answers the requests: one editable record, used by every letter."""

    name = models.CharField(_("name"), max_length=200)
    address = models.TextField(_("address"))
    contact_email = models.EmailField(_("privacy contact address"))
    dpo_name = models.CharField(_("data-protection officer"), max_length=200)
    dpo_contact = models.TextField(_("data-protection officer's contact"))
    supervisory_authority = models.TextField(_("supervisory authority (name and address)"))
    supervisory_authority_url = models.URLField(_("supervisory authority's website"), blank=True)

    class Meta:
        verbose_name = _("controller")
        verbose_name_plural = _("controllers")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> Controller:
        """The one controller every page, email and document speaks for; the first use seeds
        it from the settings (DSAR_CONTROLLER_NAME, DSAR_CONTROLLER_CONTACT) until staff or
        ``load_register`` fill it in."""
        controller = cls.objects.order_by("pk").first()
        if controller is None:
            controller, _created = cls.objects.get_or_create(
                pk=1,
                defaults={
                    "name": settings.DSAR["CONTROLLER_NAME"],
                    "contact_email": settings.DSAR["CONTROLLER_CONTACT"],
                    "address": "",
                    "dpo_name": "",
                    "dpo_contact": "",
                    "supervisory_authority": "",
                },
            )
        return controller


class RectificationField(models.TextChoices):
    """The fields a correction can name; each connector maps them to its own."""

    EMAIL = "email", _("Email address")
    FIRST_NAME = "first_name", _("First name")
    LAST_NAME = "last_name", _("Last name")
    PHONE = "phone", _("Telephone number")
    COMPANY = "company", _("Organisation")
    JOB_TITLE = "job_title", _("Job title")
    STREET = "street", _("Street and house number")
    POSTAL_CODE = "postal_code", _("Postal code")
    CITY = "city", _("Town or city")
    COUNTRY = "country", _("Country")


class ChangeDecision(models.TextChoices):
    PENDING = "pending", _("To decide")
    ACCEPTED = "accepted", _("Accepted as proposed")
    EDITED = "edited", _("Accepted with an edit")
    REFUSED = "refused", _("Refused")


class RectificationChange(models.Model):
    """One field of a correction, as staff read it from the request and decided on it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(_("field"), max_length=20, choices=RectificationField.choices)
    proposed_value = models.CharField(_("proposed value"), max_length=300)
    decision = models.CharField(
        _("decision"), max_length=10, choices=ChangeDecision.choices, default=ChangeDecision.PENDING
    )
    final_value = models.CharField(
        _("value to write"), max_length=300, blank=True, help_text=_("Only for an edit.")
    )
    reason = models.TextField(_("reason"), blank=True, help_text=_("Required when refusing."))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "field"], name="one_change_per_field")
        ]
        verbose_name = _("field to correct")
        verbose_name_plural = _("fields to correct")

    def __str__(self) -> str:
        return f"{self.case.reference}: {self.field}"

    def clean(self) -> None:
        """A decision is complete when it is saved, not only when the case is approved."""
        from django.core.exceptions import ValidationError

        if self.decision == ChangeDecision.EDITED and not self.final_value.strip():
            raise ValidationError({"final_value": _("Give the value to write, as you edited it.")})
        if self.decision == ChangeDecision.REFUSED and not self.reason.strip():
            raise ValidationError(
                {"reason": _("Give the reason for refusing; the person reads it.")}
            )

    @property
    def value_to_write(self) -> str | None:
        if self.decision == ChangeDecision.ACCEPTED:
            return self.proposed_value
        if self.decision == ChangeDecision.EDITED:
            return self.final_value
        return None


class SuppressionEntry(models.Model):
    """An address that objected to direct marketing (Art. 21(3)): never subscribed again by
    anyone but the person, in any system (``dsar.suppression``).

    A keyed hash of the address finds the entry; the address itself is kept too, because the
    marketing systems can only be checked and blocked by it. It is the minimum needed to keep
    the objection effective, kept under Art. 17(3)(b) and (e) and Art. 5(2): it survives the
    purge of the closed case and an erasure. Entries made before the address was kept hold
    only the hash; they block new subscriptions through the product but cannot be checked in
    the marketing systems.
    """

    email_hash = models.CharField(max_length=64, unique=True)
    # The suppression key the hash was made with (dsar.keys).
    key_id = models.CharField(max_length=32)
    email = models.EmailField(_("email address"), blank=True)
    created_at = models.DateTimeField(_("added"), default=timezone.now)
    reference = models.CharField(_("case reference"), max_length=32)
    # A marketing system showed the person's own new opt-in; staff confirm it or not.
    consent_found_at = models.DateTimeField(
        _("new opt-in by the person found"), null=True, blank=True
    )
    consent_decided_at = models.DateTimeField(
        _("new opt-in decided by staff"), null=True, blank=True
    )
    # Staff confirmed the person's new consent: the objection no longer applies.
    lifted_at = models.DateTimeField(_("ended by new consent"), null=True, blank=True)

    class Meta:
        verbose_name = _("suppression list entry")
        verbose_name_plural = _("suppression list")

    def __str__(self) -> str:
        return f"{self.reference} ({self.created_at:%Y-%m-%d})"


class ArtifactKind(models.TextChoices):
    EXPORT_ZIP = "export_zip", _("Export (ZIP)")
    REPORT_PDF = "report_pdf", _("Report (PDF)")
    CERTIFICATE_PDF = "certificate_pdf", _("Deletion certificate (PDF)")
    CONFIRMATION_PDF = "confirmation_pdf", _("Confirmation (PDF)")


class Artifact(models.Model):
    """A deliverable file of a case, kept in storage (never a public path) until it expires."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="artifacts")
    kind = models.CharField(_("kind"), max_length=20, choices=ArtifactKind.choices)
    path = models.CharField(max_length=300)
    filename = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(max_length=80)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    # The certificate's keyed checksum over the facts it states, for later verification.
    checksum = models.CharField(_("certificate checksum"), max_length=64, blank=True)
    # The certificate key the checksum was made with (dsar.keys).
    checksum_key_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    downloads = models.PositiveIntegerField(_("downloads"), default=0)

    class Meta:
        ordering = ["case_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind"], name="one_artifact_per_kind")
        ]
        verbose_name = _("deliverable")
        verbose_name_plural = _("deliverables")

    def __str__(self) -> str:
        return self.filename


class DownloadLink(models.Model):
    """The person's way to their files: an unguessable token (stored hashed) bound to the case,
    expiring, limited in uses, opened with a one-time code sent to their email."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="download_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    max_downloads = models.PositiveIntegerField(default=10)
    downloads = models.PositiveIntegerField(default=0)
    code_hash = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("download link")
        verbose_name_plural = _("download links")

    def __str__(self) -> str:
        return f"download link of {self.case_id}"


class ApiScope(models.TextChoices):
    READ = "read_cases", _("Read cases")
    CREATE = "create_cases", _("Create cases")
    ACT = "act_on_cases", _("Act on cases")


class ApiToken(models.Model):
    """A key for the REST API, held by a service account or a member of staff.

    Only the key's SHA-256 is stored; the key is shown once, when the token is created.
    """

    name = models.CharField(_("name"), max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("acts as"),
    )
    prefix = models.CharField(_("key begins with"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    trusted_identity = models.BooleanField(
        _("may assert a verified identity"),
        default=False,
        help_text=_(
            "Cases it creates with identity_verified=true skip the email check; the case "
            "records that the identity was asserted by this integration."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class DeliveryState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED_TRANSIENT = "failed_transient", _("Not delivered yet, retrying")
    FAILED_PERMANENT = "failed_permanent", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


# States in which a delivery still needs staff to look at it.
FAILED_DELIVERY_STATES = frozenset({DeliveryState.FAILED_TRANSIENT, DeliveryState.FAILED_PERMANENT})


class EmailDelivery(models.Model):
    """One email the product sends, tracked from queued to sent (or failed), so that nothing
    fails silently and a retry re-sends the same message.

    The message is rendered once, when the delivery is created (with any one-time token in it),
    and kept encrypted (``dsar.outbox``) only until it is sent; after that only its metadata
    stays. A staff resend is a new delivery.
    """

    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="deliveries", null=True, blank=True
    )
    kind = models.CharField(_("kind"), max_length=40)
    # The recipient when it is not the person (Art. 19 recipients, staff): never the person's
    # own address, which is read from the case and purged with it.
    to_other = models.CharField(_("sent to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=300)
    sealed = models.BinaryField(_("encrypted message"), blank=True, default=b"")
    state = models.CharField(
        _("state"), max_length=20, choices=DeliveryState.choices, default=DeliveryState.QUEUED
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    provider_message_id = models.CharField(
        _("provider's message id"), max_length=200, blank=True, db_index=True
    )
    provider_status = models.CharField(_("provider's last report"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # The one-time secrets the message carries, revoked when it is superseded.
    verification = models.ForeignKey(
        Verification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    download_link = models.ForeignKey(
        "DownloadLink", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("failure acknowledged"), null=True, blank=True)
    # What the composer needs beyond the case (a run for an Art. 19 notice, days left...).
    args = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "not_before"], name="delivery_due")]
        verbose_name = _("email delivery")
        verbose_name_plural = _("email deliveries")

    def __str__(self) -> str:
        return f"{self.kind} ({self.get_state_display()})"

    @property
    def needs_attention(self) -> bool:
        return self.state in FAILED_DELIVERY_STATES and self.acknowledged_at is None


class JobKind(models.TextChoices):
    DELIVERABLES = "deliverables", _("Build the files and send the answer")
    REBUILD = "rebuild", _("Build the files again")
    CALLBACK = "callback", _("Status callback")
    DELETE_FILES = "delete_files", _("Delete the case's files")


class JobState(models.TextChoices):
    DUE = "due", _("Due")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    """A piece of work a transition asked for, other than a system run or an email: written in
    the same transaction as the transition, so a lost broker message loses nothing; the
    sweeper publishes what is due and not taken."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    # What makes two jobs the same one (e.g. the callback's URL index and status).
    key = models.CharField(max_length=100, blank=True)
    args = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.DUE)
    attempts = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["case", "kind", "key"], name="job_unique")]
        indexes = [models.Index(fields=["state", "not_before"], name="job_due")]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.kind} of {self.case_id} ({self.state})"
