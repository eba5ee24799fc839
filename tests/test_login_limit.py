"""Limits against guessing: staff sign-ins count failures only, per user name as Django reads it
and per client address; the client address comes from trusted proxies only, for every limit."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import translation

from dsar.models import Case
from tests.test_request_form import VALID

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase"


def staff(name: str):
    return get_user_model().objects.create_user(name, password=PASSWORD, is_staff=True)


def sign_in(client: Client, username: str, password: str = PASSWORD, **headers: str):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password}, **headers
    )


def test_fifteen_colleagues_behind_one_address_signing_in_are_never_locked_out(
    settings,
) -> None:
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "10/15m", "ADMIN_LOGIN_IP_RATE": "10/15m"}
    for n in range(15):
        staff(f"colleague{n}")
    for n in range(15):
        response = sign_in(Client(REMOTE_ADDR="198.51.100.20"), f"colleague{n}")
        assert response.status_code == 302, n


def test_failed_sign_ins_lock_the_user_name_and_a_padded_or_wide_name_is_still_locked(
    settings,
) -> None:
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "3/15m"}
    staff("clerk")
    for n in range(3):
        assert sign_in(Client(REMOTE_ADDR=f"192.0.2.{n}"), "clerk", f"guess-{n}").status_code == 200
    for variant in ("clerk", "clerk ", "  clerk\t", "\uff43\uff4c\uff45\uff52\uff4b"):
        # From yet another address, with the right password: still locked.
        locked = sign_in(Client(REMOTE_ADDR="192.0.2.99"), variant)
        assert locked.status_code == 429, repr(variant)
    assert sign_in(Client(REMOTE_ADDR="192.0.2.99"), "someone-else", "x").status_code == 200


def test_failed_sign_ins_from_one_address_across_names_lock_that_address(settings) -> None:
    # An hour's window: django-ratelimit's windows are fixed (at an offset per key), and a
    # shorter one is more likely to turn over in the middle of the test.
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "10/h", "ADMIN_LOGIN_IP_RATE": "4/h"}
    staff("clerk")
    guesser = Client(REMOTE_ADDR="203.0.113.5")
    assert [sign_in(guesser, f"name{n}", "x").status_code for n in range(5)] == [
        200,
        200,
        200,
        200,
        429,
    ]
    assert sign_in(Client(REMOTE_ADDR="203.0.113.6"), "clerk").status_code == 302


@pytest.mark.parametrize(
    ("language", "heading", "advice"),
    [
        ("en", "Sign-in paused", "Try again after"),
        ("de", "Anmeldung vorübergehend gesperrt", "Versuchen Sie es nach"),
    ],
)
def test_the_lockout_page_tells_staff_when_to_try_again(
    settings, language: str, heading: str, advice: str
) -> None:
    settings.DSAR = {**settings.DSAR, "ADMIN_LOGIN_RATE": "1/15m"}
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    sign_in(client, "clerk", "wrong")
    with translation.override(language):
        page = sign_in(client, "clerk", "wrong")
    assert page.status_code == 429
    html = page.content.decode()
    assert heading in html and advice in html
    assert "wait an hour" not in html  # not the public page for people making requests


def submit_from(client: Client, n: int, **headers: str):
    return client.post(
        reverse("dsar:request"), {**VALID, "email": f"person{n}@example.com"}, **headers
    )


def test_behind_a_trusted_proxy_twenty_people_from_twenty_addresses_are_not_limited_as_one(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.DSAR = {
        **settings.DSAR,
        "RATE_PER_IP": "3/h",
        "RATE_PER_EMAIL": "100/h",
        "TRUSTED_PROXIES": ["10.0.0.0/24"],
    }
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    with django_capture_on_commit_callbacks(execute=False):
        statuses = [
            submit_from(proxy, n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 10.0.0.9").status_code
            for n in range(20)
        ]
    assert statuses == [302] * 20
    assert Case.objects.count() == 20
    # One of them, a fourth time within the hour, is limited on their own.
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(3):
            submit_from(proxy, 99, HTTP_X_FORWARDED_FOR="203.0.113.200")
        again = submit_from(proxy, 100, HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert again.status_code == 429


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.DSAR = {
        **settings.DSAR,
        "RATE_PER_IP": "3/h",
        "RATE_PER_EMAIL": "100/h",
        "TRUSTED_PROXIES": ["10.0.0.0/24"],
    }
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    direct = Client(REMOTE_ADDR="198.51.100.7")
    with django_capture_on_commit_callbacks(execute=False):
        statuses = [
            submit_from(direct, n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
            for n in range(4)
        ]
    assert statuses == [302, 302, 302, 429]
    settings.SECURE_SSL_REDIRECT = True
    faked = Client(REMOTE_ADDR="198.51.100.7").get(
        reverse("dsar:request"), HTTP_X_FORWARDED_PROTO="https"
    )
    assert faked.status_code == 301 and faked["Location"].startswith("https://")
    proxied = Client(REMOTE_ADDR="10.0.0.2").get(
        reverse("dsar:request"), HTTP_X_FORWARDED_PROTO="https"
    )
    assert proxied.status_code == 200


def test_staff_can_sign_in_while_the_cache_holding_the_limits_does_not_answer(settings) -> None:
    """Redis restarting: the sign-in limits cannot be counted, so they let staff through (and
    say so in the log) instead of answering 500; a wrong password is still refused."""
    from tests.support import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    staff("clerk")
    assert sign_in(Client(), "clerk", "wrong password").status_code == 200
    assert sign_in(Client(), "clerk").status_code == 302
