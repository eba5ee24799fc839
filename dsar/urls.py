"""The public pages' URLs."""

from django.urls import path

from .views import downloads, outbox, privacy, public

app_name = "dsar"

urlpatterns = [
    path("", public.request_form, name="request"),
    path("submitted/", public.submitted, name="submitted"),
    path("privacy/", privacy.privacy_notice, name="privacy"),
    path("verify/<str:token>/", public.verify, name="verify"),
    path("verify/<str:token>/resend/", public.resend, name="resend"),
    path("status/<str:key>/", public.status, name="status"),
    path("download/<str:token>/", downloads.download_page, name="download"),
    path("download/<str:token>/<slug:kind>/", downloads.download_file, name="download_file"),
    path("dev/outbox/", outbox.outbox, name="outbox"),
]
