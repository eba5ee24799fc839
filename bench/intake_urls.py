"""bench/intake.py's URLs: the application's, and a bare view that does one INSERT (the
reference the public form is measured against), behind the same middleware."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_POST


@require_POST
def bare(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_bare (created_at) VALUES (now())")
    return HttpResponse(status=204)


urlpatterns = [path("bench/bare/", bare), path("", include("config.urls"))]
