"""A throwaway PostgreSQL database for a benchmark: created for the run, dropped afterwards.

    with scratch_database("postgres://postgres@127.0.0.1:5432/postgres", "dsar_bench") as url:
        ...  # url names the new, empty database

The server URL names any database the user may connect to (``postgres``); the scratch one is
created next to it under a name with the process id, so two runs never share one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{os.getpid()}"
    admin_url = with_database(server_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
