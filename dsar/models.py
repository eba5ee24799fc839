"""The domain of DSAR Desk: cases, their verifications and their append-only event chain.

A case's ``status`` is changed only by the functions in ``dsar.transitions``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
    }
)


class Regime(models.TextChoices):
    GDPR = "gdpr", "GDPR"


class ObjectionScope(models.TextChoices):
    DIRECT_MARKETING = "direct_marketing", _("Direct marketing")
    OTHER = "other", _("Other processing")


class RejectionReason(models.TextChoices):
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed", _("Your identity could not be confirmed")
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("The request is manifestly unfounded")
    EXCESSIVE = "excessive", _("The request is excessive or repetitive")
    NO_DATA_HELD = "no_data_held", _("We hold no personal data about you")
    OBJECTION_NOT_UPHELD = "objection_not_upheld", _("Your objection was not upheld")
    OTHER = "other", _("Another reason, explained below")


# Art. 12(5): the controller must be able to show why; these need a note.
REASONS_NEEDING_A_NOTE = frozenset(
    {RejectionReason.MANIFESTLY_UNFOUNDED, RejectionReason.EXCESSIVE, RejectionReason.OTHER}
)


class ReferenceCounter(models.Model):
    """The last reference number handed out in a year (``DSAR-2026-000123``)."""

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
    email = models.EmailField(_("email address"), db_index=True)
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
        indexes = [models.Index(fields=["status", "due_date"])]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        permissions = [
            ("work_case", _("Can work cases: assign, ask, retry, complete manual tasks, cancel")),
            ("decide_case", _("Can approve, reject and extend cases")),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def days_left(self, today: dt.date | None = None) -> int:
        return (self.due_date - (today or timezone.localdate())).days


class Verification(models.Model):
    """A single-use, expiring email-verification token; only its SHA-256 is stored."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="verifications")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

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

    def compute_hash(self) -> str:
        payload: dict[str, Any] = {
            "case": self.case_id,
            "seq": self.seq,
            "actor": self.actor,
            "action": self.action,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
            "prev": self.prev_hash,
        }
        canonical = json.dumps(
            payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class DataSystem(models.Model):
    """One place that holds personal data, and the connector that drives it.

    ``config`` holds the connector's settings; secrets are never stored here, only the names of
    the environment variables that hold them (e.g. ``"token_env": "HUBSPOT_TOKEN"``).
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

    class Meta:
        ordering = ["name"]
        verbose_name = _("data system")
        verbose_name_plural = _("data systems")

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    WAITING_MANUAL = "waiting_manual", _("Waiting for manual work")


class SystemRun(models.Model):
    """One system's part of one case: claimed by one worker at a time, retried, recorded."""

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
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # A claim lapses at this time, so that a run whose worker died can be taken over.
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # What happened, in plain numbers and words (records found, erased, kept and why); never
    # the records themselves, which live in result_file.
    summary = models.JSONField(default=dict, blank=True)
    result_file = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["case_id", "system__name"]
        constraints = [
            models.UniqueConstraint(fields=["case", "system", "action"], name="run_unique")
        ]
        indexes = [models.Index(fields=["system", "status"])]
        verbose_name = _("system run")
        verbose_name_plural = _("system runs")

    def __str__(self) -> str:
        return f"{self.case.reference}: {self.system.name} ({self.action})"


class ManualTaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class ManualTask(models.Model):
    """Work a person must do where no API exists; the case waits for it."""

    run = models.OneToOneField(SystemRun, on_delete=models.CASCADE, related_name="manual_task")
    team = models.CharField(_("team"), max_length=120)
    instructions = models.TextField(_("instructions"))
    status = models.CharField(
        _("status"), max_length=10, choices=ManualTaskStatus.choices, default=ManualTaskStatus.OPEN
    )
    outcome = models.TextField(_("what was found or done"), blank=True)
    data_found = models.BooleanField(
        _("personal data of the person was found"),
        default=False,
        help_text=_("Tick when the system holds data about the person (for the access answer)."),
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


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent (Art. 6(1)(a))")
    CONTRACT = "contract", _("Contract (Art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c))")
    VITAL_INTERESTS = "vital_interests", _("Vital interests (Art. 6(1)(d))")
    PUBLIC_TASK = "public_task", _("Public task (Art. 6(1)(e))")
    LEGITIMATE_INTERESTS = "legitimate_interests", _("Legitimate interests (Art. 6(1)(f))")


class RetentionStart(models.TextChoices):
    """From when a statutory retention period runs (German HGB/AO: end of the calendar year)."""

    END_OF_YEAR = "end_of_year", _("end of the calendar year of the request")
    REQUEST = "request", _("the date of the request")


class ProcessingActivity(models.Model):
    """One entry of the register of processing activities (Art. 30), as the privacy policy
    describes it; the Art. 15 information of an access answer is drawn from here."""

    key = models.SlugField(_("key"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    purposes = models.TextField(_("purposes"))
    legal_basis = models.CharField(_("legal basis"), max_length=30, choices=LegalBasis.choices)
    legal_basis_detail = models.TextField(_("legal basis in detail"), blank=True)
    data_categories = models.TextField(_("categories of personal data"))
    recipients = models.TextField(_("recipients"), blank=True)
    third_country_transfers = models.TextField(_("transfers to third countries"), blank=True)
    transfer_safeguards = models.TextField(_("safeguards for those transfers"), blank=True)
    retention = models.TextField(_("retention period or criteria"))
    source = models.TextField(_("source of the data"), blank=True)
    automated_decision_making = models.TextField(
        _("automated decision-making"), default="No automated decision-making or profiling."
    )
    # Where a statute requires keeping the data, erasure restricts it instead until the
    # obligation ends: ``retention_years`` after ``retention_start``.
    retention_obligation = models.TextField(_("statutory obligation to keep the data"), blank=True)
    retention_years = models.PositiveSmallIntegerField(
        _("years the obligation lasts"), null=True, blank=True
    )
    retention_start = models.CharField(
        _("the years count from"),
        max_length=20,
        choices=RetentionStart.choices,
        default=RetentionStart.END_OF_YEAR,
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

    def obligation_ends(self, on: dt.date) -> dt.date | None:
        """The day the statutory obligation to keep data ends, for a request on ``on``."""
        if not self.retention_obligation or not self.retention_years:
            return None
        start = (
            dt.date(on.year, 12, 31) if self.retention_start == RetentionStart.END_OF_YEAR else on
        )
        try:
            return start.replace(year=start.year + self.retention_years)
        except ValueError:  # 29 February into a common year
            return start.replace(year=start.year + self.retention_years, day=28)


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
    def current(cls) -> Controller | None:
        return cls.objects.order_by("pk").first()


class RectificationField(models.TextChoices):
    """The fields a correction can name; each connector maps them to its own."""

    EMAIL = "email", _("Email address")
    FIRST_NAME = "first_name", _("First name")
    LAST_NAME = "last_name", _("Last name")
    PHONE = "phone", _("Telephone number")
    COMPANY = "company", _("Organisation")
    JOB_TITLE = "job_title", _("Job title")
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

    @property
    def value_to_write(self) -> str | None:
        if self.decision == ChangeDecision.ACCEPTED:
            return self.proposed_value
        if self.decision == ChangeDecision.EDITED:
            return self.final_value
        return None


class SuppressionEntry(models.Model):
    """An address that objected to direct marketing: never (re)subscribed through the product.

    Only a keyed hash of the address is kept, so the list holds no readable email addresses
    and survives the purge of closed cases.
    """

    email_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("added"), default=timezone.now)
    reference = models.CharField(_("case reference"), max_length=32)

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
