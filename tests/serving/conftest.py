import os
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.serving.stack import NGINX, RUNTIME_DIRECTORIES, free_port, port_open, runtime_directory, start_stack


@pytest.fixture(scope="session", autouse=True)
def remove_runtime_directories():
    yield
    for folder in RUNTIME_DIRECTORIES:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def serving_database_url():
    """The stack's own database, beside the suite's test database: `make serve` migrates it; dropped at the end."""
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/devices"))
    if not url.scheme.startswith("postgres"):
        pytest.skip("the serving tests run the stack against PostgreSQL")
    name = f"test_{url.path.lstrip('/')}_serving"
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url._replace(path=f"/{name}").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def stack(serving_database_url):
    """One `make serve` for the tests that only send it requests."""
    stack = start_stack(serving_database_url)
    yield stack
    stack.stop()


@pytest.fixture
def nginx_without_gunicorn():
    """make serve's nginx, rendered by deploy/serve.py, with nothing listening on gunicorn's socket."""
    from deploy import serve

    runtime = runtime_directory()
    sockets = serve.prepare_runtime(runtime)
    port = free_port()
    conf = serve.render_nginx_conf(
        runtime=runtime,
        socket_path=sockets / "gunicorn.sock",
        port=port,
        host="127.0.0.1",
        body_limit=1024 * 1024,
        trusted_proxies=[],
        worker_processes="1",
    )
    (runtime / "nginx.conf").write_text(conf)
    nginx = subprocess.Popen(serve.nginx_command(NGINX, runtime), start_new_session=True)
    deadline = time.monotonic() + 10
    while not port_open(port):
        assert nginx.poll() is None and time.monotonic() < deadline, (runtime / "logs" / "error.log").read_text()
        time.sleep(0.05)
    yield port
    nginx.terminate()
    nginx.wait(timeout=30)
