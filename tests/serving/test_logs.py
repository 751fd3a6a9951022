"""No log holds a MOR signature, a password or a credential: gunicorn's access log and nginx's."""

import runpy
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from tests.serving.stack import ROOT, request, requires_nginx, start_stack

CONF = runpy.run_path(str(Path(ROOT) / "gunicorn.conf.py"))
# The seed's own request, signed in its query string, with an older client's password and a SIP secret.
SIGNATURE = "6e79d4a82f68102f43be11d873177f47817f84df"
QUERY = f"u=admin&user_id=2&description=desription1&pin=3&hash={SIGNATURE}&p=hunter2-password&password=s1p-s3cr3t"
SECRETS = (SIGNATURE, "hunter2-password", "s1p-s3cr3t", "Bearer abc.def", "sessionid=xyz", "3f0f7a4e-6c1e")


def access_line(log_format: str | None = None, **environ) -> str:
    """What gunicorn's access log writes for a MOR call signed in its query string."""
    config = Config()
    config.set("accesslog", "-")
    if log_format is not None:
        config.set("access_log_format", log_format)
    logger = CONF["logger_class"](config)
    lines = []
    logger.access_log.handlers[0].emit = lambda record: lines.append(record.getMessage())
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/billing/api/device_create?{QUERY}",
        "PATH_INFO": "/billing/api/device_create",
        "QUERY_STRING": QUERY,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_REFERER": f"https://crm.example/device?{QUERY}",
        "HTTP_AUTHORIZATION": "Bearer abc.def",
        "HTTP_COOKIE": "sessionid=xyz",
        "HTTP_X_SESSION_ID": "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80",
        **environ,
    }
    headers = [(name[5:].replace("_", "-"), value) for name, value in environ.items() if name.startswith("HTTP_")]
    response = SimpleNamespace(status="200 OK", headers=[("Content-Type", "text/xml")], sent=120)
    logger.access(response, SimpleNamespace(headers=headers), environ, timedelta(milliseconds=3))
    return lines[0]


def test_gunicorn_s_access_log_keeps_the_path_and_leaves_out_query_strings():
    line = access_line()
    assert '"POST /billing/api/device_create HTTP/1.1" 200 120 "https://crm.example/device"' in line
    assert "192.0.2.7" in line
    assert not [secret for secret in SECRETS if secret in line]


def test_gunicorn_s_access_log_leaves_out_secrets_whatever_format_an_operator_sets():
    log_format = (
        "%(r)s %(U)s?%(q)s %(f)s %({authorization}i)s %({cookie}i)s %({x-session-id}i)s %({referer}i)s "
        "%({raw_uri}e)s %({query_string}e)s %({http_authorization}e)s %({http_cookie}e)s %({http_referer}e)s "
        "%({http_x_session_id}e)s"
    )
    line = access_line(log_format)
    assert line.startswith("POST /billing/api/device_create HTTP/1.1 /billing/api/device_create?- ")
    assert not [secret for secret in SECRETS if secret in line]


@requires_nginx
def test_neither_nginx_s_nor_gunicorn_s_access_log_holds_a_signed_query_string(serving_database_url):
    # given: the stack as production runs it, gunicorn's access log on (to make serve's output)
    stack = start_stack(serving_database_url, GUNICORN_ACCESS_LOG="-")
    try:
        # when: a MOR call signed in its query string, as the seed's example sends it, and a GET of one
        posted = request(stack.port, "POST", f"/billing/api/device_create?{QUERY}", b"", {"Referer": f"/x?{QUERY}"})
        got = request(stack.port, "GET", f"/billing/api/devices_get?{QUERY}")
        assert posted.status == got.status == 200
        time.sleep(1.5)  # nginx flushes its buffered access log every second
    finally:
        stack.stop()
    # then: both logs have the calls, none their parameters
    gunicorn_log = stack.output()
    nginx_log = (stack.runtime / "logs" / "access.log").read_text()
    for log in (gunicorn_log, nginx_log):
        assert '"POST /billing/api/device_create HTTP/1.' in log
        assert '"GET /billing/api/devices_get HTTP/1.' in log
        assert not [secret for secret in SECRETS if secret in log], log
    assert pytest.approx(len(nginx_log.splitlines()), abs=1) == 2
