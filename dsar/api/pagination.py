"""The API's pages: ``limit`` and ``offset`` as DRF's, within bounds the database can count to.

DRF takes any positive integer; a ``limit`` or ``offset`` past PostgreSQL's bigint made the
query fail with a 500. A page holds 50 results unless ``limit`` asks otherwise, and at most
``MAX_LIMIT`` (the ``next`` link leads on); an ``offset`` past ``MAX_OFFSET`` gets an empty
page (no history is that long)."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_LIMIT = 200
MAX_OFFSET = 10**12


class BoundedPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
