"""The person's download page: a one-time code first, then the case's files, each download
counted and logged. Files come from storage through this view, never from a public path."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from .. import downloads, ratelimit, transitions
from ..audit import record_refusal
from ..events import SUBJECT
from ..forms import CodeForm
from ..models import Artifact, DownloadLink

_SESSION_KEY = "dsar_download_links"


def _confirmed(request: HttpRequest, link: DownloadLink) -> bool:
    return link.pk in request.session.get(_SESSION_KEY, [])


def _audit(link: DownloadLink | None, reason: str, **data: object) -> None:
    """A refused download: an event on the link's case, or a security log line."""
    record_refusal(
        action="download_refused",
        reason=reason,
        case_id=link.case_id if link is not None else None,
        actor=SUBJECT,
        data=dict(data),
    )


def _refused(request: HttpRequest, link: DownloadLink | None) -> HttpResponse | None:
    if link is None:
        _audit(None, "unknown_token")
        return render(request, "dsar/download_refused.html", {"reason": "invalid"}, status=404)
    state = downloads.link_state(link)
    if not state.usable:
        _audit(link, state.reason)
        return render(request, "dsar/download_refused.html", {"reason": state.reason}, status=410)
    return None


@require_http_methods(["GET", "POST"])
def download_page(request: HttpRequest, token: str) -> HttpResponse:
    link = downloads.find_link(token)
    refused = _refused(request, link)
    if refused is not None or link is None:
        return refused or HttpResponse(status=404)
    form = CodeForm()
    code_sent = False
    if request.method == "POST" and "send_code" in request.POST:
        per_link = ratelimit.Limit(group="dsar.download.code", value=str(link.pk), rate="5/h")
        if ratelimit.exceeded(request, [per_link]):
            record_refusal(
                action="download_code_refused",
                reason="rate_limited",
                case_id=link.case_id,
                actor=SUBJECT,
            )
            return render(request, "dsar/rate_limited.html", status=429)
        transitions.send_download_code(link.pk)
        code_sent = True
        # The keyboard goes straight to the code box, which reads out the notice with it.
        form.fields["code"].widget.attrs.update(
            {"autofocus": True, "aria-describedby": "code-sent"}
        )
    elif request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            refusal = downloads.verify_code(link, form.cleaned_data["code"])
            if refusal is not None:
                _audit(link, refusal)
            else:
                request.session.cycle_key()
                request.session[_SESSION_KEY] = [
                    *request.session.get(_SESSION_KEY, []),
                    link.pk,
                ]
                messages.success(request, _("The code is right: here are your files."))
                return redirect("dsar:download", token=token)
            form.add_error("code", form.fields["code"].error_messages["wrong"])
    if not _confirmed(request, link):
        # The code box appears once a code was sent, not before.
        code_live = bool(
            link.code_hash and link.code_expires_at and link.code_expires_at > timezone.now()
        )
        return render(
            request,
            "dsar/download_code.html",
            {
                "form": form,
                "code_sent": code_sent,
                "ask_for_code": code_sent or code_live or request.method == "POST",
                "case": link.case,
            },
            status=400 if form.errors else 200,
        )
    artifacts = Artifact.objects.filter(case=link.case).order_by("kind")
    return render(
        request,
        "dsar/download.html",
        {"case": link.case, "artifacts": artifacts, "link": link, "token": token},
    )


@require_GET
def download_file(request: HttpRequest, token: str, kind: str) -> HttpResponseBase:
    link = downloads.find_link(token)
    refused = _refused(request, link)
    if refused is not None or link is None:
        return refused or HttpResponse(status=404)
    if not _confirmed(request, link):
        return redirect("dsar:download", token=token)
    # Bound to the link's own case: another case's files cannot be named here.
    artifact = Artifact.objects.filter(case=link.case, kind=kind).first()
    if artifact is None:
        _audit(link, "unknown_file", kind=kind[:40])
        return render(request, "dsar/download_refused.html", {"reason": "invalid"}, status=404)
    if not downloads.record_download(link, artifact):
        _audit(link, "used_up", kind=artifact.kind)
        return render(request, "dsar/download_refused.html", {"reason": "used_up"}, status=410)
    path = Path(settings.MEDIA_ROOT) / artifact.path
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=artifact.filename,
        content_type=artifact.content_type,
    )
    response["Cache-Control"] = "no-store"
    return response
