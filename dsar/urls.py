"""The public pages' URLs."""

from django.urls import path

from .views import outbox, public

app_name = "dsar"

urlpatterns = [
    path("", public.request_form, name="request"),
    path("submitted/", public.submitted, name="submitted"),
    path("verify/<str:token>/", public.verify, name="verify"),
    path("verify/<str:token>/resend/", public.resend, name="resend"),
    path("status/<str:key>/", public.status, name="status"),
    path("dev/outbox/", outbox.outbox, name="outbox"),
]
