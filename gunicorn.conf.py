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

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
# A sync worker closes every connection after its answer whatever this says (gunicorn forces
# `Connection: close`); keep-alive with clients is nginx's (deploy/nginx/server.conf).
keepalive = 5
timeout = 30
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# X-Forwarded-Proto (https or not) is believed only from these: the same proxies the service trusts for
# X-Forwarded-For. A unix-socket peer (nginx) is believed unconditionally by gunicorn.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "127.0.0.1")

# Above what nginx passes on (deploy/nginx/server.conf: the request line and each header line at most 8 KB, all
# headers at most 32 KB), so that gunicorn, whose refusals are HTML pages, never refuses a request nginx let
# through, and every limit a client meets is answered in its protocol's format. nginx passes a request line of
# up to 8,190 bytes (gunicorn's largest limit) and a header line of up to 8,190 bytes, to which it adds a space
# after the colon when there was none (8,193 with CRLF); 32 KB of headers are at most 8,192 lines (`a:` and
# CRLF), plus the few nginx sets. (Reached directly, gunicorn reads at most 8,300 x 8,200 bytes, 68 MB, of a
# request's headers.)
limit_request_line = 8190
limit_request_field_size = 8200
limit_request_fields = 8300


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def post_worker_init(worker):
    """Over a unix socket gunicorn gives the app no client address (REMOTE_ADDR is empty): take nginx's.

    The only peer of the socket is nginx (deploy/serve.py and the systemd socket unit restrict it), which sets
    X-Forwarded-For to the client it resolved, from TRUSTED_PROXIES' headers when they are in front. The app
    then finds the client's ip from REMOTE_ADDR by its own rule, as it does for a TCP peer.
    """
    application = worker.wsgi

    def unix_socket_peer(environ, start_response):
        if not environ.get("REMOTE_ADDR"):
            environ["REMOTE_ADDR"] = _address(environ.get("HTTP_X_FORWARDED_FOR", ""))
        return application(environ, start_response)

    worker.wsgi = unix_socket_peer
