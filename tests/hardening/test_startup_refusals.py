"""Settings that can't work are refused at start-up, with a message that says what to set."""

import os
import subprocess
import sys

import pytest

from tests.hardening.test_production import PRODUCTION_ENV, ROOT


def python(settings_module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Python with these settings and only `env` of the project's own variables."""
    project = ("DJANGO_", "DATABASE_URL", "MOR_", "TRUSTED_PROXIES", "LICENSING_", "THROTTLE_", "REDIS_URL")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(project)}
    environment.update(DJANGO_SETTINGS_MODULE=settings_module, **env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


# make run (manage.py on the development settings and SQLite), gunicorn (config.wsgi on the production settings).
STARTS = {
    "make run": lambda **env: python("config.settings.local", "manage.py", "check", **env),
    "gunicorn": lambda **env: python("config.settings.production", "-c", "import config.wsgi", **PRODUCTION_ENV | env),
    "check --deploy": lambda **env: python(
        "config.settings.production",
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION_ENV | env,
    ),
}


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("proxies", ["*", "10.0.0.1,*", "0.0.0.0/0", "::/0", "10.0.0.300", "proxy.example.com"])
def test_trusted_proxies_that_are_no_proxys_address_are_refused(start, proxies):
    done = STARTS[start](TRUSTED_PROXIES=proxies)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("django.core.exceptions.ImproperlyConfigured: TRUSTED_PROXIES: ")
    assert "List the ip addresses or networks of the proxies in front of the service" in message


@pytest.mark.parametrize("start", STARTS)
def test_trusted_proxies_as_addresses_and_networks_start(start):
    done = STARTS[start](TRUSTED_PROXIES="10.0.0.1, 10.0.2.0/24,::1,")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("start", ["gunicorn", "check --deploy"])
@pytest.mark.parametrize(
    "secrets",
    [{"LICENSING_JWT_SECRET": "x"}, {"LICENSING_JWT_SECRET": "a" * 31}, {"DJANGO_SECRET_KEY": "short-but-set"}],
    ids=["one letter", "31 characters", "a short DJANGO_SECRET_KEY in its place"],
)
def test_production_refuses_a_short_licensing_jwt_secret(start, secrets):
    done = STARTS[start](**secrets)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("django.core.exceptions.ImproperlyConfigured: LICENSING_JWT_SECRET")
    assert "at least 32 characters" in message


def test_production_takes_a_licensing_jwt_secret_of_32_characters():
    assert STARTS["check --deploy"](LICENSING_JWT_SECRET="b" * 32).returncode == 0


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("entries", ["*", "192.0.2.10,example.com", "192.0.2.0/33"])
def test_mor_allowed_ips_that_are_no_address_or_network_are_refused(start, entries):
    done = STARTS[start](MOR_API_ALLOWED_IPS=entries)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("django.core.exceptions.ImproperlyConfigured: MOR_API_ALLOWED_IPS: ")
    assert "neither an IP address nor a network" in message


def test_mor_allowed_ips_as_addresses_and_networks_start():
    assert STARTS["gunicorn"](MOR_API_ALLOWED_IPS="192.0.2.10, 198.51.100.0/24,2001:db8::1,").returncode == 0
