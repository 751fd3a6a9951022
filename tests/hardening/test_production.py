"""The production configuration: refuses to start without its secrets and passes `check --deploy`."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_python(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Python with the production settings and only `env` of the project's own variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "MOR_"))}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return production_python(str(ROOT / "manage.py"), *args, **env)


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/devices",
    "DJANGO_ALLOWED_HOSTS": "devices.example.com",
    "MOR_API_SECRET_KEY": secrets.token_urlsafe(24),
}


def test_check_deploy_passes_with_the_production_settings():
    done = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DATABASE_URL"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    done = manage("check", **env)
    assert done.returncode != 0
    assert f"Set {missing}" in done.stderr


def test_an_unset_mor_secret_is_a_deploy_warning():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "MOR_API_SECRET_KEY"}
    done = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert done.returncode != 0
    assert "mor_api.W001" in done.stderr + done.stdout


def test_production_sends_security_headers(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    assert client.get("/api/base/configs").status_code == 301  # to https
    assert client.get("/healthz").status_code == 200  # probes stay on plain http behind the balancer
    secure = client.post("/api/v1/billing/devices/check", secure=True)  # a 401, with the headers of every answer
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert secure["X-Content-Type-Options"] == "nosniff"
    assert secure["X-Frame-Options"] == "DENY"
