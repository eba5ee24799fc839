"""/api/v1/ routes."""

from django.urls import path

from . import views

urlpatterns = [
    path("cases/", views.CaseList.as_view(), name="api-cases"),
    path("cases/<str:reference>/", views.CaseDetail.as_view(), name="api-case"),
    path(
        "cases/<str:reference>/actions/<slug:action>/",
        views.CaseAction.as_view(),
        name="api-case-action",
    ),
    path(
        "cases/<str:reference>/files/<slug:kind>/",
        views.CaseFile.as_view(),
        name="api-case-file",
    ),
]
