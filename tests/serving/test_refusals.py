"""nginx's own refusals answer in each protocol's format, and gunicorn never refuses what nginx passes on.

The expected answer is the app's own: config.views.protocol_error for the same path, status and text (the
registry envelope's timestamp aside, which is the time of the answer).
"""

import json
import socket
import time

import pytest
from django.test import RequestFactory

from config.views import protocol_error
from tests.serving.stack import PATHS, Answer, exchange, read_answer, request, requires_nginx

pytestmark = requires_nginx

MB = 1024 * 1024
TEXTS = {
    400: "The request is malformed.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    414: "The request URL is too long.",
    431: "The request headers are too large.",
    501: "The request's Transfer-Encoding is not supported.",
    502: "The application server is unavailable.",
    505: "HTTP version not supported.",
}


def assert_protocol_error(answer, path: str, status: int) -> None:
    """`answer` is what the app itself answers for an error of `status` on `path`: never an HTML page."""
    expected = protocol_error(RequestFactory().post(path, REMOTE_ADDR="127.0.0.1"), status, TEXTS[status])
    assert b"<html" not in answer.body.lower()
    assert (answer.status, answer.headers["Content-Type"]) == (expected.status_code, expected["Content-Type"])
    assert len(answer.headers["X-Request-ID"]) == 32
    if expected["Content-Type"].startswith("text/xml"):
        assert answer.body == expected.content  # MOR: HTTP 200 and the very same XML page
        return
    body, wanted = answer.json(), json.loads(expected.content)
    if "timestamp" in wanted:  # the registry envelope
        assert abs(body.pop("timestamp") - time.time()) < 10
        del wanted["timestamp"]
    assert body == wanted


@pytest.mark.parametrize("protocol", PATHS)
def test_a_5_mb_body_is_refused_in_the_protocols_format(stack, protocol):
    path = PATHS[protocol]
    answer = request(stack.port, "POST", path, b"{" + b" " * (5 * MB) + b"}", {"Content-Type": "application/json"})
    assert_protocol_error(answer, path, 413)


@pytest.mark.parametrize("protocol", PATHS)
def test_a_5_mb_chunked_body_is_refused_in_the_protocols_format(stack, protocol):
    # given: no declared length, so nginx counts what arrives
    path = PATHS[protocol]
    chunk = b" " * 65536
    body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 80 + b"0\r\n\r\n"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    # then
    assert_protocol_error(exchange(stack.port, head + body), path, 413)


@pytest.mark.parametrize("protocol", PATHS)
def test_a_20_kb_url_is_refused_in_the_protocols_format(stack, protocol):
    path = PATHS[protocol]
    assert_protocol_error(request(stack.port, "POST", f"{path}?q={'a' * 20_000}"), path, 414)


@pytest.mark.parametrize("protocol", PATHS)
def test_a_40_kb_header_is_refused_in_the_protocols_format(stack, protocol):
    path = PATHS[protocol]
    assert_protocol_error(request(stack.port, "POST", path, headers={"X-Filler": "a" * 40_000}), path, 431)


@pytest.mark.parametrize("protocol", PATHS)
def test_40_kb_of_headers_in_ten_are_refused_in_the_protocols_format(stack, protocol):
    path = PATHS[protocol]
    headers = {f"X-Filler-{i}": "a" * 4000 for i in range(10)}
    assert_protocol_error(request(stack.port, "POST", path, headers=headers), path, 431)


@pytest.mark.parametrize("protocol", PATHS)
@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (400, b"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
        (405, b"TRACE {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        (501, b"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
        (505, b"POST {path} HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n"),
        (400, b"POST {path}\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        (400, b"POST {path} HTTP/1.0\r\n\r\n"),
    ],
    ids=[
        "duplicate Content-Length",
        "TRACE",
        "unknown Transfer-Encoding",
        "HTTP/2.0 request line",
        "a URL byte outside ASCII",
        "no Host",
    ],
)
def test_every_other_request_nginx_refuses_is_answered_in_the_protocols_format(stack, protocol, status, raw):
    path = PATHS[protocol]
    assert_protocol_error(exchange(stack.port, raw.replace(b"{path}", path.encode())), path, status)


def test_nginx_s_internal_error_locations_are_not_reachable_from_outside(stack):
    answer = request(stack.port, "GET", "/_proxy_error/502")
    assert (answer.status, answer.json()) == (404, {"message": "Not found."})
    answer = request(stack.port, "GET", "/api/v2/device/../../_proxy_error/413")
    assert_protocol_error(answer, "/api/v2/device", 404)


@pytest.mark.parametrize("protocol", PATHS)
@pytest.mark.parametrize(
    "headers",
    [
        b"User-Agent: a\x1bb\r\n",  # a control character, which nginx passes on and gunicorn refuses
        b"Content-Type: application/json\r\nContent-Type: text/plain\r\n",  # ambiguous, gunicorn refuses it
    ],
    ids=["control character in a header", "two Content-Types"],
)
def test_what_gunicorn_refuses_of_what_nginx_passes_is_answered_in_the_protocols_format(stack, protocol, headers):
    path = PATHS[protocol]
    raw = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n".encode() + headers + b"\r\n{}"
    assert_protocol_error(exchange(stack.port, raw), path, 400)


def test_gunicorn_reached_directly_refuses_in_the_protocols_format_not_html(stack):
    def to_gunicorn(raw: bytes) -> Answer:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(stack.socket_path))
            sock.sendall(raw)
            return read_answer(sock)

    # a URL over gunicorn's limit: refused before any path was read, so in the generic format
    answer = to_gunicorn(b"GET /billing/api/device_create?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (answer.status, answer.headers["Content-Type"]) == (414, "application/json")
    assert answer.json() == {"message": "The request URL is too long."}
    # an invalid header: the path was read, so in its protocol's format (MOR: HTTP 200 and XML)
    answer = to_gunicorn(b"POST /billing/api/device_create HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: \x7f\r\n\r\n")
    assert_protocol_error(answer, "/billing/api/device_create", 400)


@pytest.mark.parametrize("protocol", PATHS)
def test_gunicorn_down_is_a_502_in_the_protocols_format(nginx_without_gunicorn, protocol):
    path = PATHS[protocol]
    answer = request(nginx_without_gunicorn, "POST", path, b"{}", {"Content-Type": "application/json"})
    assert_protocol_error(answer, path, 502)


# -- what nginx lets through, gunicorn takes (its refusals would be HTML) ----------------------------------------


def test_the_longest_request_line_nginx_passes_is_answered_by_the_app(stack):
    # given: a request line of 8,190 bytes, nginx's largest (one more is a 414)
    target = "/api/base/configs?q="
    line = f"GET {target} HTTP/1.1"
    target += "a" * (8190 - len(line))
    # when
    answer = exchange(stack.port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    longer = exchange(stack.port, f"GET {target}a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    # then
    assert (answer.status, answer.json()["data"]) == (200, {"device_management": 1})
    assert_protocol_error(longer, "/api/base/configs", 414)


def test_the_longest_header_nginx_passes_is_answered_by_the_app(stack):
    # given: a header line of 8,190 bytes with no space after the colon, which nginx adds when it passes it on
    header = b"X-Filler:" + b"a" * (8190 - 9)
    # when
    answer = exchange(stack.port, b"GET /api/base/configs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"\r\n\r\n")
    longer = exchange(stack.port, b"GET /api/base/configs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + b"a\r\n\r\n")
    # then
    assert (answer.status, answer.json()["data"]) == (200, {"device_management": 1})
    assert_protocol_error(longer, "/api/base/configs", 431)


def test_as_many_headers_as_nginx_passes_are_answered_by_the_app(stack):
    # 900 headers: gunicorn's default limit is 100; Debian's nginx passes up to 1,000 lines in 32 KB
    headers = b"".join(b"X-Filler-%d: a\r\n" % i for i in range(900))
    answer = exchange(stack.port, b"GET /api/base/configs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    assert (answer.status, answer.json()["data"]) == (200, {"device_management": 1})
