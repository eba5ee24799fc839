"""The example nginx configuration (docker/nginx/dsar.conf.template) works: run on loopback with a
self-signed certificate in front of gunicorn in production mode, it proxies HTTPS, and Django sees
the X-Forwarded-Proto, the host and, through X-Forwarded-For from the trusted proxy, each
client's own address for the rate limits."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.support import RedisServer, WebProcess, free_port, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "docker" / "nginx" / "dsar.conf.template"
HOST = "dsar.test"


@dataclass
class Stack:
    web: WebProcess
    https_port: int
    http_port: int
    tls: ssl.SSLContext

    def client(self, source_address: str) -> httpx.Client:
        """A browser on the given loopback address, talking to nginx over HTTPS."""
        transport = httpx.HTTPTransport(local_address=source_address, verify=self.tls)
        return httpx.Client(
            transport=transport,
            base_url=f"https://127.0.0.1:{self.https_port}",
            headers={"Host": HOST},
            timeout=30,
        )


def fill_in(template: str, values: dict[str, str]) -> str:
    """What the nginx image's envsubst step does with the variables compose defines."""
    filled = re.sub(r"\$\{((?:DSAR|NGINX)_\w+)\}", lambda m: values[m.group(1)], template)
    assert "${" not in filled
    return filled


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}"),
            *("-addext", f"subjectAltName=DNS:{HOST},IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None or shutil.which("openssl") is None:
        pytest.skip("nginx and openssl are not installed (Debian packages nginx, openssl)")
    tmp = tmp_path_factory.mktemp("proxy")
    cert, key = make_certificate(tmp)
    https_port, http_port = free_port(), free_port()

    redis = RedisServer()
    redis.start()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DSAR_ENV": "production",
            "SECRET_KEY": "x" * 50,
            "ALLOWED_HOSTS": HOST,
            "SITE_URL": f"https://{HOST}",
            "CSRF_TRUSTED_ORIGINS": f"https://{HOST}:{https_port}",
            "EMAIL_URL": "smtp://127.0.0.1:2525",
            "REDIS_URL": redis.url,
            # The pages used here need no database; nothing listens on this port.
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/dsar",
            "DSAR_VAR_DIR": str(tmp / "var"),
            # nginx runs on this machine: only its forwarded headers are believed.
            "DSAR_TRUSTED_PROXIES": "127.0.0.1",
            **{
                f"DSAR_{purpose}_KEYS": f"2026:{purpose.lower()}-" + "k" * 40
                for purpose in ("AUDIT", "SUPPRESSION", "CERTIFICATE")
            },
            "DSAR_RATE_PER_IP": "1/h",
        }
    )
    # The public pages' own static files (the admin's and the API docs' take a minute to compress).
    subprocess.run(
        [
            *(sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"),
            *("-i", "admin", "-i", "rest_framework", "-i", "drf_spectacular_sidecar"),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    web = WebProcess(env=env, log=tmp / "web.log")
    web.start()

    site = fill_in(
        TEMPLATE.read_text(),
        {
            "DSAR_UPSTREAM": f"127.0.0.1:{web.port}",
            "DSAR_SERVER_NAME": HOST,
            "NGINX_HTTP_PORT": f"127.0.0.1:{http_port}",
            "NGINX_HTTPS_PORT": f"127.0.0.1:{https_port}",
            "DSAR_TLS_CERTIFICATE": str(cert),
            "DSAR_TLS_CERTIFICATE_KEY": str(key),
        },
    )
    (tmp / "dsar.conf").write_text(site)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    (tmp / "nginx.conf").write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
{temp_paths}
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    include {tmp / "dsar.conf"};
}}
"""
    )
    proxy = subprocess.Popen(
        [nginx, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(https_port, process=proxy)
        tls = ssl.create_default_context(cafile=str(cert))
        yield Stack(web=web, https_port=https_port, http_port=http_port, tls=tls)
    finally:
        stop_process(proxy)
        web.stop()
        redis.stop()


def test_https_through_the_proxy_reaches_django_as_secure_for_the_public_host(
    stack: Stack,
) -> None:
    with stack.client("127.0.0.1") as browser:
        response = browser.get("/")
    # Not redirected to https (Django saw X-Forwarded-Proto), not refused (it saw the host).
    assert response.status_code == 200
    # Django sends HSTS only on requests it considers secure.
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Preloading is the operator's choice (SECURE_HSTS_PRELOAD), off by default.
    assert "preload" not in response.headers["Strict-Transport-Security"]
    assert "Secure" in response.headers["Set-Cookie"]


def test_without_the_proxy_the_same_request_is_sent_to_https(stack: Stack) -> None:
    response = httpx.get(f"{stack.web.url}/", headers={"Host": HOST}, timeout=30)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{HOST}/"


def test_plain_http_at_the_proxy_is_redirected_to_https(stack: Stack) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{stack.http_port}/status/x/", headers={"Host": HOST}, timeout=30
    )
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{HOST}/status/x/"


def test_the_rate_limit_counts_each_client_behind_the_proxy_on_its_own(stack: Stack) -> None:
    def submit(browser: httpx.Client) -> int:
        form = browser.get("/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, form.text[:500]
        response = browser.post(
            "/",
            data={"csrfmiddlewaretoken": token.group(1), "email": "not-an-address"},
            headers={"Origin": f"https://{HOST}:{stack.https_port}"},
        )
        return response.status_code

    with stack.client("127.0.0.2") as first, stack.client("127.0.0.3") as second:
        # DSAR_RATE_PER_IP=1/h: the first form (invalid, so nothing is saved) is answered,
        # the second from the same person is refused, and another person is not affected.
        assert submit(first) == 400
        assert submit(first) == 429
        assert submit(second) == 400
    access_log = stack.web.log.read_text()
    assert "client=127.0.0.2" in access_log
    assert "client=127.0.0.3" in access_log


def body_limit() -> int:
    """nginx's client_max_body_size in the template, in bytes."""
    found = re.search(r"^\s*client_max_body_size (\d+)m;", TEMPLATE.read_text(), flags=re.M)
    assert found, "the template sets client_max_body_size in megabytes"
    return int(found.group(1)) * 1024 * 1024


def test_the_body_limit_takes_three_files_of_the_largest_size_staff_may_upload() -> None:
    largest = int(settings.DSAR["MANUAL_FILE_MAX_BYTES"])
    assert body_limit() >= 3 * largest + 64 * 1024


def test_staff_uploads_of_the_largest_size_pass_the_proxy_and_larger_bodies_do_not(
    stack: Stack,
) -> None:
    largest = int(settings.DSAR["MANUAL_FILE_MAX_BYTES"])
    files = [("found_files", (f"scan-{n}.pdf", b"%PDF-" + b"x" * (largest - 5))) for n in range(3)]
    with stack.client("127.0.0.4") as browser:
        # No CSRF token: Django refuses the form, which shows that nginx passed it on.
        passed = browser.post("/", files=files)
        assert passed.status_code == 403
        refused = browser.post("/", content=b"x" * (body_limit() + 1))
        assert refused.status_code == 413
