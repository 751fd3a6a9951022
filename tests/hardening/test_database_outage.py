"""The service under gunicorn loses its database and gets it back.

A throwaway PostgreSQL cluster on its own port (made with initdb in a
temporary folder) is the service's database. While it is stopped, every
protocol answers a clean error in its own format (never a 500 page), the
liveness probe stays up and the readiness probe says 503; once it is back, the
service serves normally within seconds, and nothing was half written.
"""

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import psycopg
import pytest

from tests.conftest import REGISTRY_BODY

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(*command: str) -> list[str]:
    # initdb and postgres refuse to run as root: the machine's postgres user runs them then.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class Cluster:
    def __init__(self, folder: Path, port: int):
        self.folder, self.port, self.bin = folder, port, Path(PG_BIN[-1])
        self.data = folder / "data"

    def run(self, *command: str) -> None:
        subprocess.run(as_postgres(*command), check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )

    def stop(self) -> None:
        # "immediate": as if the server crashed, connections cut mid-flight.
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/outage"


@pytest.fixture
def cluster():
    # Not under pytest's own temporary folder: the postgres user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="device-activation-outage-"))
    cluster = Cluster(folder, free_port())
    cluster.init()
    cluster.start()
    with psycopg.connect(f"postgres://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE outage")
    yield cluster
    subprocess.run(
        as_postgres(str(cluster.bin / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "stop"),
        capture_output=True,
        check=False,
    )


@pytest.fixture
def service(cluster):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))},
        "DATABASE_URL": cluster.url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "CRITICAL",
        "MOR_API_SECRET_KEY": "secret",
        "THROTTLE_PUBLIC_RATE": "",
        "GUNICORN_ACCESS_LOG": "",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: call(base, "GET", "/healthz")[0] == 200, seconds=30)
    yield base
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    headers: dict | None = None,
) -> tuple[int, str, bytes]:
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        base + path, data=body, method=method, headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own server on loopback
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()
    except OSError as error:
        return 0, "", repr(error).encode()


def wait_for(condition, *, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


def register(base: str, mac: str):
    body = json.dumps({**REGISTRY_BODY, "mac_address": mac}).encode()
    return call(base, "POST", "/api/v2/device", body)


@pytest.mark.skipif(not PG_BIN or not shutil.which("runuser"), reason="needs PostgreSQL's server binaries")
def test_a_database_outage_gives_clean_errors_then_the_service_recovers(cluster, service):
    # given: the service works
    assert register(service, "A1B2C3D4E5F6")[0] == 200
    # when: the database goes away
    cluster.stop()
    # then: clean errors in each protocol's format, no 500, no HTML
    status, content_type, body = register(service, "A1B2C3D4E5F7")
    assert (status, content_type) == (503, "application/json")
    assert json.loads(body)["message"] == "Service temporarily unavailable."
    status, content_type, body = call(
        service,
        "POST",
        "/api/v2/device/license/validate",
        headers={"X-Session-Id": "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80"},
    )
    assert (status, json.loads(body)["reason"]) == (503, "Service temporarily unavailable.")
    status, content_type, body = call(
        service, "POST", "/billing/api/device_create", b"u=admin&user_id=1&hash=x", "application/x-www-form-urlencoded"
    )
    assert status == 200 and ElementTree.fromstring(body).findtext("error")
    status, _, body = call(
        service, "POST", "/api/v1/billing/devices/check", b"{}", headers={"Authorization": "Bearer 0123abcd.secret"}
    )
    assert status == 503 and json.loads(body) == {"message": "Service temporarily unavailable."}
    assert call(service, "GET", "/readyz")[0] == 503
    assert call(service, "GET", "/healthz")[0] == 200
    # when: it comes back
    cluster.start()
    # then: the service serves normally within seconds
    took = wait_for(lambda: register(service, "A1B2C3D4E5F7")[0] == 200, seconds=10)
    assert took < 10
    assert call(service, "GET", "/readyz")[0] == 200
    # and nothing was half written: each device whole, with its client app and one registration event
    with psycopg.connect(cluster.url) as conn:
        rows = conn.execute(
            """
            SELECT d.mac, (SELECT count(*) FROM devices_clientappinfo c WHERE c.device_id = d.id),
                   (SELECT count(*) FROM devices_deviceevent e WHERE e.device_id = d.id AND e.action = 'registered')
            FROM devices_device d ORDER BY d.mac
            """
        ).fetchall()
    assert rows == [("A1B2C3D4E5F6", 1, 1), ("A1B2C3D4E5F7", 1, 1)]
