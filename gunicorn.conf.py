"""gunicorn settings for `gunicorn config.wsgi` (read from the working directory).

Sync workers, one per core: every request is CPU-bound Django work plus short
database round trips (bench/README.md: more workers or threads on 2 cores add
nothing but memory). Set WEB_CONCURRENCY to override.

In production gunicorn sits behind nginx on a unix socket (deploy/: `make serve`,
or the systemd units and the nginx site file): a sync worker is held by a slow
client from its request's first byte to its answer's last, so nginx takes the
clients, keeps their connections alive and answers the limits in each
protocol's format.
"""

import ipaddress
import multiprocessing
import os
import re
import threading
import uuid

from gunicorn.glogging import Logger

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
# A sync worker closes every connection after its answer whatever this says (gunicorn forces
# `Connection: close`); keep-alive with clients is nginx's (deploy/nginx/server.conf).
keepalive = 5
timeout = 30
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None


def _without_query(uri: str) -> str:
    return uri.split("?", 1)[0].split("#", 1)[0]


# Request headers that carry a credential: an API key or token, a session cookie, a licensing session.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-session-id")


class AccessLogWithoutSecrets(Logger):
    """gunicorn's logger, whose access log holds no query string and no credential, whatever its format.

    A MOR client may sign its call in the query string (the seed's own example does); the signature, a SHA1 of
    the parameters and the API secret, can be replayed for ever, and a client may send its password (`p`) or a
    SIP secret (`password`) the same way. So every URI (the request line, the Referer) loses its query string,
    and the atoms of a query string and of the credential headers are left out (a format that names them logs
    `-`).
    """

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        method, protocol = environ.get("REQUEST_METHOD", "-"), environ.get("SERVER_PROTOCOL", "-")
        atoms["r"] = f"{method} {_without_query(environ.get('RAW_URI', ''))} {protocol}"
        atoms["f"] = _without_query(atoms.get("f", "-"))
        secret = {"q", "{raw_uri}e", "{query_string}e", "{http_referer}e", "{referer}i"}
        secret |= {f"{{{name}}}i" for name in CREDENTIAL_HEADERS}
        secret |= {f"{{http_{name.replace('-', '_')}}}e" for name in CREDENTIAL_HEADERS}
        for name in secret:
            atoms.pop(name, None)
        return atoms


logger_class = AccessLogWithoutSecrets
# X-Forwarded-Proto (https or not) is believed only from these: the same proxies the service trusts for
# X-Forwarded-For. A unix-socket peer (nginx) is believed unconditionally by gunicorn.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")

# Above what nginx passes on (deploy/nginx/server.conf: the request line and each header line at most 8 KB, all
# headers at most 32 KB), so that nginx, which has read the whole request and knows its protocol and client, is
# the one that refuses, and gunicorn never refuses a request nginx let through. nginx passes a request line of
# up to 8,190 bytes (gunicorn's largest limit) and a header line of up to 8,190 bytes, to which it adds a space
# after the colon when there was none (8,193 with CRLF); 32 KB of headers are at most 8,192 lines (`a:` and
# CRLF), plus the few nginx sets. (Reached directly, gunicorn reads at most 8,300 x 8,200 bytes, 68 MB, of a
# request's headers.)
limit_request_line = 8190
limit_request_field_size = 8200
limit_request_fields = 8300


# Whether a request came over HTTPS is said by X-Forwarded-Proto alone (nginx sets it, from a trusted proxy's or
# its own scheme). gunicorn's default also believes X-Forwarded-Ssl and X-Forwarded-Protocol, which nginx passes
# on from any client: one of them against nginx's X-Forwarded-Proto was an HTML 400 from gunicorn.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# gunicorn's own refusals of a request it can't read, in the words of nginx's (deploy/nginx/protocol-errors.conf).
REFUSALS = {
    400: "The request is malformed.",
    403: "Forbidden.",
    414: "The request URL is too long.",
    417: "Expectation failed.",
    431: "The request headers are too large.",
    500: "Server error.",
    501: "The request's Transfer-Encoding is not supported.",
}


# A request id the app keeps (django-guid): a UUID, with or without dashes.
REQUEST_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
# The WSGI environ key that says a request came from gunicorn's unix socket, whose only peer is nginx (its
# X-Request-ID is then believed): config.middleware.FROM_NGINX.
FROM_NGINX = "devices.from_nginx"
# The path in a request line or target, absolute-form (http://host/path) or not.
TARGET = re.compile(r"(?:^|\s)(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s]*)?(/[^?\s]*)")


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def _refused_request(req, exc) -> tuple[str, dict]:
    """The path and headers of a request gunicorn refused, as far as it read them."""
    request = req or getattr(exc, "req", None)
    if isinstance(request, str):  # InvalidRequestLine carries the line, or its target
        target = TARGET.search(request)
        return (target.group(1) if target else ""), {}
    path, headers = getattr(request, "path", None) or "", dict(getattr(request, "headers", None) or [])
    # Refused while its headers were read: the request and the headers read so far are in the parser's frames.
    frame = exc.__traceback__
    while frame is not None and not headers:
        local = frame.tb_frame.f_locals
        path = path or getattr(local.get("self"), "path", None) or ""
        if isinstance(local.get("headers"), list):
            headers = dict(pair for pair in local["headers"] if isinstance(pair, tuple) and len(pair) == 2)
        frame = frame.tb_next
    return path, headers


def post_worker_init(worker):
    """Two things gunicorn does its own way, made the service's.

    Over a unix socket gunicorn gives the app no client address (REMOTE_ADDR is empty): take nginx's. The only
    peer of the socket is nginx (deploy/serve.py and the systemd socket unit restrict it), which sets
    X-Forwarded-For to the client it resolved, from TRUSTED_PROXIES' headers when they are in front. The app
    then finds the client's ip from REMOTE_ADDR by its own rule, as it does for a TCP peer.

    A request gunicorn can't read (an invalid header, a byte no URL may hold, a line over its limits: what nginx
    passes on and gunicorn refuses, or anything when gunicorn is reached directly) is answered in its protocol's
    format by the app's own config.views.protocol_error, not with gunicorn's HTML page.
    """
    application = worker.wsgi

    def unix_socket_peer(environ, start_response):
        if not environ.get("REMOTE_ADDR"):
            environ["REMOTE_ADDR"] = _address(environ.get("HTTP_X_FORWARDED_FOR", ""))
            environ[FROM_NGINX] = True
        return application(environ, start_response)

    worker.wsgi = unix_socket_peer

    from gunicorn import util

    try:
        from django.http import HttpRequest

        from config.views import protocol_error
        from devices.client_ip import is_trusted_proxy
    except Exception:  # not this service's app (a benchmark's probe without it): gunicorn's pages stay
        worker.log.warning("Refusals stay gunicorn's HTML: config.views.protocol_error can't be imported")
        return

    refused = threading.local()  # the request being refused, for write_error (one per thread: gthread workers)
    write_html_error = util.write_error

    def write_error(sock, status_int, reason, mesg):
        if getattr(refused, "path", None) is None:
            return write_html_error(sock, status_int, reason, mesg)
        try:
            request = HttpRequest()
            request.path = request.path_info = refused.path
            request.META = {"REMOTE_ADDR": refused.remote}
            answer = protocol_error(request, status_int, REFUSALS.get(status_int, f"{reason}."))
            head = (
                f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}\r\nConnection: close\r\n"
                f"Content-Type: {answer['Content-Type']}\r\nContent-Length: {len(answer.content)}\r\n"
                f"X-Request-ID: {refused.request_id}\r\n\r\n"
            )
            util.write_nonblock(sock, head.encode("latin-1") + answer.content)
        except Exception:  # a refusal must still be answered: gunicorn's own page then
            write_html_error(sock, status_int, reason, mesg)

    util.write_error = write_error  # what Worker.handle_error writes a refusal with
    handle_error = worker.handle_error

    def handle_error_in_protocol_format(req, client, addr, exc):
        try:
            refused.path, headers = _refused_request(req, exc)
        except Exception:  # what was read of it is only for the answer's format
            refused.path, headers = "", {}
        refused.remote = addr[0] if isinstance(addr, tuple) else _address(headers.get("X-FORWARDED-FOR", ""))
        # Every answer carries a request id: nginx's or a trusted proxy's UUID, as the app would keep it, or a new one.
        sent, from_proxy = headers.get("X-REQUEST-ID", ""), not isinstance(addr, tuple) or is_trusted_proxy(addr[0])
        refused.request_id = sent if from_proxy and REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        try:
            handle_error(req, client, addr, exc)
        finally:
            refused.path = None

    worker.handle_error = handle_error_in_protocol_format
