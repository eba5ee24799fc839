"""Keys with ids, one per purpose: rotating SECRET_KEY or any key empties no suppression list,
voids no certificate and breaks no audit chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from dsar import keys
from dsar.models import ArtifactKind, CaseStatus, Controller, SuppressionEntry
from dsar.suppression import is_suppressed, suppress
from tests.factories import CaseFactory, SystemRunFactory, outcome_of

pytestmark = pytest.mark.django_db

ADDRESS = "Objector@Example.com"


def rotate(settings, purpose: str, new_id: str = "2027") -> None:
    ring = settings.DSAR_KEYS[purpose]
    settings.DSAR_KEYS = {**settings.DSAR_KEYS, purpose: [(new_id, f"new-{purpose}-key"), *ring]}


def test_each_purpose_has_its_own_key_so_equal_inputs_give_unrelated_values(settings) -> None:
    same = "one secret for all"
    settings.DSAR_KEYS = {
        purpose: [("k1", same)] for purpose in ("audit", "suppression", "certificate")
    }
    values = {keys.mac(purpose, "same input")[1] for purpose in keys.Purpose}
    assert len(values) == 3


def test_rotating_secret_key_keeps_the_suppression_list(settings) -> None:
    suppress(ADDRESS, reference="DSAR-2026-000001")
    settings.SECRET_KEY = "a-completely-new-secret-key-after-an-incident-0123456789"
    assert is_suppressed(ADDRESS)


def test_rotating_the_suppression_key_keeps_old_entries_and_rehashes_them_when_found(
    settings,
) -> None:
    suppress(ADDRESS, reference="DSAR-2026-000001")
    rotate(settings, "suppression")
    assert is_suppressed(" objector@example.com ")
    # One entry per address, hashed again under the current key (its enforcement and staff's
    # decisions stay with it).
    assert list(SuppressionEntry.objects.values_list("key_id", flat=True)) == ["2027"]
    assert is_suppressed(ADDRESS)
    assert not is_suppressed("someone.else@example.com")


def test_an_entry_made_with_the_old_secret_key_is_found_after_secret_key_rotation(
    settings,
) -> None:
    old_secret = settings.SECRET_KEY
    legacy = salted_hmac("dsar.suppression", ADDRESS.lower(), secret=old_secret).hexdigest()
    SuppressionEntry.objects.create(
        email_hash=legacy, key_id=keys.LEGACY_KEY_ID, reference="DSAR-2025-000009"
    )
    settings.SECRET_KEY = "a-completely-new-secret-key-after-an-incident-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    assert is_suppressed(ADDRESS)


def test_a_certificate_stays_genuine_after_rotating_secret_key_and_the_certificate_key(
    settings, client, admin_user, tmp_path: Path
) -> None:
    from dsar.deliverables.assemble import build_artifacts

    settings.MEDIA_ROOT = tmp_path
    Controller.objects.create(
        name="OTRS AG",
        address="Oberursel",
        contact_email="privacy@example.com",
        dpo_name="DPO",
        dpo_contact="dpo@example.com",
        supervisory_authority="HBDI",
    )
    case = CaseFactory(status=CaseStatus.COMPLETED, type="erasure", closed_at=timezone.now())
    SystemRunFactory(
        case=case, action="erase", status="succeeded", **outcome_of("erase", found=True)
    )
    [certificate] = build_artifacts(case)
    assert certificate.kind == ArtifactKind.CERTIFICATE_PDF
    assert certificate.checksum_key_id == "dev"

    settings.SECRET_KEY = "a-completely-new-secret-key-after-an-incident-0123456789"
    rotate(settings, "certificate")
    client.force_login(admin_user)  # sessions are signed with SECRET_KEY: sign in again
    url = reverse("admin:dsar_case_action", args=[case.pk, "verify-certificate"])
    checked = client.post(url, {"checksum": certificate.checksum}, follow=True)
    assert "Genuine" in checked.content.decode()
